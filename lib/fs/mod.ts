/**
 * Filesystem layer: walkers (native and TS), file hashing, xattr/mknod syscalls, the snapshotter (layer diffs),
 * layer extraction, and root-confined path resolution (the one implementation of "follow symlinks as if this
 * directory were `/`").
 *
 * @module
 */
export * from "./types.ts";
export { createTsWalker, type TsWalkerOptions, type XattrReader } from "./walker_ts.ts";
export { createNativeHasher, createNativeWalker, type NativeOptions } from "./walker_native.ts";
export {
  loadHasher,
  loadWalker,
  type LoadWalkerOptions,
  parseWalkerPreference,
  type WalkerPreference,
  xattrReaderOf,
} from "./walker.ts";
export { createTsHasher, sha256FileSync } from "./hasher_ts.ts";
export {
  createSyscalls,
  isHostXattr,
  lgetxattr,
  lgetxattrs,
  llistxattr,
  lsetxattr,
  makedev,
  mknod,
  S_IF,
  splitDev,
  type Syscalls,
  syscallsAvailable,
  type SyscallsOptions,
  trySyscalls,
} from "./syscalls.ts";
export {
  type ChangeCounts,
  createSnapshotter,
  type DiffEntriesOptions,
  type LayerDiff,
  type SnapshotChange,
  type SnapshotDiffOptions,
  type SnapshotMode,
  type Snapshotter,
  type SnapshotterOptions,
  type SnapshotWalkOptions,
  type SnapshotXattrReader,
} from "./snapshot.ts";
export { extractEntries, extractLayer, type ExtractOptions, type ExtractStats } from "./extract.ts";
export { clearTree, type ClearTreeOptions, type ClearTreeStats } from "./clear.ts";
export {
  createRootResolver,
  MAX_LINKS,
  resolveInRoot,
  type ResolveInRootOptions,
  resolveInRootSync,
  type RootPath,
  type RootResolver,
  SymlinkLoopError,
} from "./root_path.ts";
