/**
 * Private file helpers: streaming a blob into a content-addressed store through a temp file.
 *
 * @module
 */
import { createHash, randomUUID } from "node:crypto";
import { type FileHandle, mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  AbortedError,
  type AtomicWriteOptions,
  type Digest,
  OutputWriteError,
  writeFileAtomic as writeAtomic,
} from "../util/mod.ts";
import { DigestMismatchError } from "./_streams.ts";

/**
 * True if `path` exists.
 *
 * @deprecated Use `exists` from lib/util/exists.ts (the same function).
 */
export { exists } from "../util/mod.ts";

/** Options for {@linkcode writeBlobFile}. */
export interface WriteBlobOptions {
  /** Expected digest (the blob is not stored when it differs). */
  digest?: Digest | undefined;
  /** Expected size. */
  size?: number | undefined;
  /** What is stored, for mismatch messages. */
  source?: string;
  /** The output to name when the destination fails (default: the parent of `blobsDir`). */
  shownPath?: string;
  /** Cancels the write (the temp file is removed). */
  signal?: AbortSignal | undefined;
}

/**
 * Writes `stream` to `blobsDir/sha256/<hex>` via a temp file in the same directory, hashing while writing;
 * renames only after the digest (and size) matched `expected` when given. The temp file is removed on any
 * failure; errors of the destination (ENOSPC…) become an {@linkcode OutputWriteError} naming the OCI layout.
 */
export async function writeBlobFile(
  blobsDir: string,
  stream: ReadableStream<Uint8Array>,
  expected?: WriteBlobOptions,
): Promise<{ digest: Digest; size: number }> {
  const dir = join(blobsDir, "sha256");
  const shown = expected?.shownPath ?? dirname(blobsDir);
  const fail = (e: unknown) => new OutputWriteError("OCI layout", shown, e);
  const reader = stream.getReader();
  let tmp: string | undefined;
  let fh: FileHandle | undefined;
  try {
    await mkdir(dir, { recursive: true }).catch((e) => Promise.reject(fail(e)));
    tmp = join(dir, `.tmp-${randomUUID()}`);
    const file = await open(tmp, "wx").catch((e) => Promise.reject(fail(e)));
    fh = file;
    const hash = createHash("sha256");
    let size = 0;
    for (;;) {
      if (expected?.signal?.aborted) throw new AbortedError(`Writing OCI layout ${shown} was aborted`);
      const { done, value: chunk } = await reader.read();
      if (done) break;
      hash.update(chunk);
      size += chunk.byteLength;
      try {
        let off = 0;
        while (off < chunk.byteLength) off += (await file.write(chunk, off, chunk.byteLength - off)).bytesWritten;
      } catch (e) {
        throw fail(e);
      }
    }
    fh = undefined;
    await file.close().catch((e) => Promise.reject(fail(e)));
    const digest = `sha256:${hash.digest("hex")}` as Digest;
    const what = expected?.source ?? "blob";
    if (expected?.size !== undefined && expected.size !== size) {
      throw new DigestMismatchError(`Cannot store ${what}: got ${size} bytes, expected ${expected.size}`);
    }
    if (expected?.digest !== undefined && expected.digest !== digest) {
      throw new DigestMismatchError(`Cannot store ${what}: digest is ${digest}, expected ${expected.digest}`);
    }
    await rename(tmp, join(dir, digest.slice(7))).catch((e) => Promise.reject(fail(e)));
    tmp = undefined;
    return { digest, size };
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    await fh?.close().catch(() => {});
    if (tmp) await rm(tmp, { force: true }).catch(() => {});
    throw err;
  } finally {
    reader.releaseLock();
  }
}

/**
 * Writes bytes to `path` atomically (unique temp file + rename, see lib/util/atomic_file.ts).
 *
 * @param path The file.
 * @param data Its content.
 * @param options Output name for messages.
 */
export function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  return writeAtomic(path, data, options);
}

/**
 * Runs `fn` over `items` with at most `limit` in flight.
 *
 * @deprecated Use `mapLimit` from lib/util/map_limit.ts (the same function).
 */
export { mapLimit } from "../util/mod.ts";
