/**
 * Private file helpers: streaming a blob into a content-addressed store through a temp file.
 *
 * @module
 */
import { createHash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { dirname, join } from "node:path";
import type { Digest } from "../util/digest.ts";
import { DigestMismatchError } from "./_streams.ts";

/** Opens a file as a web stream (optionally a byte range, end exclusive). */
export function fileStream(path: string, range?: { start: number; end: number }): ReadableStream<Uint8Array> {
  const opts: Parameters<typeof createReadStream>[1] = { highWaterMark: 1 << 20 };
  if (range) {
    if (range.end <= range.start) return new Blob([]).stream();
    opts.start = range.start;
    opts.end = range.end - 1;
  }
  return Readable.toWeb(createReadStream(path, opts)) as unknown as ReadableStream<Uint8Array>;
}

/** True if `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes `stream` to `blobsDir/sha256/<hex>` via a temp file in the same directory, hashing while writing;
 * renames only after the digest (and size) matched `expected` when given.
 */
export async function writeBlobFile(
  blobsDir: string,
  stream: ReadableStream<Uint8Array>,
  expected?: { digest?: Digest | undefined; size?: number | undefined; source?: string },
): Promise<{ digest: Digest; size: number }> {
  const dir = join(blobsDir, "sha256");
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${randomUUID()}`);
  const fh = await open(tmp, "w");
  const hash = createHash("sha256");
  let size = 0;
  try {
    for await (const chunk of stream) {
      hash.update(chunk);
      size += chunk.byteLength;
      let off = 0;
      while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
    }
    await fh.close();
    const digest = `sha256:${hash.digest("hex")}` as Digest;
    const what = expected?.source ?? "blob";
    if (expected?.size !== undefined && expected.size !== size) {
      throw new DigestMismatchError(`Cannot store ${what}: got ${size} bytes, expected ${expected.size}`);
    }
    if (expected?.digest !== undefined && expected.digest !== digest) {
      throw new DigestMismatchError(`Cannot store ${what}: digest is ${digest}, expected ${expected.digest}`);
    }
    await rename(tmp, join(dir, digest.slice(7)));
    return { digest, size };
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes bytes to `path` atomically (temp + rename). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${randomUUID()}`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects on the first failure. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  async function worker() {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
