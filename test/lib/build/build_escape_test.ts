/**
 * A base image whose layer tries to write outside the rootfs (`..` names, a hardlink to a host file, a file below
 * a symlink pointing at `/`): the build fails with one line, the host files aimed at are untouched, and the work dir
 * is left empty. The image is made with python3's tarfile, not with kiln.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "../../../lib/build/build.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../../assert.ts";
import { leftovers, makeContext, sh } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("escaping layer test", "python3", "root");

const MAKE_LAYOUT = `
import gzip, hashlib, io, json, os, sys, tarfile
out, kind, target = sys.argv[1], sys.argv[2], sys.argv[3]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data=b"pwned\\n", **kw):
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644
        for k, v in kw.items(): setattr(ti, k, v)
        t.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    add("ok.txt", b"fine\\n")
    if kind == "dotdot":
        add("../" * 12 + target.lstrip("/"))
    elif kind == "hardlink":
        add("evil", type=tarfile.LNKTYPE, linkname="../" * 12 + target.lstrip("/"), size=0)
    elif kind == "symlink":
        add("up", type=tarfile.SYMTYPE, linkname="/", size=0)
        add("up" + target)
tar = buf.getvalue()
gz = gzip.compress(tar, mtime=0)
def blob(b):
    d = hashlib.sha256(b).hexdigest()
    os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
    open(f"{out}/blobs/sha256/{d}", "wb").write(b)
    return "sha256:" + d, len(b)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}).encode()
cd, cs = blob(cfg); ld, ls = blob(gz)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ls}]}).encode()
md, ms = blob(man)
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(f"{out}/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [{"mediaType":
    "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
    "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
`;

for (const kind of ["dotdot", "hardlink", "symlink"] as const) {
  Deno.test({
    name: `build() refuses a base layer escaping the rootfs (${kind}) with one line, host untouched`,
    ignore,
    async fn() {
      const dir = tempDir("kiln-escape-");
      const victim = join(dir, "victim.txt");
      writeFileSync(victim, "original\n");
      const layout = join(dir, "layout");
      sh("python3", ["-c", MAKE_LAYOUT, layout, kind, victim]);
      const work = join(dir, "work");
      const ctx = makeContext({});
      const run = () =>
        build({
          context: ctx,
          dockerfileText: "FROM base\nRUN true\n",
          buildContexts: { base: `oci-layout://${layout}:latest` },
          outputs: { noPush: true },
          workDir: work,
        });
      if (kind === "symlink") {
        // Resolved inside the rootfs, as if it were "/": the write lands in the rootfs, never on the host.
        await run().catch((e) => {
          assert(e instanceof KilnError, String(e));
          assert(!e.message.includes("\n"));
        });
      } else {
        const e = await assertRejects(run, KilnError);
        assertMatch(e.message, /^Dockerfile:1: /);
        assert(!e.message.includes("\n"), e.message);
      }
      assertEquals(readFileSync(victim, "utf8"), "original\n");
      assert(existsSync(victim));
      assertEquals(leftovers(work), []);
      rmSync(dir, { recursive: true, force: true });
      rmSync(ctx, { recursive: true, force: true });
    },
  });
}
