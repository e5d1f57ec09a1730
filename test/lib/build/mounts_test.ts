import * as fs from "node:fs";
import { assert, assertEquals, assertRejects, assertThrows } from "../../assert.ts";
import { heredocRunCommand, prepareMounts, resolveMount } from "../../../lib/executor/mounts/mod.ts";
import { MountSyntaxError, parseMount } from "../../../lib/dockerfile/mod.ts";
import { createSecretStore, parseSecretFlag } from "../../../lib/build/secrets.ts";
import { createSandbox } from "../../../lib/sandbox/mod.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { makeFixture, sandboxSkipReason, treeDiff, treeState } from "../sandbox/_helpers.ts";

/** lib/dockerfile's parser (the one --mount parser) and the executor's defaults, as a RUN in `workdir` gets them. */
function parseMountFlag(spec: string, workdir = "/") {
  return resolveMount(parseMount(spec), workdir, "Dockerfile:1");
}

Deno.test("resolveMount(parseMount()) applies BuildKit's defaults and key rules", () => {
  assertEquals(parseMountFlag("target=/src"), { type: "bind", target: "/src", source: "/", readwrite: false });
  assertEquals(parseMountFlag("type=bind,src=app,dst=/app,from=build,rw"), {
    type: "bind",
    target: "/app",
    source: "app",
    from: "build",
    readwrite: true,
  });
  const c = parseMountFlag("Type=cache,Target=/root/.cache,sharing=locked,mode=0700,uid=1000");
  assertEquals(c.type === "cache" && [c.id, c.sharing, c.mode, c.uid, c.gid], [
    "/root/.cache",
    "locked",
    0o700,
    1000,
    0,
  ]);
  // BuildKit: a relative target is joined to WORKDIR; the cache id is the target as written, cleaned.
  const rel = parseMountFlag("type=cache,target=rel/./x", "/w");
  assertEquals(rel.type === "cache" && [rel.id, rel.target], ["rel/x", "/w/rel/x"]);
  const s = parseMountFlag("type=secret,id=npm");
  assertEquals(s.type === "secret" && [s.target, s.mode, s.required], ["/run/secrets/npm", 0o400, false]);
  const e = parseMountFlag("type=secret,id=tok,env=TOKEN,required");
  assertEquals(e.type === "secret" && [e.target, e.env, e.required], [undefined, "TOKEN", true]);
  const t = parseMountFlag("type=tmpfs,target=/tmp,size=64m");
  assertEquals(t.type === "tmpfs" && t.size, 64 * 1024 * 1024);
  assertThrows(() => parseMountFlag("type=bind"), MountSyntaxError, "requires a target");
  assertThrows(() => parseMountFlag("type=tmpfs,target=/x,mode=0700"), MountSyntaxError, "not allowed");
  assertThrows(() => parseMountFlag("type=secret,id=a,from=x"), MountSyntaxError, "should not have a from");
  assertThrows(() => parseMountFlag("type=cache,target=/x,sharing=bogus"), MountSyntaxError, "sharing");
  assertThrows(() => parseMountFlag("type=nfs,target=/x"), MountSyntaxError, "unsupported mount type");
  assertThrows(
    () => parseMountFlag("type=bind,target=."),
    KilnError,
    "Dockerfile:1: RUN --mount: the target cannot be /",
  );
});

Deno.test("parseSecretFlag() and createSecretStore() read files and env", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    fs.writeFileSync(`${dir}/s`, "file-secret");
    const store = createSecretStore([parseSecretFlag(`id=f,src=${dir}/s`), parseSecretFlag("id=e,env=E")], {
      env: { E: "env-secret" },
    });
    assertEquals(new TextDecoder().decode(await store.get("f")), "file-secret");
    assertEquals(new TextDecoder().decode(await store.get("e")), "env-secret");
    assertEquals(await store.get("nope"), undefined);
    assertEquals(parseSecretFlag("id=X").env, "X");
    assertThrows(() => parseSecretFlag("id=a,bogus=1"), KilnError);
  } finally {
    fs.rmSync(dir, { recursive: true });
  }
});

Deno.test("heredocRunCommand() handles single, shebang and multi-heredoc RUNs", () => {
  const one = heredocRunCommand({ cmdLine: "<<EOF", heredocs: [{ name: "EOF", content: "\techo a\n", chomp: true }] });
  assertEquals(one, { argv: ["/bin/sh", "-c", "echo a\n"], files: [] });
  const sb = heredocRunCommand({
    cmdLine: "<<EOT",
    heredocs: [{ name: "EOT", content: "#!/usr/bin/env python3\nprint(1)\n", chomp: false }],
  });
  assertEquals(sb.argv, ["/dev/pipes/EOT"]);
  assertEquals(sb.files[0]?.mode, 0o755);
  const multi = heredocRunCommand({
    cmdLine: "<<A cat > /a && <<B cat > /b",
    heredocs: [{ name: "A", content: "1\n", chomp: false }, { name: "B", content: "2\n", chomp: false }],
    shell: ["/bin/bash", "-c"],
  });
  assertEquals(multi.argv, ["/bin/bash", "-c", "<<A cat > /a && <<B cat > /b\n1\nA\n2\nB"]);
  const withCmd = heredocRunCommand({ cmdLine: "<<EOF sh", heredocs: [{ name: "EOF", content: "x\n", chomp: false }] });
  assertEquals(withCmd.argv[2], "<<EOF sh\nx\nEOF");
});

function ctxDirs(): { base: string; ctx: string; cache: string; scratch: string; stage: string } {
  const base = Deno.makeTempDirSync({ prefix: "kiln-mounts-" });
  const ctx = `${base}/ctx`;
  const stage = `${base}/stage`;
  fs.mkdirSync(`${ctx}/src`, { recursive: true });
  fs.mkdirSync(`${stage}/out`, { recursive: true });
  fs.writeFileSync(`${ctx}/src/a`, "ctx-a");
  fs.writeFileSync(`${stage}/out/b`, "stage-b");
  return { base, ctx, stage, cache: `${base}/cache`, scratch: `${base}/scratch` };
}

Deno.test("prepareMounts() makes cache, bind, tmpfs and secret mounts and cleans up", async () => {
  const d = ctxDirs();
  try {
    fs.writeFileSync(`${d.base}/sec`, "hunter2");
    const secrets = createSecretStore([{ id: "pw", src: `${d.base}/sec` }, { id: "tok", env: "T" }], {
      env: { T: "tv" },
    });
    const ctx = {
      contextDir: d.ctx,
      cacheDir: d.cache,
      scratchDir: d.scratch,
      secrets,
      resolveFrom: (f: string) => f === "build" ? Promise.resolve(d.stage) : Promise.reject(new Error("unknown")),
      location: "Dockerfile:4",
    };
    const p = await prepareMounts([
      parseMountFlag("type=cache,target=/c,uid=7,mode=0770"),
      parseMountFlag("target=/src,source=src"),
      parseMountFlag("type=bind,from=build,source=out,target=/o,rw"),
      parseMountFlag("type=tmpfs,target=/t"),
      parseMountFlag("type=secret,id=pw"),
      parseMountFlag("type=secret,id=tok,env=TOKEN"),
    ], ctx);
    assertEquals(p.mounts.map((m) => m.target), ["/c", "/src", "/o", "/t", "/run/secrets/pw"]);
    const cache = p.mounts[0]!;
    assert(cache.type === "bind" && !cache.readonly && cache.source.startsWith(d.cache));
    assertEquals(fs.statSync(cache.source).uid, 7);
    assertEquals(fs.statSync(cache.source).mode & 0o777, 0o770);
    const ro = p.mounts[1]!;
    assert(ro.type === "bind" && ro.readonly && ro.source === `${d.ctx}/src`);
    const rw = p.mounts[2]!;
    assert(rw.type === "bind" && !rw.readonly && rw.source.startsWith(d.scratch));
    assertEquals(fs.readFileSync(`${rw.source}/b`, "utf8"), "stage-b");
    const sec = p.mounts[4]!;
    assert(sec.type === "bind" && sec.readonly);
    assertEquals(fs.readFileSync(sec.source, "utf8"), "hunter2");
    assertEquals(fs.statSync(sec.source).mode & 0o777, 0o400);
    assertEquals(p.env, ["TOKEN=tv"]);
    fs.writeFileSync(`${cache.source}/persist`, "1");
    await p.release();
    assertEquals(fs.readdirSync(d.scratch), []); // secrets and rw copies gone
    // the cache persists and is found again by id
    const p2 = await prepareMounts([parseMountFlag("type=cache,target=/c")], ctx);
    assert(fs.existsSync(`${p2.mounts[0]!.type === "bind" ? p2.mounts[0]!.source : ""}/persist`));
    await p2.release();
    // a new cache can be seeded from a stage (from= + source=)
    const seeded = await prepareMounts([parseMountFlag("type=cache,id=seeded,target=/s,from=build,source=out")], ctx);
    const sm = seeded.mounts[0]!;
    assert(sm.type === "bind" && fs.readFileSync(`${sm.source}/b`, "utf8") === "stage-b");
    await seeded.release();
    await assertRejects(
      () => prepareMounts([parseMountFlag("type=secret,id=missing,required=true")], ctx),
      KilnError,
      'Dockerfile:4: RUN --mount: secret "missing" is required',
    );
    await assertRejects(() => prepareMounts([parseMountFlag("type=ssh")], ctx), KilnError, "not supported");
    await assertRejects(() => prepareMounts([parseMountFlag("target=/x,source=nope")], ctx), KilnError, "not found");
    assertEquals(fs.readdirSync(d.scratch), []);
  } finally {
    fs.rmSync(d.base, { recursive: true, force: true });
  }
});

Deno.test("prepareMounts() serialises locked caches and gives private ones a fresh dir when busy", async () => {
  const d = ctxDirs();
  try {
    const ctx = { contextDir: d.ctx, cacheDir: d.cache, scratchDir: d.scratch };
    const a = await prepareMounts([parseMountFlag("type=cache,id=x,target=/c,sharing=locked")], ctx);
    let bDone = false;
    const b = prepareMounts([parseMountFlag("type=cache,id=x,target=/c,sharing=locked")], ctx).then((r) => {
      bDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 150));
    assert(!bDone, "second locked user must wait");
    const priv = await prepareMounts([parseMountFlag("type=cache,id=x,target=/c,sharing=private")], ctx);
    const pm = priv.mounts[0]!;
    assert(pm.type === "bind" && pm.source.startsWith(d.scratch));
    await priv.release();
    await a.release();
    const br = await b;
    assert(bDone);
    await br.release();
  } finally {
    fs.rmSync(d.base, { recursive: true, force: true });
  }
});

Deno.test("prepareMounts() lets parallel steps create the same shared cache id at once", async () => {
  const d = ctxDirs();
  try {
    const mk = (i: number) =>
      prepareMounts([parseMountFlag("type=cache,id=shared,target=/c")], {
        contextDir: d.ctx,
        cacheDir: d.cache,
        scratchDir: `${d.scratch}/${i}`,
      });
    fs.mkdirSync(`${d.scratch}/0`, { recursive: true });
    fs.mkdirSync(`${d.scratch}/1`, { recursive: true });
    const [a, b] = await Promise.all([mk(0), mk(1)]);
    const [ma, mb] = [a.mounts[0]!, b.mounts[0]!];
    assert(ma.type === "bind" && mb.type === "bind");
    assertEquals(ma.source, mb.source, "both steps see the one shared cache directory");
    await a.release();
    await b.release();
  } finally {
    fs.rmSync(d.base, { recursive: true, force: true });
  }
});

const skip = sandboxSkipReason();
Deno.test({
  name: "prepareMounts() mounts work in the sandbox and leave nothing in the rootfs",
  ignore: skip !== undefined,
  async fn() {
    const fx = await makeFixture();
    const d = ctxDirs();
    try {
      const secrets = createSecretStore([{ id: "pw", env: "PW" }], { env: { PW: "s3cr3t" } });
      const ctx = { contextDir: d.ctx, cacheDir: d.cache, scratchDir: `${fx.work}/mounts`, secrets };
      const cmd = heredocRunCommand({
        cmdLine: "<<EOF",
        heredocs: [{
          name: "EOF",
          content: "#!/bin/sh\ncat /src/a > /out.txt; echo x >> /c/n; cat /run/secrets/pw >> /out.txt\n" +
            "touch /src/ro 2>/dev/null && echo writable >> /out.txt; echo tmp > /t/f\n",
          chomp: false,
        }],
      });
      const p = await prepareMounts(
        [
          parseMountFlag("target=/src,source=src"),
          parseMountFlag("type=cache,target=/c"),
          parseMountFlag("type=secret,id=pw"),
          parseMountFlag("type=tmpfs,target=/t"),
        ],
        ctx,
        { files: cmd.files },
      );
      const sb = await createSandbox({ rootDir: fx.root, workDir: fx.work });
      const before = treeState(fx.root);
      try {
        const r = await sb.run({
          argv: cmd.argv,
          env: p.env,
          cwd: "/",
          user: { uid: 0, gid: 0, groups: [] },
          mounts: p.mounts,
        });
        assertEquals(r.exitCode, 0);
      } finally {
        await p.release();
        await sb.close();
      }
      assertEquals(fs.readFileSync(`${fx.root}/out.txt`, "utf8"), "ctx-as3cr3t");
      assertEquals(treeDiff(before, treeState(fx.root)).filter((x) => x !== "/"), ["/out.txt"]);
    } finally {
      fs.rmSync(d.base, { recursive: true, force: true });
      await fx.dispose();
    }
  },
});

Deno.test({
  name: "build(): RUN --mount=type=cache persists across builds; secrets and mounts stay out of the image",
  ignore: skip !== undefined || skipUnlessUmoci(),
  async fn() {
    const { build } = await import("../../../lib/build/build.ts");
    const { makeBusyboxRootfs } = await import("../../fixtures/busybox_rootfs.ts");
    const { spawnSync } = await import("node:child_process");
    const base = Deno.makeTempDirSync({ prefix: "kiln-mount-build-" });
    const sh = (cmd: string, ...args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
    };
    try {
      const layout = `${base}/base`;
      makeBusyboxRootfs(`${base}/rootfs`);
      sh("umoci", "init", "--layout", layout);
      sh("umoci", "new", "--image", `${layout}:latest`);
      sh("umoci", "unpack", "--image", `${layout}:latest`, `${base}/bundle`);
      fs.rmSync(`${base}/bundle/rootfs`, { recursive: true });
      sh("cp", "-a", `${base}/rootfs`, `${base}/bundle/rootfs`);
      sh("umoci", "repack", "--image", `${layout}:latest`, `${base}/bundle`);
      const ctx = `${base}/ctx`;
      fs.mkdirSync(ctx);
      fs.writeFileSync(`${base}/secret`, "TOPSECRET");
      fs.writeFileSync(
        `${ctx}/Dockerfile`,
        "FROM busybox\n" +
          "RUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /runs\n" +
          "RUN --mount=type=secret,id=s,required=true cp /run/secrets/s /tmp/leak && rm /tmp/leak && echo ok > /used\n",
      );
      const opts = (n: number) => ({
        context: ctx,
        outputs: { noPush: true, ociLayoutPath: `${base}/out${n}` },
        buildContexts: { busybox: `oci-layout://${layout}:latest` },
        secrets: [{ id: "s", src: `${base}/secret` }],
        sandbox: { runCacheDir: `${base}/run-cache` },
        workDir: `${base}/work`,
      });
      for (const n of [1, 2]) {
        await build(opts(n));
        sh("umoci", "unpack", "--image", `${base}/out${n}:latest`, `${base}/b${n}`);
        assertEquals(fs.readFileSync(`${base}/b${n}/rootfs/runs`, "utf8").trim(), String(n));
        assert(!fs.existsSync(`${base}/b${n}/rootfs/cache`) && !fs.existsSync(`${base}/b${n}/rootfs/run/secrets`));
      }
      // a stage read only through RUN --mount from= is built (and kept) even with --skip-unused-stages
      fs.writeFileSync(
        `${ctx}/Dockerfile`,
        "FROM busybox AS data\nRUN echo d > /d\nFROM busybox AS unused\nRUN exit 1\n" +
          "FROM busybox\nRUN --mount=from=data,target=/m cat /m/d > /got\n",
      );
      await build({ ...opts(3), skipUnusedStages: true });
      sh("umoci", "unpack", "--image", `${base}/out3:latest`, `${base}/b3`);
      assertEquals(fs.readFileSync(`${base}/b3/rootfs/got`, "utf8"), "d\n");
      // the secret is in no blob of the image
      for (const blob of fs.readdirSync(`${base}/out2/blobs/sha256`)) {
        const bytes = fs.readFileSync(`${base}/out2/blobs/sha256/${blob}`);
        const text = new TextDecoder().decode(bytes);
        assert(!text.includes("TOPSECRET"), `secret found in blob ${blob}`);
        const unz = spawnSync("sh", ["-c", `gzip -dc < ${base}/out2/blobs/sha256/${blob} 2>/dev/null`]);
        assert(!String(unz.stdout).includes("TOPSECRET"), `secret found in layer ${blob}`);
      }
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  },
});

function skipUnlessUmoci(): boolean {
  return new Deno.Command("sh", { args: ["-c", "command -v umoci"] }).outputSync().code !== 0;
}
