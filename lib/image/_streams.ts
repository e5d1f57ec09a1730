/**
 * Private stream helpers: compression, digest verification, memoization.
 *
 * @module
 */
import zlib from "node:zlib";
import { Duplex } from "node:stream";
import { createHash } from "node:crypto";
import { type Digest, KilnError } from "../util/mod.ts";
import type { LayerCompression } from "./media_types.ts";

/** Memoizes an async thunk; a rejected attempt is not cached. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    if (!p) {
      p = fn();
      p.catch(() => p = undefined);
    }
    return p;
  };
}

function nodeTransform(d: Duplex): TransformStream<Uint8Array, Uint8Array> {
  return Duplex.toWeb(d) as unknown as TransformStream<Uint8Array, Uint8Array>;
}

/** A gzip compressor (node:zlib, deterministic header). */
export function gzipStream(level = 6): TransformStream<Uint8Array, Uint8Array> {
  return nodeTransform(zlib.createGzip({ level, chunkSize: 64 * 1024 }));
}

/** A decompressor for a layer's compression. */
export function decompressStream(c: LayerCompression): TransformStream<Uint8Array, Uint8Array> | undefined {
  if (c === "gzip") return nodeTransform(zlib.createGunzip({ chunkSize: 64 * 1024 }));
  if (c === "zstd") return nodeTransform(zlib.createZstdDecompress());
  return undefined;
}

/** A compressor for a layer's compression. */
export function compressStream(
  c: LayerCompression,
  level?: number,
): TransformStream<Uint8Array, Uint8Array> | undefined {
  if (c === "gzip") return gzipStream(level);
  if (c === "zstd") {
    return nodeTransform(
      zlib.createZstdCompress(
        level === undefined ? {} : { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } },
      ),
    );
  }
  return undefined;
}

/**
 * Content whose digest or size differs from what was expected. Nothing partial is kept.
 */
export class DigestMismatchError extends KilnError {
  /**
   * Creates the error.
   *
   * @param message One line.
   */
  constructor(message: string) {
    super(message);
    this.name = "DigestMismatchError";
  }
}

/**
 * A pass-through that errors at the end (or as soon as the size is exceeded) when the content does not
 * match `digest` / `size`.
 */
export function verifyStream(
  expected: { digest: Digest; size?: number | undefined },
  source: string,
): TransformStream<Uint8Array, Uint8Array> {
  const hash = createHash("sha256");
  let n = 0;
  return new TransformStream({
    transform(chunk, ctl) {
      n += chunk.byteLength;
      if (expected.size !== undefined && n > expected.size) {
        ctl.error(new DigestMismatchError(`Cannot verify ${source}: more than the expected ${expected.size} bytes`));
        return;
      }
      hash.update(chunk);
      ctl.enqueue(chunk);
    },
    flush(ctl) {
      if (expected.size !== undefined && n !== expected.size) {
        ctl.error(new DigestMismatchError(`Cannot verify ${source}: got ${n} bytes, expected ${expected.size}`));
        return;
      }
      const got = `sha256:${hash.digest("hex")}`;
      if (got !== expected.digest) {
        ctl.error(new DigestMismatchError(`Cannot verify ${source}: digest is ${got}, expected ${expected.digest}`));
      }
    },
  });
}

/** Reads a whole (small) stream into bytes. */
export async function readAll(stream: ReadableStream<Uint8Array>, limit = 64 * 1024 * 1024): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream) {
    n += c.byteLength;
    if (n > limit) throw new KilnError(`Cannot read document: larger than ${limit} bytes`);
    parts.push(c);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** Hashes and counts a stream to the end. */
export async function drainDigest(stream: ReadableStream<Uint8Array>): Promise<{ digest: Digest; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const c of stream) {
    hash.update(c);
    size += c.byteLength;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

/** A stream of one chunk. */
export function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
}
