import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { ManifestError, MediaTypes, parseManifest } from "../../../lib/image/mod.ts";
import { sha256 } from "../../../lib/util/digest.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const D = `sha256:${"a".repeat(64)}`;

Deno.test("parseManifest() computes the digest over the exact bytes", () => {
  const text =
    `{ "schemaVersion": 2,\n "mediaType": "${MediaTypes.OCI_MANIFEST}", "config": {"mediaType": "${MediaTypes.OCI_CONFIG}", "digest": "${D}", "size": 2}, "layers": [] }`;
  const p = parseManifest(enc(text));
  assertEquals(p.kind, "image");
  assertEquals(p.digest, sha256(text));
});

Deno.test("parseManifest() accepts a manifest without mediaType (umoci)", () => {
  const p = parseManifest(
    enc(`{"schemaVersion":2,"config":{"mediaType":"${MediaTypes.OCI_CONFIG}","digest":"${D}","size":2},"layers":[]}`),
  );
  assertEquals(p.mediaType, MediaTypes.OCI_MANIFEST);
  const q = parseManifest(enc(`{"schemaVersion":2,"manifests":[]}`), { mediaType: MediaTypes.DOCKER_MANIFEST_LIST });
  assertEquals(q.kind, "index");
  assertEquals(q.mediaType, MediaTypes.DOCKER_MANIFEST_LIST);
});

Deno.test("parseManifest() refuses Docker schema1 clearly", () => {
  const e = assertThrows(
    () => parseManifest(enc(`{"schemaVersion":1,"name":"x","fsLayers":[]}`), { source: "docker.io/library/old:1" }),
    ManifestError,
  );
  assert(/schema1/.test(e.message) && e.message.includes("docker.io/library/old:1"), e.message);
});

Deno.test("parseManifest() rejects a mediaType that differs from the Content-Type", () => {
  assertThrows(
    () =>
      parseManifest(enc(`{"schemaVersion":2,"mediaType":"${MediaTypes.OCI_INDEX}","manifests":[]}`), {
        mediaType: MediaTypes.OCI_MANIFEST,
      }),
    ManifestError,
    "differs",
  );
});

Deno.test("parseManifest() rejects bad descriptors", () => {
  assertThrows(
    () =>
      parseManifest(enc(`{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:XYZ","size":1},"layers":[]}`)),
    ManifestError,
    "digest",
  );
});
