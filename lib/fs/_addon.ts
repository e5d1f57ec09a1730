/**
 * Loads kiln's optional N-API addon (native/, built by `npm install` through node-gyp) and describes its shape.
 * Loading needs `--allow-read` and `--allow-ffi` under Deno; any failure is returned, never thrown.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** Columnar walk output of the addon: like WalkResult, with paths as one NUL-joined string. */
export interface AddonWalkResult {
  count: number;
  paths: string;
  type: Uint8Array;
  mode: Uint16Array;
  uid: Uint32Array;
  gid: Uint32Array;
  size: Float64Array;
  mtimeNs: BigInt64Array;
  ctimeNs: BigInt64Array;
  ino: Float64Array;
  dev: Float64Array;
  nlink: Uint32Array;
  rdev: Float64Array;
  /** NUL-joined symlink targets, one per symlink entry in entry order (when `readlinks`). */
  links?: string;
  /** Per entry: number of xattrs (when `xattrs`). */
  xattrCount?: Uint32Array;
  /** NUL-joined xattr names, in entry order (when `xattrs`). */
  xattrNames?: string;
  /** Byte length of each xattr value, in the order of `xattrNames`. */
  xattrLens?: Uint32Array;
  /** All xattr values concatenated. */
  xattrValues?: Uint8Array;
}

/** Options the addon's walk takes. */
export interface AddonWalkOptions {
  ignore: string[];
  readlinks: boolean;
  xattrs: boolean;
  oneFileSystem: boolean;
  threads: number;
  /** Set element 0 to non-zero to cancel the walk. */
  cancel: Int32Array;
}

/** The addon's exports. */
export interface KilnAddon {
  walk(root: string, options: AddonWalkOptions): Promise<AddonWalkResult>;
  hashFiles(paths: string[], threads: number, cancel: Int32Array): Promise<string[]>;
  lgetxattr(path: string, name: string): Uint8Array | undefined;
  llistxattr(path: string): string[];
  lsetxattr(path: string, name: string, value: Uint8Array): void;
  mknod(path: string, mode: number, dev: number): void;
  copyFileRange(src: string, dst: string, mode: number): number;
}

/** Result of {@linkcode loadAddon}: the addon, or why it could not be loaded. */
export type AddonLoad = { ok: true; addon: KilnAddon; path: string } | { ok: false; reason: string };

/** Where `npm install` puts the addon. */
export const ADDON_PATH: string = fileURLToPath(
  new URL("../../native/build/Release/kiln_native.node", import.meta.url),
);

/**
 * Tries to load the addon.
 *
 * @param path The .node file (default {@linkcode ADDON_PATH}).
 * @returns The addon or a reason.
 */
export function loadAddon(path: string = ADDON_PATH): AddonLoad {
  try {
    if (!existsSync(path)) return { ok: false, reason: `${path} not built (run npm install with a C++ compiler)` };
    const addon = createRequire(import.meta.url)(path) as KilnAddon;
    if (typeof addon.walk !== "function") return { ok: false, reason: `${path} is not kiln's addon` };
    return { ok: true, addon, path };
  } catch (e) {
    return { ok: false, reason: `cannot load ${path}: ${(e as Error).message ?? e}` };
  }
}
