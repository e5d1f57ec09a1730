/**
 * Writing output files so that a failed or interrupted write never leaves a half-written file in place: the data
 * goes to a unique temp file in the same directory (`.NAME.kiln-tmp-UUID`), which is renamed over the target only
 * when complete, and removed on any failure. Concurrent writers of one path never share a temp file; the last
 * rename wins. Failures of the destination (ENOSPC, EACCES, EROFS…) are one-line {@linkcode OutputWriteError}s
 * that name the output, never the temp file.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { type FileHandle, mkdir, open, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import { AbortedError, KilnError } from "./errors.ts";

const REASONS: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  ENOENT: "no such file or directory",
  EEXIST: "file exists",
  EIO: "input/output error",
  EFBIG: "file too large",
  ENAMETOOLONG: "file name too long",
  ELOOP: "too many levels of symbolic links",
  EMFILE: "too many open files",
  EBUSY: "device or resource busy",
};

/**
 * A short reason for a file-system error, without the paths node adds (`ENOSPC: no space left on device, write`).
 *
 * @param err A thrown value.
 * @returns e.g. `no space left on device`.
 *
 * @example Usage
 * ```ts
 * import { fsErrorReason } from "./atomic_file.ts";
 * const e = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
 * console.assert(fsErrorReason(e) === "no space left on device");
 * ```
 */
export function fsErrorReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && REASONS[code]) return REASONS[code];
  const msg = err instanceof Error ? err.message : String(err);
  const node = /^[A-Z0-9]+: ([^,]+)/.exec(msg);
  const text = node ? node[1]! : msg.replace(/ \(os error \d+\).*$/s, "").replace(/:.*$/s, "");
  return (text.replace(/\s+/g, " ").trim() || (typeof code === "string" ? code : "write error")).replace(
    /^[A-Z]/,
    (c) => c.toLowerCase(),
  );
}

/**
 * An output could not be written: `Cannot write WHAT PATH: REASON` (exit code 1).
 *
 * @example Usage
 * ```ts
 * import { OutputWriteError } from "./atomic_file.ts";
 * const e = new OutputWriteError("docker archive", "/out/app.tar", Object.assign(new Error("x"), { code: "EROFS" }));
 * console.assert(e.message === "Cannot write docker archive /out/app.tar: read-only file system");
 * ```
 */
export class OutputWriteError extends KilnError {
  /** The output as the user named it. */
  readonly path: string;
  /** Why it failed (`no space left on device`). */
  readonly reason: string;
  /**
   * Creates the error.
   *
   * @param what What the output is (`docker archive`, `OCI layout`, `--digest-file`).
   * @param path The output path.
   * @param cause The file-system error.
   */
  constructor(what: string, path: string, cause: unknown) {
    const reason = fsErrorReason(cause);
    super(`Cannot write ${what} ${path}: ${reason}`, { cause });
    this.name = "OutputWriteError";
    this.path = path;
    this.reason = reason;
  }
}

/** Options for {@linkcode writeFileAtomic} and {@linkcode writeStreamAtomic}. */
export interface AtomicWriteOptions {
  /** What the output is, for messages (default `file`). */
  what?: string;
  /** The path to name in messages (default: the path written). */
  shownPath?: string;
  /** Cancels the write (the temp file is removed). */
  signal?: AbortSignal;
  /**
   * Permission bits of the file written, replacing a file or not (credentials: 0o600). Without it a new file gets
   * 0o666 less the umask and a file replaced keeps its own.
   */
  mode?: number;
}

/**
 * A unique temp path in the directory of `path`: `DIR/.BASE.kiln-tmp-UUID`.
 *
 * @param path The final path.
 * @returns The temp path.
 *
 * @example Usage
 * ```ts
 * import { tempPathFor } from "./atomic_file.ts";
 * console.assert(tempPathFor("/out/a.tar").startsWith("/out/.a.tar.kiln-tmp-"));
 * ```
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.kiln-tmp-${randomUUID()}`);
}

/** Marks an error of the destination (as opposed to one of the data source). */
class DestError extends Error {
  constructor(readonly fsError: unknown) {
    super("destination error");
  }
}

async function dest<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new DestError(e);
  }
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
}

/**
 * Streams `data` into `path` through a unique temp file in the same directory, renamed over `path` when complete.
 * A symlink at `path` is written through (its target is replaced); an existing non-regular file (`/dev/stdout`, a
 * FIFO) is written directly. The mode (and, as root, the owner) of a file replaced is kept. Parent directories are
 * created. On any failure the temp file is removed and `path` is left as it was; destination errors become an
 * {@linkcode OutputWriteError}, errors of `data` are rethrown as they are.
 *
 * @param path The output file.
 * @param data The bytes.
 * @param options Name for messages, signal.
 *
 * @example Usage
 * ```ts ignore
 * import { writeStreamAtomic } from "./atomic_file.ts";
 * await writeStreamAtomic("/out/app.tar", tarStream, { what: "docker archive" });
 * ```
 */
export async function writeStreamAtomic(
  path: string,
  data: ReadableStream<Uint8Array>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const shown = options.shownPath ?? path;
  const what = options.what ?? "file";
  const signal = options.signal;
  const reader = data.getReader();
  let tmp: string | undefined;
  let fh: FileHandle | undefined;
  try {
    await mkdir(dirname(path), { recursive: true }).catch((e) => {
      // mkdir -p reports a file among the parents as EEXIST.
      const code = (e as { code?: string }).code;
      throw new DestError(code === "EEXIST" || code === "ENOTDIR" ? new Error("a parent is not a directory") : e);
    });
    const target = await realpath(path).catch(() => path);
    const old = await stat(target).catch(() => undefined);
    const direct = old !== undefined && !old.isFile() && !old.isDirectory();
    if (old?.isDirectory()) throw new DestError(Object.assign(new Error("is a directory"), { code: "EISDIR" }));
    if (!direct) tmp = tempPathFor(target);
    fh = await dest(open(tmp ?? target, direct ? "w" : "wx", options.mode ?? 0o666));
    if (options.mode !== undefined && !direct) await dest(fh.chmod(options.mode));
    if (old && !direct) {
      if (options.mode === undefined) await dest(fh.chmod(old.mode & 0o7777));
      if (process.getuid?.() === 0) await fh.chown(old.uid, old.gid).catch(() => {});
    }
    for (;;) {
      if (signal?.aborted) throw new AbortedError(`Writing ${what} ${shown} was aborted`);
      const { done, value } = await reader.read();
      if (done) break;
      await dest(writeAll(fh, value));
    }
    const f = fh;
    fh = undefined;
    await dest(f.close());
    if (tmp) await dest(rename(tmp, target));
    tmp = undefined;
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    await fh?.close().catch(() => {});
    if (tmp) await rm(tmp, { force: true }).catch(() => {});
    if (e instanceof DestError) throw new OutputWriteError(what, shown, e.fsError);
    throw e;
  } finally {
    reader.releaseLock();
  }
}

/**
 * Writes `data` to `path` atomically, like {@linkcode writeStreamAtomic}.
 *
 * @param path The output file.
 * @param data The bytes or text.
 * @param options Name for messages, signal.
 *
 * @example Usage
 * ```ts ignore
 * import { writeFileAtomic } from "./atomic_file.ts";
 * await writeFileAtomic("/out/digest", "sha256:…", { what: "--digest-file" });
 * ```
 */
export function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return writeStreamAtomic(path, new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), options);
}
