import { assertEquals, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import {
  appendLayers,
  dockerArchiveImage,
  dockerArchiveTags,
  emptyImage,
  layoutImage,
  withConfig,
  writeDockerArchive,
  writeLayout,
} from "../../../lib/image/mod.ts";
import { randomLayer, run, tempDir } from "./_helpers.ts";
import { join } from "node:path";
import { sha256 } from "../../../lib/util/digest.ts";

function sample(n: number) {
  return withConfig(appendLayers(emptyImage(), [randomLayer(5000 * n, `f${n}`), randomLayer(100)]), (c) => ({
    ...c,
    config: { Cmd: [`/f${n}`] },
  }));
}

Deno.test("writeDockerArchive() round-trips several images and tags", async () => {
  using t = tempDir();
  const a = sample(1);
  const b = sample(2);
  const file = join(t.dir, "x.tar");
  await writeDockerArchive(file, [{ image: a, tags: ["app:1", "app:latest"] }, {
    image: b,
    tags: ["localhost:5000/other:2"],
  }]);
  assertEquals(await dockerArchiveTags(file), [["app:1", "app:latest"], ["localhost:5000/other:2"]]);
  const back = await dockerArchiveImage(file, { tag: "docker.io/library/app:latest" });
  assertEquals(await back.rawConfig(), await a.rawConfig());
  const layers = await back.layers();
  assertEquals(await layers[0]!.digest(), await (await a.layers())[0]!.digest());
  assertEquals(await layers[0]!.diffId(), await (await a.layers())[0]!.diffId());
  const b2 = await dockerArchiveImage(file, { tag: "localhost:5000/other:2" });
  assertEquals((await b2.config()).config?.Cmd, ["/f2"]);
  await assertRejects(() => dockerArchiveImage(file), Error, "holds 2");
  await assertRejects(() => dockerArchiveImage(file, { tag: "nope:1" }), Error, "nope:1");
});

Deno.test({
  name: "docker archives are read by skopeo and podman, and skopeo's by us",
  ignore: skipUnless("docker-archive interop", "skopeo", "podman", "root"),
}, async () => {
  using t = tempDir();
  const a = sample(3);
  const file = join(t.dir, "a.tar");
  await writeDockerArchive(file, [{ image: a, tags: ["kiln-test/app:v1"] }]);
  const info = JSON.parse(run("skopeo", ["inspect", `docker-archive:${file}`]));
  assertEquals(info.Layers.length, 2);
  const oci = join(t.dir, "oci");
  run("skopeo", ["copy", "-q", `docker-archive:${file}`, `oci:${oci}:v1`]);
  const fromSkopeo = await layoutImage(oci, { tag: "v1" });
  assertEquals(
    (await fromSkopeo.config()).rootfs.diff_ids,
    (await a.config()).rootfs.diff_ids,
  );
  // podman load with private storage
  const conf = join(t.dir, "storage.conf");
  Deno.writeTextFileSync(
    conf,
    `[storage]\ndriver = "vfs"\nrunroot = "${t.dir}/run"\ngraphroot = "${t.dir}/graph"\n`,
  );
  const env = { ...Deno.env.toObject(), CONTAINERS_STORAGE_CONF: conf };
  const p = new Deno.Command("podman", { args: ["load", "-i", file], env, stdout: "piped", stderr: "piped" })
    .outputSync();
  assertEquals(p.code, 0, new TextDecoder().decode(p.stderr));
  const img = new Deno.Command("podman", {
    args: ["image", "inspect", "--format", "{{.Id}}", "localhost/kiln-test/app:v1"],
    env,
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  assertEquals(new TextDecoder().decode(img.stdout).trim(), sha256(await a.rawConfig()).slice(7));
  new Deno.Command("podman", { args: ["system", "reset", "-f"], env, stdout: "null", stderr: "null" }).outputSync();
  // skopeo writes a classic docker-archive (uncompressed layers): we read it
  await writeLayout(join(t.dir, "l"), a, { tags: ["v1"] });
  const classic = join(t.dir, "classic.tar");
  run("skopeo", ["copy", "-q", `oci:${join(t.dir, "l")}:v1`, `docker-archive:${classic}:kiln/classic:1`]);
  const c = await dockerArchiveImage(classic, { tag: "kiln/classic:1" });
  assertEquals((await c.config()).rootfs.diff_ids, (await a.config()).rootfs.diff_ids);
  const cl = (await c.layers())[0]!;
  assertEquals(await cl.diffId(), sha256(new Uint8Array(await new Response(await cl.uncompressed()).arrayBuffer())));
});
