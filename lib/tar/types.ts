/**
 * Tar entry types shared by the writer and the reader.
 *
 * @module
 */

/** Kinds of tar entries kiln reads and writes. */
export type TarEntryType = "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";

/** Metadata of one tar entry. */
export interface TarHeader {
  /** Path inside the archive, `/`-separated, no leading `/` or `./` (directories without trailing `/`). */
  path: string;
  /** Entry kind. */
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (`0o7777` mask). */
  mode: number;
  /** Owner uid. */
  uid: number;
  /** Owner gid. */
  gid: number;
  /** Owner user name, if any. */
  uname?: string;
  /** Owner group name, if any. */
  gname?: string;
  /** Modification time in seconds since the epoch; may be fractional (written as PAX `mtime` then). */
  mtime: number;
  /** Content size in bytes (files only; 0 otherwise). */
  size: number;
  /** Link target for symlinks and hardlinks (hardlinks: archive path of the target). */
  linkname?: string;
  /** Device major number (char/block). */
  devmajor?: number;
  /** Device minor number (char/block). */
  devminor?: number;
  /** Extended attributes, binary-safe (`SCHILY.xattr.<name>` PAX records). */
  xattrs?: Record<string, Uint8Array>;
  /** Other PAX records read or to be written verbatim (not path/size/uid/gid/mtime/linkpath/xattrs). */
  pax?: Record<string, string>;
}

/**
 * One entry of an archive. For the writer, `body` supplies exactly `header.size` bytes (files only).
 * From the reader, `body` must be fully read or cancelled before the next entry is delivered.
 */
export interface TarEntry {
  /** Entry metadata. */
  header: TarHeader;
  /** File content; absent for non-files. */
  body?: ReadableStream<Uint8Array>;
  /**
   * Writer only: the whole content of a small file, used instead of `body` (saves creating a stream per file;
   * 20k small files write about 2× faster). Must be exactly `header.size` bytes. Never set by the reader.
   */
  data?: Uint8Array;
  /**
   * Reader only (files): returns the next chunk of the body, `undefined` at its end — the same bytes as `body`
   * without a stream per entry (extracting many small files is faster). Use either `read` or `body` for an entry.
   */
  read?: () => Promise<Uint8Array | undefined>;
}
