/**
 * `kiln build --reproducible` gives one digest for one input, whatever the run: ten builds of a Dockerfile (and two more with zstd layers) with
 * deletes, re-created directories, hardlinks, symlinks, `COPY --from` two stages built in parallel and a 39 MB layer compressed in
 * parallel — work dir on tmpfs and on disk, `-j 1` and the default, from dir://, tar:// and git contexts, two at a
 * time, with the context's mtimes touched in between — and the image unpacks to the tree the Dockerfile describes.
 * One step re-creates a directory either in place (the filesystem may hand back the old inode number) or beside the
 * old one (a new number), chosen at random per build: the same visible change must give the same layer.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import { startBusyboxRegistry } from "../fixtures/busybox_image.ts";
import { git, startGitServer } from "../fixtures/git_server.ts";
import { removeAfterTest, tempDir } from "../fixtures/temp.ts";
import { skipUnless } from "../fixtures/tools.ts";
import { kiln } from "./_helpers.ts";

const ignore = skipUnless(
  "kiln build --reproducible across runs",
  "root",
  "umoci",
  "skopeo",
  "docker-registry",
  "busybox",
  "git",
  "tar",
);

function dockerfile(base: string): string {
  return `FROM ${base} AS tools
RUN mkdir -p /out/bin && echo tool > /out/bin/t && ln /out/bin/t /out/bin/t2 && ln -s t /out/bin/t3
FROM ${base} AS other
RUN mkdir -p /o && echo other > /o/f && seq 1 100000 > /o/n
FROM ${base}
COPY . /src/
COPY --from=tools /out /opt/
COPY --from=other /o /o/
RUN mkdir -p /home/app/a /home/app/b && touch /home/app/x /home/app/a/y && seq 1 5000000 > /big
RUN rm -rf /home/app && mkdir -p /home/app/.config && touch /home/app/.profile && mkdir -p /d/x && touch /d/y
RUN if [ $((RANDOM % 2)) = 0 ]; then rm -rf /d && mkdir /d; else mv /d /d.old && mkdir /d && rm -rf /d.old; fi; touch /d/new
RUN rm -rf /src/sub/* /src/gone && echo again > /src/sub/f && ln /src/keep /src/keep.hard && ln -s keep /src/keep.sym
RUN rm -rf /opt/bin && mkdir /opt/bin && echo new > /opt/bin/t
`;
}

/** The context, with explicit modes so a git checkout gives the same tree. */
function writeContext(dir: string, base: string): void {
  mkdirSync(join(dir, "sub/c"), { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), dockerfile(base));
  writeFileSync(join(dir, "keep"), "kept\n");
  writeFileSync(join(dir, "gone"), "deleted by a RUN step\n");
  writeFileSync(join(dir, "sub/a"), "a\n");
  writeFileSync(join(dir, "sub/b"), "b\n");
  writeFileSync(join(dir, "sub/c/d"), "d\n");
  writeFileSync(join(dir, "tool.sh"), "#!/bin/sh\necho tool\n");
  symlinkSync("keep", join(dir, "link"));
  for (const f of ["Dockerfile", "keep", "gone", "sub/a", "sub/b", "sub/c/d"]) chmodSync(join(dir, f), 0o644);
  chmodSync(join(dir, "tool.sh"), 0o755);
  for (const d of [".", "sub", "sub/c"]) chmodSync(join(dir, d), 0o755);
}

/** Sets every context file's mtime to `when` (seconds), as a checkout or an editor would. */
function touchAll(dir: string, when: number): void {
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, name);
    if (!statSync(p, { throwIfNoEntry: false })) continue;
    utimesSync(p, when, when);
  }
  utimesSync(dir, when, when);
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

Deno.test({
  name: "kiln build --reproducible gives one digest across work dirs, -j, context sources and mtimes",
  ignore,
}, async () => {
  const bb = await startBusyboxRegistry();
  const tmp = tempDir("kiln-repro-");
  const shm = removeAfterTest(mkdtempSync("/dev/shm/kiln-repro-"));
  const ctx = join(tmp, "ctx");
  mkdirSync(ctx);
  writeContext(ctx, bb.ref);
  // the git context: the same tree committed and served over smart HTTP
  const gitRoot = join(tmp, "gitroot");
  mkdirSync(gitRoot);
  const work = join(tmp, "gitwork");
  run("cp", ["-a", ctx, work]);
  git(work, "init", "-q", "-b", "main");
  git(work, "add", "-A");
  git(work, "commit", "-q", "-m", "context");
  git(tmp, "clone", "-q", "--bare", work, join(gitRoot, "ctx.git"));
  const server = await startGitServer({ projectRoot: gitRoot });
  try {
    const disk = join(tmp, "work");
    mkdirSync(disk);
    assertEquals(run("stat", ["-f", "-c", "%T", shm]).trim(), "tmpfs");
    assert(run("stat", ["-f", "-c", "%T", disk]).trim() !== "tmpfs", "the disk work dir must not be a tmpfs");
    type Source = "dir" | "tar" | "git";
    const plan: { source: Source; workDir: string; jobs?: number; touch?: number; zstd?: boolean }[] = [
      { source: "dir", workDir: shm },
      { source: "dir", workDir: disk, jobs: 1 },
      { source: "tar", workDir: shm, jobs: 1 },
      { source: "git", workDir: disk },
      { source: "dir", workDir: disk, touch: 1_700_000_000 },
      { source: "tar", workDir: disk },
      { source: "git", workDir: shm, jobs: 1 },
      { source: "dir", workDir: shm, jobs: 1, touch: 1_800_000_000 },
      { source: "tar", workDir: shm },
      { source: "dir", workDir: disk },
      // zstd layers (a digest of their own): fed in fixed-size writes, so equally independent of the run
      { source: "dir", workDir: shm, zstd: true },
      { source: "tar", workDir: disk, jobs: 1, zstd: true, touch: 1_900_000_000 },
    ];
    const digests: string[] = [];
    for (let i = 0; i < plan.length; i += 2) {
      // the context is touched (and tarred) between pairs, never while a build reads it
      const pair = plan.slice(i, i + 2);
      for (const p of pair) if (p.touch) touchAll(ctx, p.touch);
      const runs = pair.map((p, k) => {
        const n = i + k;
        let spec = `dir://${ctx}`;
        if (p.source === "tar") {
          spec = `tar://${join(tmp, `ctx-${n}.tar.gz`)}`;
          run("tar", ["-czf", spec.slice(6), "-C", ctx, "."]);
        } else if (p.source === "git") spec = `${server.url}/ctx.git#main`;
        const digestFile = join(tmp, `digest-${n}`);
        const out = join(tmp, `out-${n}.tar`);
        const args = [
          "build",
          `--context=${spec}`,
          "--no-push",
          "--reproducible",
          `--insecure-registry=${bb.registry.host}`,
          `--tar-path=${out}`,
          `--digest-file=${digestFile}`,
          `--work-dir=${p.workDir}`,
          ...(p.jobs ? [`--jobs=${p.jobs}`] : []),
          ...(p.zstd ? ["--compression=zstd"] : []),
        ];
        return kiln(args).done.then((r) => ({ r, digestFile, what: JSON.stringify(p) }));
      });
      for (const { r, digestFile, what } of await Promise.all(runs)) {
        assertEquals(r.code, 0, `${what}: ${r.stderr}`);
        digests.push(`${readFileSync(digestFile, "utf8").trim()} ${what}`);
      }
    }
    const gzipDigests = new Set(digests.filter((d) => !d.includes('"zstd"')).map((d) => d.split(" ")[0]));
    const zstdDigests = new Set(digests.filter((d) => d.includes('"zstd"')).map((d) => d.split(" ")[0]));
    assertEquals([gzipDigests.size, zstdDigests.size], [1, 1], digests.join("\n"));
    assert(![...zstdDigests].some((d) => gzipDigests.has(d)), "zstd layers give another digest");
    // what the image holds: unpacked by umoci from the docker archive skopeo converts
    const layout = join(tmp, "layout");
    run("skopeo", ["copy", "--quiet", `docker-archive:${join(tmp, "out-0.tar")}`, `oci:${layout}:img`]);
    const bundle = join(tmp, "bundle");
    run("umoci", ["unpack", "--image", `${layout}:img`, bundle]);
    const rootfs = join(bundle, "rootfs");
    assertEquals(readdirSync(join(rootfs, "home/app")).sort(), [".config", ".profile"]);
    assertEquals(readdirSync(join(rootfs, "src/sub")), ["f"]);
    assertEquals(readdirSync(join(rootfs, "d")), ["new"]);
    assertEquals(readdirSync(join(rootfs, "o")).sort(), ["f", "n"]);
    assertEquals(readdirSync(join(rootfs, "opt/bin")), ["t"]);
    assertEquals(readFileSync(join(rootfs, "opt/bin/t"), "utf8"), "new\n");
    assertEquals(readdirSync(join(rootfs, "src")).sort(), [
      "Dockerfile",
      "keep",
      "keep.hard",
      "keep.sym",
      "link",
      "sub",
      "tool.sh",
    ]);
    assertEquals(statSync(join(rootfs, "src/keep.hard")).ino, statSync(join(rootfs, "src/keep")).ino);
    assertEquals(statSync(join(rootfs, "src/tool.sh")).mode & 0o777, 0o755);
    assertEquals(statSync(join(rootfs, "big")).size, 38_888_896);
    assertEquals(statSync(join(rootfs, "src/keep")).mtimeMs, 0);
  } finally {
    await server.close();
    await bb.stop();
  }
});
