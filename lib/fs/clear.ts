/**
 * Emptying a root filesystem between in-place stages (kaniko deletes the filesystem before each stage): everything
 * under a root is removed except the paths to keep and the directories leading to them.
 *
 * @module
 */
import { lstat, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { AbortedError } from "../util/mod.ts";

/** Options for {@linkcode clearTree}. */
export interface ClearTreeOptions {
  /** Paths relative to the root (or absolute image paths) that stay, with everything below them. */
  keep: readonly string[];
  /** Cancels the removal between entries. */
  signal?: AbortSignal;
}

/** What {@linkcode clearTree} did. */
export interface ClearTreeStats {
  /** Top-most entries removed (each with all below it). */
  removed: number;
  /** Directories on another filesystem left alone (mount points nobody listed). */
  otherFilesystems: string[];
}

function components(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

/**
 * Removes everything under `root` except `keep` (and the directories on the way to a kept path, which stay with
 * their metadata). Never follows a symlink (a link is removed as a link) and never enters or removes a directory on
 * another filesystem than `root` — a mount point the keep list forgot is left alone and reported, not emptied.
 *
 * @param root The root directory (`/` in place).
 * @param options The paths to keep, a signal.
 * @returns How many entries were removed, and the other filesystems left alone (image paths).
 *
 * @example Usage
 * ```ts ignore
 * await clearTree("/", { keep: ["kaniko", "proc", "etc/hosts", "workspace"] });
 * ```
 */
export async function clearTree(root: string, options: ClearTreeOptions): Promise<ClearTreeStats> {
  const keep = options.keep.map(components).filter((c) => c.length > 0);
  const rootDev = (await lstat(root)).dev;
  const stats: ClearTreeStats = { removed: 0, otherFilesystems: [] };
  const visit = async (dir: string, rel: string[]): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      if (options.signal?.aborted) throw new AbortedError("Build aborted");
      const path = [...rel, name];
      const host = join(dir, name);
      const kept = keep.some((k) => k.length <= path.length && k.every((c, i) => c === path[i]));
      if (kept) continue;
      const st = await lstat(host).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory() && st.dev !== rootDev) {
        stats.otherFilesystems.push("/" + path.join("/"));
        continue;
      }
      const below = keep.some((k) => k.length > path.length && path.every((c, i) => c === k[i]));
      if (below && st.isDirectory()) {
        await visit(host, path);
        continue;
      }
      if (st.isDirectory()) {
        // A directory holding a mount point somewhere below (unlisted) must not be removed across it.
        if (await holdsOtherFilesystem(host, rootDev)) {
          await visit(host, path);
          continue;
        }
      }
      await rm(host, { recursive: true, force: true });
      stats.removed++;
    }
  };
  await visit(root, []);
  return stats;
}

/** Whether some directory below `dir` is on another filesystem (a mount point). */
async function holdsOtherFilesystem(dir: string, dev: number): Promise<boolean> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return false;
  }
  for (const name of entries) {
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    if (st.dev !== dev) return true;
    if (await holdsOtherFilesystem(join(dir, name), dev)) return true;
  }
  return false;
}
