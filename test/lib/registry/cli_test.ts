import { assert, assertEquals, assertStringIncludes } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { startRegistry } from "../../fixtures/registry.ts";
import { appendLayers, emptyImage, withConfig, writeLayout } from "../../../lib/image/mod.ts";
import { kiln } from "./_cli.ts";
import { randomLayer, run, tempDir } from "../image/_helpers.ts";
import { join } from "node:path";

Deno.test({
  name: "kiln copy and kiln inspect move images between layouts, registries and archives",
  ignore: skipUnless("cli copy", "docker-registry", "skopeo"),
}, async () => {
  using t = tempDir();
  const reg = await startRegistry();
  try {
    const img = withConfig(appendLayers(emptyImage(), [randomLayer(7000)]), (c) => ({ ...c, config: { Cmd: ["/x"] } }));
    const want = await img.digest();
    await writeLayout(join(t.dir, "src"), img, { tags: ["v1"] });
    const ins = ["--insecure-registry", reg.host];
    let r = await kiln(["copy", ...ins, `oci:${join(t.dir, "src")}:v1`, `docker://${reg.host}/app:1`]);
    assertEquals(r.code, 0, r.err);
    assertEquals(r.out.trim(), want);
    const sk = JSON.parse(run("skopeo", ["inspect", "--tls-verify=false", `docker://${reg.host}/app:1`]));
    assertEquals(sk.Digest, want);
    r = await kiln(["inspect", ...ins, `docker://${reg.host}/app:1`]);
    assertEquals(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assertEquals(j.digest, want);
    assertEquals(j.config.config.Cmd, ["/x"]);
    r = await kiln(["inspect", "--raw", ...ins, `${reg.host}/app:1`]);
    assertEquals(r.out, new TextDecoder().decode(await img.rawManifest()));
    r = await kiln(["copy", ...ins, `docker://${reg.host}/app:1`, `docker://${reg.host}/other/app:2`]);
    assertEquals(r.out.trim(), want);
    r = await kiln([
      "copy",
      ...ins,
      `docker://${reg.host}/other/app:2`,
      `docker-archive:${join(t.dir, "a.tar")}:app:2`,
    ]);
    assertEquals(r.code, 0, r.err);
    r = await kiln(["copy", `docker-archive:${join(t.dir, "a.tar")}:app:2`, `oci:${join(t.dir, "dst")}:v2`]);
    assertEquals(r.code, 0, r.err);
    r = await kiln(["inspect", "--config", `oci:${join(t.dir, "dst")}:v2`]);
    assertEquals(JSON.parse(r.out).config.Cmd, ["/x"]);
    // errors are one clear line
    r = await kiln(["inspect", ...ins, `docker://${reg.host}/missing:1`, "--image-download-retry=0"]);
    assertEquals(r.code, 1);
    assertStringIncludes(r.err, `${reg.host}/missing: HTTP 404`);
    assertEquals(r.err.trim().split("\n").length, 1, r.err);
    r = await kiln(["inspect", "docker://Bad:ref"]);
    assert(r.code !== 0);
    assertStringIncludes(r.err, "Invalid image reference");
  } finally {
    await reg.stop();
  }
});

Deno.test({
  name: "kiln copy -v trace with DOCKER_CONFIG credentials never prints them",
  ignore: skipUnless("cli redaction", "docker-registry"),
}, async () => {
  using t = tempDir();
  const reg = await startRegistry({ auth: "token" });
  try {
    const img = appendLayers(emptyImage(), [randomLayer(2000)]);
    await writeLayout(join(t.dir, "src"), img, { tags: ["v1"] });
    const cfg = join(t.dir, "docker");
    Deno.mkdirSync(cfg);
    const auth = btoa(`${reg.username}:${reg.password}`);
    Deno.writeTextFileSync(join(cfg, "config.json"), JSON.stringify({ auths: { [reg.host]: { auth } } }));
    const env = { DOCKER_CONFIG: cfg };
    const ins = ["--insecure-registry", reg.host, "-v", "trace"];
    let r = await kiln(["copy", ...ins, `oci:${join(t.dir, "src")}:v1`, `docker://${reg.host}/sec:1`], env);
    assertEquals(r.code, 0, r.err);
    r = await kiln(["inspect", ...ins, `docker://${reg.host}/sec:1`], env);
    assertEquals(r.code, 0, r.err);
    // a failing run too
    Deno.writeTextFileSync(
      join(cfg, "config.json"),
      JSON.stringify({ auths: { [reg.host]: { auth: btoa(`${reg.username}:wrong-${reg.password}`) } } }),
    );
    const bad = await kiln(["inspect", ...ins, "--image-download-retry=0", `docker://${reg.host}/sec:1`], env);
    assertEquals(bad.code, 1);
    const all = r.err + bad.err;
    assert(all.includes("TRACE"));
    for (const secret of [reg.password!, auth]) assert(!all.includes(secret), "secret in output");
    assert(!/eyJ[A-Za-z0-9_-]{10,}/.test(all), "token in output");
  } finally {
    await reg.stop();
  }
});
