import { assert, assertEquals } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { startRegistry } from "../../fixtures/registry.ts";
import { appendLayers, emptyImage, MediaTypes, withConfig, writeLayout } from "../../../lib/image/mod.ts";
import { pushImage, remoteImage, remoteIndex } from "../../../lib/registry/mod.ts";
import { randomLayer, run, tempDir } from "../image/_helpers.ts";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kiln } from "./_cli.ts";

const ignore = skipUnless("skopeo interop", "docker-registry", "skopeo", "umoci");

Deno.test({ name: "images we push are read by skopeo inspect and skopeo copy", ignore }, async () => {
  using t = tempDir();
  const reg = await startRegistry();
  try {
    const img = withConfig(appendLayers(emptyImage(), [randomLayer(100_000, "a"), randomLayer(10, "b")]), (c) => ({
      ...c,
      config: { Env: ["A=1"] },
    }));
    await pushImage([`${reg.host}/ours/app:v1`], img, { insecureRegistries: [reg.host] });
    const info = JSON.parse(run("skopeo", ["inspect", "--tls-verify=false", `docker://${reg.host}/ours/app:v1`]));
    assertEquals(info.Digest, await img.digest());
    assertEquals(info.Env, ["A=1"]);
    run("skopeo", ["copy", "-q", "--src-tls-verify=false", `docker://${reg.host}/ours/app:v1`, `oci:${t.dir}/o:v1`]);
    run("umoci", ["stat", "--image", `${t.dir}/o:v1`]);
  } finally {
    await reg.stop();
  }
});

Deno.test({ name: "a multi-arch index pushed by skopeo is pulled by us, per platform and whole", ignore }, async () => {
  using t = tempDir();
  const reg = await startRegistry();
  try {
    const L = join(t.dir, "L");
    run("umoci", ["init", "--layout", L]);
    for (const arch of ["amd64", "arm64"]) {
      run("umoci", ["new", "--image", `${L}:${arch}`]);
      writeFileSync(join(t.dir, `f-${arch}`), `hello ${arch}\n`);
      run("umoci", ["insert", "--image", `${L}:${arch}`, join(t.dir, `f-${arch}`), `/hello-${arch}`]);
      run("umoci", ["config", "--image", `${L}:${arch}`, "--architecture", arch, "--os", "linux"]);
    }
    const idxJson = JSON.parse(readFileSync(join(L, "index.json"), "utf8"));
    const children = ["amd64", "arm64"].map((arch) => {
      const d = idxJson.manifests.find((m: { annotations?: Record<string, string> }) =>
        m.annotations?.["org.opencontainers.image.ref.name"] === arch
      );
      return {
        mediaType: MediaTypes.OCI_MANIFEST,
        digest: d.digest,
        size: d.size,
        platform: { architecture: arch, os: "linux", ...(arch === "arm64" ? { variant: "v8" } : {}) },
      };
    });
    const index = JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.OCI_INDEX, manifests: children });
    const hex = createHash("sha256").update(index).digest("hex");
    writeFileSync(join(L, "blobs/sha256", hex), index);
    idxJson.manifests.push({
      mediaType: MediaTypes.OCI_INDEX,
      digest: `sha256:${hex}`,
      size: index.length,
      annotations: { "org.opencontainers.image.ref.name": "multi" },
    });
    writeFileSync(join(L, "index.json"), JSON.stringify(idxJson));
    run("skopeo", [
      "copy",
      "-q",
      "--all",
      "--dest-tls-verify=false",
      `oci:${L}:multi`,
      `docker://${reg.host}/sk/multi:1`,
    ]);
    const opts = { insecureRegistries: [reg.host] };
    const idx = await remoteIndex(`${reg.host}/sk/multi:1`, opts);
    assertEquals((await idx.manifest()).manifests.length, 2);
    const arm = await remoteImage(`${reg.host}/sk/multi:1`, {
      ...opts,
      platform: { os: "linux", architecture: "arm64" },
    });
    assertEquals((await arm.config()).architecture, "arm64");
    const layers = await arm.layers();
    const tar = new Uint8Array(await new Response(await layers[0]!.uncompressed()).arrayBuffer());
    assert(new TextDecoder().decode(tar).includes("hello arm64"));
    // the whole index through the CLI into a layout that skopeo and umoci read
    const out = join(t.dir, "out");
    const r = await kiln(["copy", "--insecure-registry", reg.host, `docker://${reg.host}/sk/multi:1`, `oci:${out}:m`]);
    assertEquals(r.code, 0, r.err);
    assertEquals(r.out.trim(), await idx.digest());
    const raw = run("skopeo", ["inspect", "--raw", `oci:${out}:m`]);
    assertEquals(raw, new TextDecoder().decode(await idx.rawManifest()));
    run("skopeo", ["copy", "-q", "--all", `oci:${out}:m`, `oci:${join(t.dir, "again")}:m`]);
    // and one platform into a layout that umoci unpacks
    const one = join(t.dir, "one");
    const r2 = await kiln([
      "copy",
      "--insecure-registry",
      reg.host,
      "--custom-platform",
      "linux/amd64",
      `docker://${reg.host}/sk/multi:1`,
      `oci:${one}:amd`,
    ]);
    assertEquals(r2.code, 0, r2.err);
    run("umoci", ["unpack", "--image", `${one}:amd`, join(t.dir, "bundle")]);
    assertEquals(readFileSync(join(t.dir, "bundle/rootfs/hello-amd64"), "utf8"), "hello amd64\n");
  } finally {
    await reg.stop();
  }
});

Deno.test({ name: "writeLayout() of a pulled image keeps the manifest digest", ignore }, async () => {
  using t = tempDir();
  const reg = await startRegistry();
  try {
    const img = appendLayers(emptyImage({ format: "docker" }), [randomLayer(1000)]);
    await pushImage([`${reg.host}/k:1`], img, { insecureRegistries: [reg.host] });
    const back = await remoteImage(`${reg.host}/k:1`, { insecureRegistries: [reg.host] });
    const d = await writeLayout(join(t.dir, "l"), back, { tags: ["1"] });
    assertEquals(d.digest, await img.digest());
    assertEquals(d.mediaType, MediaTypes.DOCKER_MANIFEST);
  } finally {
    await reg.stop();
  }
});
