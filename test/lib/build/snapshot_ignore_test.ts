/**
 * withoutPaths(): a RUN step's mount targets (in-place mode) are left out of that step's snapshot — entries,
 * whiteouts, opaque markers — with a real snapshotter on a scratch directory (never the machine's /).
 */
import { existsSync, linkSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { withoutPaths } from "../../../lib/executor/_snapshot_ignore.ts";
import { createSnapshotter, type LayerDiff } from "../../../lib/fs/snapshot.ts";
import { createTsWalker } from "../../../lib/fs/walker_ts.ts";
import type { TarHeader } from "../../../lib/tar/types.ts";
import { assert, assertEquals } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";

/** The diff's changes as sorted lists of paths per kind. */
function lists(d: LayerDiff): { added: string[]; modified: string[]; deleted: string[]; opaque: string[] } {
  const out = { added: [] as string[], modified: [] as string[], deleted: [] as string[], opaque: [] as string[] };
  for (const c of d.changes()) out[c.kind].push(c.path);
  for (const l of Object.values(out)) l.sort();
  return out;
}

async function collect(diff: LayerDiff): Promise<{ header: TarHeader; text?: string }[]> {
  const out: { header: TarHeader; text?: string }[] = [];
  for await (const e of diff.entries()) {
    out.push({ header: e.header, ...(e.body ? { text: await new Response(e.body).text() } : {}) });
  }
  return out;
}

Deno.test("withoutPaths() leaves mount targets out of a snapshot, whiteouts and hardlinks included", async () => {
  const root = tempDir("kiln-snapignore-");
  try {
    mkdirSync(`${root}/run`);
    mkdirSync(`${root}/cache/sub`, { recursive: true });
    writeFileSync(`${root}/cache/old`, "old");
    writeFileSync(`${root}/cache/stays`, "stays"); // so cache/ gets per-child whiteouts, not an opaque marker
    mkdirSync(`${root}/keep`);
    mkdirSync(`${root}/data/x`, { recursive: true });
    const snap = createSnapshotter({ stateDir: tempDir("kiln-snapstate-"), root, walker: createTsWalker() });
    await snap.init();
    // what an in-place RUN with --mount=type=secret,target=/run/secrets/s and --mount=type=cache,target=/cache,
    // --mount=type=bind,target=/data could leave on "/", next to its real changes (/keep/*)
    mkdirSync(`${root}/run/secrets`);
    writeFileSync(`${root}/run/secrets/s`, "TOPSECRET");
    writeFileSync(`${root}/cache/new`, "cached");
    rmSync(`${root}/cache/old`);
    rmSync(`${root}/cache/sub`, { recursive: true });
    writeFileSync(`${root}/cache/h1`, "linked");
    linkSync(`${root}/cache/h1`, `${root}/keep/h2`);
    renameSync(`${root}/data`, `${root}/data-old`);
    mkdirSync(`${root}/data/y`, { recursive: true }); // all of data/'s children gone: an opaque marker
    rmSync(`${root}/data-old`, { recursive: true });
    writeFileSync(`${root}/keep/f`, "real");
    const raw = await snap.diff();
    const rawPaths = (await collect(raw)).map((e) => e.header.path);
    for (const p of ["run/secrets/s", "cache/.wh.old", "cache/.wh.sub", "data/.wh..wh..opq", "cache/h1"]) {
      assert(rawPaths.includes(p), `the unfiltered diff has ${p}: ${rawPaths.join(" ")}`);
    }
    const diff = withoutPaths(raw, ["/run/secrets/", "/cache", "data"], root);
    const got = await collect(diff);
    const paths = got.map((e) => e.header.path);
    for (const p of paths) assert(!/^(run\/secrets|cache|data)(\/|$)/.test(p), `${p} is in the layer`);
    assert(paths.includes("keep/f") && paths.includes("keep/h2"), paths.join(" "));
    const h2 = got.find((e) => e.header.path === "keep/h2")!;
    assertEquals([h2.header.type, h2.header.size, h2.text], ["file", 6, "linked"]);
    assertEquals(lists(diff).added, ["keep/f", "keep/h2"]);
    assertEquals(lists(diff).deleted, []);
    assertEquals(lists(diff).opaque, []);
    assert(!diff.empty);
    // only mount targets changed: no layer at all
    writeFileSync(`${root}/cache/again`, "x");
    const only = withoutPaths(await snap.diff(), ["/cache"], root);
    assert(only.empty);
    assertEquals(await collect(only), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("runStage() in in-place mode puts RUN --mount sources in place for the step and leaves no trace", async () => {
  const { runStage } = await import("../../../lib/executor/stage.ts");
  const { imageFromParts } = await import("../../../lib/image/mod.ts");
  const { planFromDockerfile } = await import("../../../lib/executor/plan.ts");
  const { nullLogger } = await import("../../../lib/util/logger.ts");
  const base = tempDir("kiln-inplace-stage-");
  try {
    const root = `${base}/rootfs`; // stands in for "/": the fake runner below never touches the real one
    mkdirSync(root);
    mkdirSync(`${base}/layers`);
    const ran: string[][] = [];
    const seen: boolean[] = [];
    const sandbox = {
      mode: "in-place" as const,
      rootDir: root,
      ignorePaths: [],
      run(step: { argv: string[]; mounts?: unknown[] }) {
        ran.push(step.argv);
        assertEquals(step.mounts, undefined, "in place nothing is mounted: the sources are already in place");
        seen.push(existsSync(`${root}/t`));
        writeFileSync(`${root}/out`, "ran");
        return Promise.resolve({ exitCode: 0, leftovers: [] });
      },
      setTimes: () => Promise.resolve(true),
      getTimes: () => Promise.resolve(undefined),
      close: () => Promise.resolve(),
    };
    const snapshotter = createSnapshotter({ stateDir: tempDir("kiln-snapstate-"), root, walker: createTsWalker() });
    await snapshotter.init({ empty: true });
    const stageFor = (df: string) => {
      const plan = planFromDockerfile(df);
      const config = { architecture: "amd64", os: "linux", rootfs: { type: "layers" as const, diff_ids: [] } };
      return runStage(plan.stages[0]!, { image: imageFromParts({ config, layers: [] }), config, layers: [] }, {
        services: {
          file: "Dockerfile",
          contextDir: base,
          layerDir: `${base}/layers`,
          allow: [],
          log: nullLogger,
          progress: () => {},
          rootfs: () => Promise.resolve({ dir: root, snapshotter }),
          sandbox: () => Promise.resolve(sandbox),
          copySource: () => Promise.reject(new Error("no copy sources")),
        },
        layers: { compression: "gzip", single: false },
        variables: { buildArgs: new Map(), metaArgs: plan.metaArgs },
        counter: { step: 0, total: plan.stages[0]!.instructions.length },
      });
    };
    const m = await stageFor("FROM scratch\nRUN --mount=type=tmpfs,target=/t true\n");
    assertEquals(seen, [true], "the tmpfs target existed during the step");
    assert(!existsSync(`${root}/t`), "and is gone after it");
    assertEquals(m.layers.length, 1);
    const r = await stageFor("FROM scratch\nRUN true\n");
    assertEquals(ran.length, 2);
    assertEquals(r.layers.length, 1);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

Deno.test({
  name: "build() in sandbox mode: nothing a RUN --mount showed (bind, cache, tmpfs, secret, #! script) is in the layer",
  ignore: (await import("../sandbox/_helpers.ts")).sandboxSkipReason() !== undefined ||
    new Deno.Command("sh", { args: ["-c", "command -v umoci"] }).outputSync().code !== 0,
  async fn() {
    const { spawnSync } = await import("node:child_process");
    const { makeBusyboxRootfs } = await import("../../fixtures/busybox_rootfs.ts");
    const { buildToLayout } = await import("./_helpers.ts");
    const base = tempDir("kiln-mount-layer-");
    const sh = (cmd: string, ...args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    try {
      const layout = `${base}/base`;
      makeBusyboxRootfs(`${base}/rootfs`);
      sh("umoci", "init", "--layout", layout);
      sh("umoci", "new", "--image", `${layout}:latest`);
      sh("umoci", "unpack", "--image", `${layout}:latest`, `${base}/bundle`);
      rmSync(`${base}/bundle/rootfs`, { recursive: true });
      sh("cp", "-a", `${base}/rootfs`, `${base}/bundle/rootfs`);
      sh("umoci", "repack", "--image", `${layout}:latest`, `${base}/bundle`);
      mkdirSync(`${base}/ctx/src`, { recursive: true });
      writeFileSync(`${base}/ctx/src/a`, "ctx");
      writeFileSync(`${base}/secret`, "TOPSECRET");
      const df = "FROM busybox\n" +
        "RUN --mount=type=bind,source=src,target=/mnt/src,rw --mount=type=cache,target=/var/cache/x " +
        "--mount=type=tmpfs,target=/scratch --mount=type=secret,id=s,target=/etc/s <<EOF\n" +
        "#!/bin/sh -e\ncat /mnt/src/a > /out; test -s /etc/s; echo w > /mnt/src/b; echo c > /var/cache/x/c; echo t > /scratch/t\n" +
        "EOF\n";
      const built = await buildToLayout(`${base}/ctx`, df, {
        buildContexts: { busybox: `oci-layout://${layout}:latest` },
        secrets: [{ id: "s", src: `${base}/secret` }],
        sandbox: { runCacheDir: `${base}/run-cache` },
      });
      const layers = built.result.manifest.layers;
      const last = layers[layers.length - 1]!.digest.slice("sha256:".length);
      const list = sh("sh", "-c", `gzip -dc < ${built.layout}/blobs/sha256/${last} | tar -t`).trim().split("\n");
      const paths = list.map((p) => p.replace(/^\.\//, "")).filter((p) => p !== "");
      for (const p of paths) assert(!/^(mnt|scratch|var\/cache|etc\/s$|dev)/.test(p), `${p} is in the layer`);
      // Only /out is new. Existing parents of mount points (/etc, /var) may appear as directory entries: the sandbox
      // restores their times after removing the mount points, but their ctime changed, which full mode notices.
      assertEquals(paths.filter((p) => !p.endsWith("/")), ["out"]);
      assertEquals(paths.filter((p) => p.endsWith("/") && !["etc/", "var/"].includes(p)), []);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
});
