/**
 * Helpers for build tests: independent inspection of built images (umoci unpack, skopeo inspect, a python3
 * file lister, podman run), contexts in temp dirs, and a buildah oracle.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { build } from "../../../lib/build/build.ts";
import type { BuildOptions, BuildResult } from "../../../lib/build/types.ts";
import { createLogger } from "../../../lib/util/logger.ts";
import type { CliIO } from "../../../cli/command.ts";
import { removeAfterTest, tempDir } from "../../fixtures/temp.ts";
import { PODMAN_RUN } from "../../fixtures/podman.ts";

/** Runs a command, returning stdout; throws with stderr on failure. */
export function sh(cmd: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}): string {
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Creates a temp context dir with `files` (path → content; a trailing `/` makes a directory), removed after the test. */
export function makeContext(files: Record<string, string>): string {
  const dir = tempDir("kiln-ctx-");
  for (const [p, c] of Object.entries(files)) {
    if (p.endsWith("/")) mkdirSync(join(dir, p), { recursive: true });
    else {
      mkdirSync(dirname(join(dir, p)), { recursive: true });
      writeFileSync(join(dir, p), c);
    }
  }
  return dir;
}

/** Lines logged during a build. */
export interface Built {
  /** Result. */
  result: BuildResult;
  /** Log lines. */
  log: string[];
  /** OCI layout dir (`:latest`). */
  layout: string;
}

/** Builds `dockerfile` in `context` into a fresh OCI layout (with a private work dir), removed after the test. */
export async function buildToLayout(
  context: string,
  dockerfile: string,
  extra: Partial<BuildOptions> = {},
): Promise<Built> {
  const out = tempDir("kiln-out-");
  const layout = join(out, "layout");
  const log: string[] = [];
  const result = await build({
    context,
    dockerfileText: dockerfile,
    workDir: join(out, "work"),
    ...extra,
    outputs: { noPush: true, ociLayoutPath: layout, ...extra.outputs },
  }, { logger: createLogger({ level: "debug", write: (l) => log.push(l) }) });
  return { result, log, layout };
}

/** Work dirs left behind (should be none). */
export function leftovers(workDir: string): string[] {
  try {
    return readdirSync(workDir);
  } catch {
    return [];
  }
}

/** One file of an unpacked rootfs, as python3's os.lstat sees it. */
export interface FileInfo {
  /** `f` file, `d` dir, `l` symlink, `c` char, `b` block, `p` fifo. */
  type: string;
  /** Permission bits incl. setuid etc. */
  mode: number;
  /** uid. */
  uid: number;
  /** gid. */
  gid: number;
  /** Size (files). */
  size: number;
  /** sha256 of content (files). */
  sha?: string;
  /** Link target. */
  link?: string;
  /** Inode number (to compare hardlinks). */
  ino: number;
  /** Link count. */
  nlink: number;
  /** xattrs name → hex. */
  xattrs: Record<string, string>;
}

const LISTER = `
import os, sys, json, hashlib, stat
root = sys.argv[1]
out = {}
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        st = os.lstat(p)
        m = st.st_mode
        t = 'd' if stat.S_ISDIR(m) else 'l' if stat.S_ISLNK(m) else 'f' if stat.S_ISREG(m) else 'c' if stat.S_ISCHR(m) else 'b' if stat.S_ISBLK(m) else 'p' if stat.S_ISFIFO(m) else 's'
        e = {"type": t, "mode": stat.S_IMODE(m), "uid": st.st_uid, "gid": st.st_gid, "size": st.st_size if t == 'f' else 0, "ino": st.st_ino, "nlink": st.st_nlink, "xattrs": {}}
        if t == 'f':
            with open(p, 'rb') as fh: e["sha"] = hashlib.sha256(fh.read()).hexdigest()
        if t == 'l': e["link"] = os.readlink(p)
        try:
            for x in os.listxattr(p, follow_symlinks=False):
                e["xattrs"][x] = os.getxattr(p, x, follow_symlinks=False).hex()
        except OSError:
            pass
        out["/" + os.path.relpath(p, root)] = e
print(json.dumps(out))
`;

/** Lists every path below `root` with its metadata (python3, independent of kiln). */
export function listTree(root: string): Record<string, FileInfo> {
  return JSON.parse(sh("python3", ["-c", LISTER, root]));
}

/** Unpacks `layout:tag` with umoci (as root, ownership kept) and lists the rootfs (removed after the test). */
export function unpackLayout(layout: string, tag = "latest"): { files: Record<string, FileInfo>; rootfs: string } {
  const bundle = tempDir("kiln-umoci-");
  rmSync(bundle, { recursive: true });
  sh("umoci", ["unpack", "--image", `${layout}:${tag}`, bundle]);
  return { files: listTree(join(bundle, "rootfs")), rootfs: join(bundle, "rootfs") };
}

/** `skopeo inspect --raw --config` (the exact config blob) of a layout or registry image. */
export function inspectConfig(image: string): Record<string, unknown> {
  return JSON.parse(sh("skopeo", ["inspect", "--tls-verify=false", "--raw", "--config", image]));
}

/** Private podman storage: `args` select it, `reset()` empties it (the dirs go with the test). */
export interface PodmanStorage {
  /** `--root DIR --runroot DIR --storage-driver vfs`. */
  args: string[];
  /** `podman system reset -f` on this storage. */
  reset(): void;
}

/**
 * Podman storage for one test: the root in the temp dir, the runroot there too unless its path is longer than the
 * 50 characters podman accepts (a clone at a long path), then a short dir in /tmp.
 */
export function podmanStorage(): PodmanStorage {
  const dir = tempDir("kiln-podman-");
  let runroot = join(dir, "runroot");
  if (runroot.length > 50) runroot = removeAfterTest(mkdtempSync("/tmp/kiln-prun-"));
  const args = ["--root", join(dir, "root"), "--runroot", runroot, "--storage-driver", "vfs"];
  return { args, reset: () => void sh("podman", [...args, "system", "reset", "-f"]) };
}

/** Runs an image with podman (runc, cgroupfs, host network, capped ulimits; see field-notes). */
export function podmanRun(image: string, args: string[], storage: PodmanStorage): string {
  return sh("podman", [...storage.args, ...PODMAN_RUN, "--tls-verify=false", image, ...args]);
}

/** An in-memory CliIO for calling CLI commands in-process: what they print lands in `out` and `err`. */
export function memoryIO(cwd: string, env: Record<string, string> = {}): CliIO & { out: string[]; err: string[] } {
  const out: string[] = [], err: string[] = [];
  return {
    out,
    err,
    stdout: (d) => {
      out.push(typeof d === "string" ? d : new TextDecoder().decode(d));
      return Promise.resolve();
    },
    stderr: (d) => {
      err.push(d);
      return Promise.resolve();
    },
    stdin: () => new ReadableStream(),
    env,
    cwd,
    signal: new AbortController().signal,
  };
}
