import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import {
  appendLayers,
  emptyImage,
  layoutImage,
  layoutIndex,
  REF_NAME_ANNOTATION,
  streamLayer,
  withConfig,
  writeLayout,
} from "../../../lib/image/mod.ts";
import { randomLayer, run, tarBytes, tempDir } from "./_helpers.ts";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

Deno.test("writeLayout() stores several images and tags; layoutImage() reads them back", async () => {
  using t = tempDir();
  const a = appendLayers(emptyImage(), [randomLayer(3000)]);
  const b = appendLayers(a, [randomLayer(5000)]);
  await writeLayout(t.dir, a, { tags: ["a", "latest"] });
  await writeLayout(t.dir, b, { tags: ["b", "latest"] });
  const idx = await (await layoutIndex(t.dir)).manifest();
  const names = idx.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]);
  assertEquals(names.filter((n) => n === "latest").length, 1);
  const latest = await layoutImage(t.dir, { tag: "latest" });
  assertEquals(await latest.digest(), await b.digest());
  assertEquals(await (await layoutImage(t.dir, { tag: "a" })).digest(), await a.digest());
  const l = (await latest.layers())[1]!;
  assertEquals(await l.diffId(), await (await b.layers())[1]!.diffId());
  assert(!readdirSync(join(t.dir, "blobs/sha256")).some((f) => f.startsWith(".tmp")));
});

Deno.test("writeLayout() writes stream layers and verifies blobs on read", async () => {
  using t = tempDir();
  const sl = streamLayer(new Blob([tarBytes({ x: "1" }) as Uint8Array<ArrayBuffer>]).stream());
  const img = appendLayers(emptyImage(), [sl]);
  const desc = await writeLayout(t.dir, img, { tags: ["s"] });
  assertEquals(desc.digest, await img.digest());
  // corrupt the layer blob: reading must fail
  const lp = join(t.dir, "blobs/sha256", (await sl.digest()).slice(7));
  writeFileSync(lp, "garbage");
  const back = await layoutImage(t.dir, { tag: "s" });
  await assertRejects(async () => {
    await new Response(await (await back.layers())[0]!.compressed()).arrayBuffer();
  });
});

Deno.test({
  name: "writeLayout() output is read by skopeo and umoci",
  ignore: skipUnless("layout interop", "skopeo", "umoci", "root"),
}, async () => {
  using t = tempDir();
  const img = withConfig(appendLayers(emptyImage(), [randomLayer(10000, "hello")]), (c) => ({
    ...c,
    config: { Cmd: ["/hello"] },
  }));
  const dir = join(t.dir, "layout");
  await writeLayout(dir, img, { tags: ["v1"] });
  const info = JSON.parse(run("skopeo", ["inspect", `oci:${dir}:v1`]));
  assertEquals(info.Digest, await img.digest());
  run("skopeo", ["copy", "-q", `oci:${dir}:v1`, `oci:${join(t.dir, "copy")}:v1`]);
  run("umoci", ["unpack", "--image", `${dir}:v1`, join(t.dir, "bundle")]);
  assertEquals(readFileSync(join(t.dir, "bundle/rootfs/hello")).byteLength, 10000);
  // and a layout written by umoci is read by us (manifests without mediaType)
  const u = join(t.dir, "umoci");
  run("umoci", ["init", "--layout", u]);
  run("umoci", ["new", "--image", `${u}:base`]);
  const back = await layoutImage(u, { tag: "base" });
  assertEquals((await back.manifest()).layers.length, 0);
  assertEquals((await back.config()).os, "linux");
});
