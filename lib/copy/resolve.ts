/**
 * Deprecated: root-confined resolution lives in lib/fs/root_path.ts (one implementation for COPY/ADD, extraction,
 * RUN and the build context) and lexical path helpers in lib/util/path.ts. This module keeps the old names
 * working.
 *
 * @module
 */
import { cleanPath, splitPath as utilSplitPath } from "../util/mod.ts";
import { resolveInRootSync } from "../fs/mod.ts";

/** Options for {@linkcode resolveInRoot}. */
export interface ResolveInRootOptions {
  /** Also follow a symlink in the last component (default true). */
  followLast?: boolean;
}

/**
 * Resolves `path` (absolute or relative, interpreted inside `root`) to a host path under `root`, following
 * symlinks within the root. Components that do not exist are appended as they are.
 *
 * @deprecated Use `resolveInRootSync(root, path, options).hostPath` from lib/fs (lib/fs/root_path.ts).
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
  return resolveInRootSync(root, path, options).hostPath;
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
