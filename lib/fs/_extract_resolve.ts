/**
 * Private: resolves archive paths inside a rootfs as if it were `/` (symlinks followed within it, never out).
 *
 * @module
 */
import { lstatSync, readlinkSync } from "node:fs";
import { KilnError } from "../util/errors.ts";

const MAX_HOPS = 255;

/** Splits a `/`-path into components, dropping empty and `.` ones. */
export function components(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

/**
 * Resolves rootfs-relative `rel` inside `root` (an absolute, real path), following symlinks in every component
 * (and the last one too when `followLast`) as if `root` were `/`: absolute targets restart at `root`, `..` stops
 * at `root`. Missing components are kept as they are. Returns the resolved rootfs-relative path (`""` = root).
 *
 * @param root Absolute real path of the rootfs.
 * @param rel Path relative to the rootfs.
 * @param followLast Whether a symlink in the last component is followed too.
 * @param cache Resolutions of directory paths, reused while nothing that could change them was modified.
 */
export function resolveInRoot(
  root: string,
  rel: string,
  followLast: boolean,
  cache?: Map<string, string>,
): string {
  const queue = components(rel);
  if (queue.length === 0) return "";
  let resolved: string[] = [];
  // Start from the longest cached directory prefix.
  if (cache && cache.size) {
    for (let i = queue.length - (followLast ? 0 : 1); i > 0; i--) {
      const hit = cache.get(queue.slice(0, i).join("/"));
      if (hit !== undefined) {
        resolved = hit === "" ? [] : hit.split("/");
        queue.splice(0, i);
        break;
      }
    }
  }
  let hops = 0;
  let missing = false;
  while (queue.length) {
    const c = queue.shift()!;
    if (c === "..") {
      resolved.pop();
      continue;
    }
    const last = queue.length === 0;
    if (missing || (last && !followLast)) {
      resolved.push(c);
      continue;
    }
    const host = `${root}/${[...resolved, c].join("/")}`;
    let target: string | undefined;
    try {
      const st = lstatSync(host);
      if (st.isSymbolicLink()) target = readlinkSync(host);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" && (e as NodeJS.ErrnoException).code !== "ENOTDIR") throw e;
      missing = true;
    }
    if (target === undefined) {
      resolved.push(c);
      continue;
    }
    if (++hops > MAX_HOPS) {
      throw new KilnError(`Cannot resolve "${rel}" in the rootfs: too many levels of symbolic links`);
    }
    if (target.startsWith("/")) resolved = [];
    queue.unshift(...target.split("/").filter((s) => s !== "" && s !== "."));
  }
  const out = resolved.join("/");
  // Only fully followed, existing paths are cached: they are valid prefixes for later lookups.
  if (cache && followLast && !missing) cache.set(components(rel).join("/"), out);
  return out;
}
