/**
 * Deprecated: root-confined resolution lives in lib/fs/root_path.ts (one implementation for extraction, COPY/ADD,
 * RUN and the build context). This module keeps the old names working.
 *
 * @module
 */
import { splitPath } from "../util/mod.ts";
import { resolveInRootSync } from "./root_path.ts";

/**
 * Splits a `/`-path into components, dropping empty and `.` ones.
 *
 * @deprecated Use `splitPath` from lib/util/path.ts (the same function).
 * @param p The path.
 * @returns Its components.
 */
export function components(p: string): string[] {
  return splitPath(p);
}

/**
 * Resolves rootfs-relative `rel` inside `root`, following symlinks as if `root` were `/`.
 *
 * @deprecated Use `resolveInRootSync` or `createRootResolver` from lib/fs/root_path.ts.
 * @param root Absolute real path of the rootfs.
 * @param rel Path relative to the rootfs.
 * @param followLast Whether a symlink in the last component is followed too.
 * @param _cache Ignored (use `createRootResolver` for cached resolution).
 * @returns The resolved rootfs-relative path (`""` = root).
 */
export function resolveInRoot(root: string, rel: string, followLast: boolean, _cache?: Map<string, string>): string {
  return resolveInRootSync(root, rel, { followLast }).imagePath.slice(1);
}
