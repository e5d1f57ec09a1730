import { assert, assertEquals, assertRejects } from "../../assert.ts";
import {
  appendLayers,
  emptyImage,
  MediaTypes,
  NotComputedError,
  parsePlatform,
  selectPlatform,
  streamLayer,
  withAnnotations,
  withConfig,
  withCreated,
  withFormat,
} from "../../../lib/image/mod.ts";
import { sha256 } from "../../../lib/util/digest.ts";
import { randomLayer, tarBytes } from "./_helpers.ts";

Deno.test("appendLayers() adds layers, diff_ids and history lazily", async () => {
  const l1 = randomLayer(1000);
  const l2 = randomLayer(2000);
  const img = appendLayers(emptyImage(), [{ layer: l1, history: { created_by: "RUN a" } }, l2]);
  const m = await img.manifest();
  assertEquals(m.layers.length, 2);
  assertEquals(m.layers[0]!.digest, await l1.digest());
  const c = await img.config();
  assertEquals(c.rootfs.diff_ids, [await l1.diffId(), await l2.diffId()]);
  assertEquals(c.history?.map((h) => h.created_by), ["RUN a", "kiln"]);
  assertEquals(m.config.digest, sha256(await img.rawConfig()));
  assertEquals(await img.digest(), sha256(await img.rawManifest()));
});

Deno.test("withConfig(), withCreated(), withAnnotations() return new images", async () => {
  const base = appendLayers(emptyImage(), [randomLayer()]);
  const a = withConfig(base, (c) => ({ ...c, config: { Env: ["A=1"] } }));
  const b = withCreated(a, new Date(0));
  const c = withAnnotations(b, { "org.example": "1" });
  assertEquals((await a.config()).config?.Env, ["A=1"]);
  assertEquals((await base.config()).config, {});
  assertEquals((await b.config()).created, "1970-01-01T00:00:00Z");
  assertEquals((await c.manifest()).annotations, { "org.example": "1" });
  assertEquals((await c.manifest()).layers, (await base.manifest()).layers);
  assert((await c.digest()) !== (await base.digest()));
});

Deno.test("withFormat() converts to Docker media types", async () => {
  const img = withFormat(appendLayers(emptyImage(), [randomLayer()]), "docker");
  const m = await img.manifest();
  assertEquals(m.mediaType, MediaTypes.DOCKER_MANIFEST);
  assertEquals(m.config.mediaType, MediaTypes.DOCKER_CONFIG);
  assertEquals(m.layers[0]!.mediaType, MediaTypes.DOCKER_LAYER);
});

Deno.test("streamLayer() knows its digest only after being consumed, once", async () => {
  const tar = tarBytes({ a: "hello" });
  const l = streamLayer(new Blob([tar as Uint8Array<ArrayBuffer>]).stream());
  await assertRejects(() => l.digest(), NotComputedError);
  const bytes = new Uint8Array(await new Response(await l.compressed()).arrayBuffer());
  assertEquals(await l.digest(), sha256(bytes));
  assertEquals(await l.size(), bytes.byteLength);
  assertEquals(await l.diffId(), sha256(tar));
  await assertRejects(() => l.compressed());
});

Deno.test("uncompressedLayer() round-trips through gzip", async () => {
  const l = randomLayer(5000);
  const un = new Uint8Array(await new Response(await l.uncompressed()).arrayBuffer());
  assertEquals(await l.diffId(), sha256(un));
  const comp = new Uint8Array(await new Response(await l.compressed()).arrayBuffer());
  assertEquals(await l.digest(), sha256(comp));
});

Deno.test("selectPlatform() picks the matching entry and lists what exists", () => {
  const d = (os: string, architecture: string, variant?: string) => ({
    mediaType: MediaTypes.OCI_MANIFEST,
    digest: sha256(os + architecture + (variant ?? "")),
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  });
  const idx = {
    schemaVersion: 2 as const,
    manifests: [d("linux", "amd64"), d("linux", "arm64", "v8"), d("linux", "arm", "v6")],
  };
  assertEquals(selectPlatform(idx, parsePlatform("linux/arm64")).platform?.architecture, "arm64");
  assertEquals(selectPlatform(idx, parsePlatform("linux/arm/v6")).platform?.variant, "v6");
  let msg = "";
  try {
    selectPlatform(idx, parsePlatform("linux/s390x"));
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("linux/amd64") && msg.includes("linux/s390x"), msg);
});
