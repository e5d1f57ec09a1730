import { writeFileSync } from "node:fs";
import { readFileStream } from "../../../lib/util/mod.ts";
import { assertEquals, assertRejects } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";

Deno.test("readFileStream() reads ranges in chunks, only as far as pulled, and reports errors as stream errors", async () => {
  const dir = tempDir("kiln-fstream-");
  const data = new Uint8Array(300_000).map((_, i) => i % 251);
  writeFileSync(`${dir}/f`, data);
  const all = new Uint8Array(await new Response(readFileStream(`${dir}/f`)).arrayBuffer());
  assertEquals(all, data);
  const part = new Uint8Array(
    await new Response(readFileStream(`${dir}/f`, { start: 1000, end: 200_000 })).arrayBuffer(),
  );
  assertEquals(part, data.subarray(1000, 200_000));
  assertEquals((await new Response(readFileStream(`${dir}/f`, { start: 5, end: 5 })).arrayBuffer()).byteLength, 0);
  // One chunk per pull: after one read the stream has not read ahead (64 KiB chunks by default).
  const s = readFileStream(`${dir}/f`);
  const r = s.getReader();
  assertEquals((await r.read()).value?.byteLength, 64 * 1024);
  await r.cancel();
  const sizes: number[] = [];
  for await (const c of readFileStream(`${dir}/f`, { chunkSize: 100_000 })) sizes.push(c.byteLength);
  assertEquals(sizes, [100_000, 100_000, 100_000]);
  const e = await assertRejects(() => new Response(readFileStream(`${dir}/missing`)).arrayBuffer());
  assertEquals((e as { code?: string }).code, "ENOENT");
});
