/**
 * Loads kiln's optional N-API addon (native/, built by `npm install` through node-gyp; lib/util `requireAddon`) and
 * describes the shape of its file-system half.
 *
 * @module
 */
import { ADDON_PATH, requireAddon } from "../util/mod.ts";

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
  /** With `roots`: the listed directories, NUL-joined, one per batch. */
  batchDirs?: string;
  /** With `roots`: the number of entries of each batch. */
  batchCounts?: Uint32Array;
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
  /** List these directories (and more below them, up to `maxEntries`), one sorted batch each. */
  roots?: string[];
  /** With `roots`: stop taking directories below them after this many entries. */
  maxEntries?: number;
}

/** The addon's exports. */
export interface KilnAddon {
  walk(root: string, options: AddonWalkOptions): Promise<AddonWalkResult>;
  hashFiles(paths: string[], threads: number, cancel: Int32Array): Promise<string[]>;
  lgetxattr(path: string, name: string): Uint8Array | undefined;
  llistxattr(path: string): string[];
  lsetxattr(path: string, name: string, value: Uint8Array): void;
  mknod(path: string, mode: number, dev: number): void;
  /** `srcs` and `dsts`: paths joined by NUL. */
  copyFiles(srcs: string, dsts: string, meta: Float64Array, chownEpermOk: boolean): Promise<Int32Array>;
}

/** Result of {@linkcode loadAddon}: the addon, or why it could not be loaded. */
export type AddonLoad = { ok: true; addon: KilnAddon; path: string } | { ok: false; reason: string };

export { ADDON_PATH };

/**
 * Tries to load the addon.
 *
 * @param path The .node file (default {@linkcode ADDON_PATH}).
 * @returns The addon or a reason.
 */
export function loadAddon(path: string = ADDON_PATH): AddonLoad {
  const r = requireAddon<KilnAddon>(path, "walk", "is not kiln's addon");
  return r.ok ? { ok: true, addon: r.module, path } : r;
}
