/**
 * Filesystem layer: walkers (native and TS), file hashing, xattr/mknod syscalls.
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
