/**
 * Path resolution confined to a root directory, like containerd's `fs.RootPath`: symlinks met on the way are
 * followed as if the root were `/` (absolute targets restart at the root, `..` stops at the root), so the result
 * never leaves the root.
 *
 * @module
 */
import { lstatSync, readlinkSync } from "node:fs";
import { cleanPath, KilnError, splitPath as utilSplitPath } from "../util/mod.ts";

/** Options for {@linkcode resolveInRoot}. */
export interface ResolveInRootOptions {
  /** Also follow a symlink in the last component (default true). */
  followLast?: boolean;
}

/**
 * Resolves `path` (absolute or relative, interpreted inside `root`) to a host path under `root`, following
 * symlinks within the root. Components that do not exist are appended as they are.
 *
 * @param root Absolute host path of the root (no trailing `/`).
 * @param path Path inside the root.
 * @param options Whether to follow the last component.
 * @returns An absolute host path that starts with `root`.
 *
 * @example Usage
 * ```ts ignore
 * import { resolveInRoot } from "./resolve.ts";
 * // with ROOT/var/run -> /run
 * resolveInRoot("/tmp/rootfs", "/var/run/x"); // "/tmp/rootfs/run/x"
 * ```
 */
export function resolveInRoot(root: string, path: string, options: ResolveInRootOptions = {}): string {
  const followLast = options.followLast ?? true;
  const pending = splitPath(path);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const comp = pending.shift()!;
    if (comp === "..") {
      resolved.pop();
      continue;
    }
    const isLast = pending.length === 0;
    const host = joinHost(root, [...resolved, comp]);
    if (isLast && !followLast) {
      resolved.push(comp);
      break;
    }
    let target: string | undefined;
    try {
      if (lstatSync(host).isSymbolicLink()) target = readlinkSync(host);
    } catch {
      target = undefined;
    }
    if (target === undefined) {
      resolved.push(comp);
      continue;
    }
    if (++links > 255) throw new KilnError(`Cannot resolve ${path}: too many levels of symbolic links`);
    if (target.startsWith("/")) resolved.length = 0;
    pending.unshift(...splitPath(target));
  }
  return joinHost(root, resolved);
}

/**
 * Splits a path into components, dropping empty and `.` ones.
 *
 * @deprecated Use `splitPath` from lib/util/path.ts (the same function).
 * @param p The path.
 * @returns Its components.
 */
export function splitPath(p: string): string[] {
  return utilSplitPath(p);
}

/**
 * Cleans a path lexically like Go's `path.Clean` applied to `"/" + p` (result is absolute).
 *
 * @deprecated Use `cleanPath` from lib/util/path.ts (the same function).
 * @param p The path.
 * @returns The clean absolute path.
 */
export function cleanAbs(p: string): string {
  return cleanPath(p);
}

function joinHost(root: string, comps: string[]): string {
  return comps.length === 0 ? root : root + "/" + comps.join("/");
}
