/**
 * A base image whose config `rootfs.diff_ids` do not match its layers is refused while its layers are extracted, naming
 * the layer (issue 15 #7) — kiln copied the bogus diff_id into its output, which `umoci unpack` then rejected.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { assertMatch, assertRejects } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { buildBusyboxLayout } from "../../fixtures/busybox_image.ts";
import { build } from "../../../lib/executor/mod.ts";
import { KilnError } from "../../../lib/util/errors.ts";

const PY = `
import hashlib, json, os, sys
d = sys.argv[1]
def path(desc): return os.path.join(d, "blobs", "sha256", desc["digest"].split(":")[1])
def blob(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(d, "blobs", "sha256", h), "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
idx = json.load(open(os.path.join(d, "index.json")))
m = idx["manifests"][0]
man = json.load(open(path(m)))
cfg = json.load(open(path(man["config"])))
cfg["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
man["config"] = dict(man["config"], **blob(json.dumps(cfg).encode()))
idx["manifests"][0] = dict(m, **blob(json.dumps(man).encode()))
json.dump(idx, open(os.path.join(d, "index.json"), "w"))
`;

Deno.test({
  name: "build(): a base whose config diff_id does not match its layer fails naming the layer",
  ignore: skipUnless("base diff_id check", "root", "umoci", "busybox", "python3"),
  async fn() {
    const root = tempDir("kiln-diffid-");
    const layout = buildBusyboxLayout(join(root, "layout"));
    spawnSync("python3", ["-c", PY, layout]);
    const e = await assertRejects(
      () =>
        build({
          context: root,
          dockerfileText: "FROM base\nRUN true\n",
          buildContexts: { base: `oci-layout://${layout}:latest` },
          outputs: { noPush: true },
          workDir: join(root, "work"),
        }),
      KilnError,
    );
    assertMatch(
      e.message,
      /^Dockerfile:1: base layer sha256:[0-9a-f]{64} does not match the image config: its diff_id is sha256:[0-9a-f]{64}, the config says sha256:0{64}/,
    );
  },
});
