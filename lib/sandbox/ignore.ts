/**
 * Paths the snapshotter must not record: mount points, kiln's own directory, `/var/run`, user `--ignore-path`s.
 *
 * @module
 */
import { cleanPath } from "../util/mod.ts";
import type { SandboxMode } from "./types.ts";

/** Options of {@linkcode ignorePathsFromMountInfo}. */
export interface MountInfoOptions {
  /** The rootfs on the host (default `/`); only mount points below it are returned, relative to it. */
  rootDir?: string;
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Mount points listed in /proc/self/mountinfo text (field 5), as absolute paths relative to `rootDir`,
 * excluding the rootfs itself; sorted and without duplicates.
 *
 * @param text Contents of /proc/self/mountinfo.
 * @param options The rootfs.
 * @returns Image paths that are mount points.
 *
 * @example Usage
 * ```ts
 * import { ignorePathsFromMountInfo } from "./ignore.ts";
 * const text = "22 27 0:21 / /proc rw,relatime - proc proc rw\n27 1 254:0 / / rw - ext4 /dev/vda rw\n";
 * console.assert(ignorePathsFromMountInfo(text).join() === "/proc");
 * ```
 */
export function ignorePathsFromMountInfo(text: string, options: MountInfoOptions = {}): string[] {
  const root = cleanPath(options.rootDir ?? "/");
  const out = new Set<string>();
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const mp = fields[4];
    if (mp === undefined || mp === "") continue;
    const p = cleanPath(unescapeMountPath(mp));
    if (root === "/") {
      if (p !== "/") out.add(p);
    } else if (p.startsWith(root + "/")) {
      out.add(p.slice(root.length));
    }
  }
  return [...out].sort();
}

/** Options of {@linkcode defaultIgnoreList}. */
export interface DefaultIgnoreOptions {
  /** The RUN mode. Mount points and `/var/run` only apply in `in-place` mode (the rootfs is `/`). */
  mode: SandboxMode;
  /** Contents of /proc/self/mountinfo (in-place mode). */
  mountInfo?: string;
  /** kiln's own directory on `/` (in-place mode), e.g. `/kiln`. */
  kilnDir?: string;
  /** Ignore `/var/run` (kaniko's `--ignore-var-run`, default true; in-place mode). */
  ignoreVarRun?: boolean;
  /** User `--ignore-path`s (absolute image paths), in both modes. */
  ignorePaths?: readonly string[];
}

/**
 * What kiln's executor images ship on the container's `/` (kaniko's layout): `/kaniko` (the binary, its libraries,
 * certificates, DOCKER_CONFIG, TMPDIR) and the debug image's `/busybox`. In place they are never snapshotted, as
 * kaniko never snapshots `/kaniko`.
 */
export const EXECUTOR_IMAGE_PATHS: readonly string[] = ["/kaniko", "/busybox"];

/**
 * The snapshot ignore list for a build: in `in-place` mode kaniko's (mount points, kiln's dir, `/etc/mtab`,
 * `/var/run` unless disabled, and what the executor images ship: {@linkcode EXECUTOR_IMAGE_PATHS}) plus the user's
 * paths; in `sandbox` mode only the user's paths, because nothing
 * kiln mounts survives a step there. Sorted, without duplicates; each entry also covers its descendants.
 *
 * @param options Mode, mountinfo text, kiln's dir, `/var/run` switch, user paths.
 * @returns Absolute image paths.
 *
 * @example Usage
 * ```ts
 * import { defaultIgnoreList } from "./ignore.ts";
 * const list = defaultIgnoreList({ mode: "in-place", mountInfo: "", kilnDir: "/kiln", ignorePaths: ["/cache"] });
 * console.assert(list.join() === "/busybox,/cache,/etc/mtab,/kaniko,/kiln,/var/run");
 * ```
 */
export function defaultIgnoreList(options: DefaultIgnoreOptions): string[] {
  const out = new Set<string>();
  for (const p of options.ignorePaths ?? []) out.add(cleanPath(p));
  if (options.mode === "in-place") {
    for (const p of ignorePathsFromMountInfo(options.mountInfo ?? "")) out.add(p);
    if (options.kilnDir !== undefined) out.add(cleanPath(options.kilnDir));
    out.add("/etc/mtab");
    for (const p of EXECUTOR_IMAGE_PATHS) out.add(p);
    if (options.ignoreVarRun ?? true) out.add("/var/run");
  }
  out.delete("/");
  return [...out].sort();
}
