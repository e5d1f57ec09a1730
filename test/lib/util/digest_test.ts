import { assertEquals, assertThrows } from "../../assert.ts";
import { HashingStream, parseDigest, sha256 } from "../../../lib/util/digest.ts";

Deno.test("sha256() of empty input", () => {
  assertEquals(sha256(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

Deno.test("HashingStream reports digest and size", async () => {
  const h = new HashingStream();
  await new Blob(["hello"]).stream().pipeThrough(h).pipeTo(new WritableStream());
  const s = await h.summary;
  assertEquals(s.size, 5);
  assertEquals(s.digest, sha256("hello"));
});

Deno.test("parseDigest() rejects malformed digests", () => {
  assertThrows(() => parseDigest("sha256:abc"), SyntaxError);
});
