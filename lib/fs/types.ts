/**
 * The filesystem walker contract. Walkers return metadata in a compact columnar form (typed arrays plus
 * one path array), because building one JS object per file costs more than the walk itself
 * (reference/runtime.md §4). The pure-TS walker and the native (N-API) walker implement the same interface
 * and pass the same contract tests.
 *
 * @module
 */

/** File type codes used in {@linkcode WalkResult.type}. */
export const FileType = {
  file: 1,
  dir: 2,
  symlink: 3,
  char: 4,
  block: 5,
  fifo: 6,
  socket: 7,
} as const;

/** A file type code. */
export type FileTypeCode = typeof FileType[keyof typeof FileType];

/**
 * The result of a walk: `count` entries in columns. Index `i` of every column describes `paths[i]`.
 * Paths are relative to the root, `/`-separated, without a leading `/` (the root itself is not listed).
 * Order: a directory comes before its contents; otherwise unspecified (sort if you need an order).
 */
export interface WalkResult {
  /** Number of entries. */
  count: number;
  /** Relative paths. */
  paths: string[];
  /** {@linkcode FileType} codes. */
  type: Uint8Array;
  /** Permission bits incl. setuid/setgid/sticky (`st_mode & 0o7777`). */
  mode: Uint16Array;
  /** Owner uid. */
  uid: Uint32Array;
  /** Owner gid. */
  gid: Uint32Array;
  /** Size in bytes. */
  size: Float64Array;
  /** Modification time in nanoseconds since the epoch. */
  mtimeNs: BigInt64Array;
  /** Status-change time in nanoseconds (catches chmod/chown/xattr changes that keep mtime). */
  ctimeNs: BigInt64Array;
  /** Inode number. */
  ino: Float64Array;
  /** Device of the containing filesystem. */
  dev: Float64Array;
  /** Link count. */
  nlink: Uint32Array;
  /** Device number for char/block devices (`major << 8 | minor` style as the kernel's `st_rdev`). */
  rdev: Float64Array;
  /** Symlink targets (`undefined` for non-symlinks); only when `readlinks` was requested. */
  linkTargets?: (string | undefined)[];
  /** xattrs per entry (`undefined` when none); only when `xattrs` was requested and the walker can read them. */
  xattrs?: (Record<string, Uint8Array> | undefined)[];
}

/** Options for {@linkcode Walker.walk}. */
export interface WalkOptions {
  /**
   * Relative paths to leave out, with everything below them (e.g. `proc`, `kiln-work/x`).
   * Matching is on whole path components.
   */
  ignore?: readonly string[];
  /** Read symlink targets into `linkTargets`. */
  readlinks?: boolean;
  /** Read extended attributes into `xattrs`. */
  xattrs?: boolean;
  /** Do not descend into other filesystems (mount points are listed but not entered). */
  oneFileSystem?: boolean;
  /** Cancels the walk. */
  signal?: AbortSignal;
  /** Called about every 250 ms while the walk runs, with the number of entries listed so far. */
  onProgress?: (entries: number) => void;
}

/** Options for {@linkcode Walker.list}. */
export interface ListOptions {
  /** Relative paths to leave out, with everything below them (as {@linkcode WalkOptions.ignore}). */
  ignore?: readonly string[];
  /** Read symlink targets into `linkTargets`. */
  readlinks?: boolean;
  /**
   * After the requested directories (always listed whole), list directories below them only until about this many
   * entries are listed in all.
   */
  maxEntries: number;
  /** Cancels the listing. */
  signal?: AbortSignal;
}

/**
 * Directories listed by {@linkcode Walker.list}: the entries of every listed directory, one group per directory.
 * Group `i` lists directory `dirs[i]` (relative, `""` for the root): entries `starts[i]` up to `starts[i + 1]` of
 * `walk`, sorted by path (as `<` compares strings; a walker whose order differs in rare cases, e.g. the native one's
 * byte order for names outside the Basic Multilingual Plane, leaves the caller to check). A directory that vanished
 * before it was read is an empty group.
 */
export interface DirListing {
  /** The entries of all listed directories. */
  walk: WalkResult;
  /** The listed directories, in no particular order. */
  dirs: string[];
  /** `dirs.length + 1` offsets into `walk`. */
  starts: Uint32Array;
}

/** Walks a directory tree with one lstat per entry. */
export interface Walker {
  /** `"ts"` or `"native"`. */
  readonly name: string;
  /** True if this walker reads xattrs. */
  readonly supportsXattrs: boolean;
  /** Walks `root` (an absolute path). */
  walk(root: string, options?: WalkOptions): Promise<WalkResult>;
  /**
   * Lists directories `dirs` (relative to `root`) and, while the entry budget lasts, directories below them: the
   * snapshotter's way of walking a tree piece by piece in path order, so memory holds a budget of entries instead of
   * the whole tree.
   */
  list(root: string, dirs: readonly string[], options: ListOptions): Promise<DirListing>;
}

/** Hashes file contents (sha256, hex), possibly in parallel threads. */
export interface FileHasher {
  /** `"ts"` or `"native"`. */
  readonly name: string;
  /** Returns the hex sha256 of each file, in order. */
  hashFiles(paths: readonly string[], options?: { signal?: AbortSignal }): Promise<string[]>;
}
