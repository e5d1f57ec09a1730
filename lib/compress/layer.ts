/**
 * Layer compression: compressed digest/size and diffID in one streaming pass.
 *
 * @module
 */
import { type ChunkPool, type Digest, HashingStream } from "../util/mod.ts";
import type { Compression } from "./decompress.ts";
import { createGzipStream } from "./gzip.ts";
import { createZstdStream } from "./zstd.ts";

/** Options for {@linkcode compressLayer}. */
export interface CompressLayerOptions {
  /** Output compression (default gzip). */
  compression?: Compression;
  /** Level (default: gzip 6, zstd 3). */
  level?: number;
  /** gzip block parallelism; see `GzipOptions.parallel` (default true). */
  parallel?: boolean | number;
  /** The native addon for gzip's libdeflate engine; see `GzipOptions.addonPath`. */
  addonPath?: string;
  /** Buffers shared with the tar's producer and the stream's consumer; see `GzipOptions.pool` (gzip only). */
  pool?: ChunkPool;
}

/** Digests and sizes of a compressed layer. */
export interface CompressedLayerInfo {
  /** Digest of the compressed bytes (the layer blob digest). */
  digest: Digest;
  /** Size of the compressed bytes. */
  size: number;
  /** Digest of the uncompressed tar (the diffID in the image config). */
  diffId: Digest;
  /** Size of the uncompressed tar. */
  uncompressedSize: number;
}

/**
 * Compresses a layer tar stream, hashing the tar (diffID) and the compressed output (digest) as the bytes flow.
 * `result` resolves once `stream` has been read to the end.
 *
 * @param tar The uncompressed layer tar.
 * @param options Compression, level, parallelism.
 * @returns The compressed stream and a promise of its digests and sizes.
 *
 * @example Usage
 * ```ts
 * import { compressLayer } from "./layer.ts";
 * const { stream, result } = compressLayer(new Blob(["not really a tar"]).stream(), { compression: "zstd" });
 * await stream.pipeTo(new WritableStream());
 * const info = await result;
 * console.assert(info.uncompressedSize === 16 && info.digest !== info.diffId);
 * ```
 */
export function compressLayer(
  tar: ReadableStream<Uint8Array>,
  options: CompressLayerOptions = {},
): { stream: ReadableStream<Uint8Array>; result: Promise<CompressedLayerInfo> } {
  const compression = options.compression ?? "gzip";
  const inner = new HashingStream();
  const outer = new HashingStream();
  let stream = tar.pipeThrough(inner);
  if (compression === "gzip") {
    stream = stream.pipeThrough(createGzipStream({
      ...(options.level === undefined ? {} : { level: options.level }),
      ...(options.parallel === undefined ? {} : { parallel: options.parallel }),
      ...(options.addonPath === undefined ? {} : { addonPath: options.addonPath }),
      ...(options.pool ? { pool: options.pool } : {}),
    }));
  } else if (compression === "zstd") {
    stream = stream.pipeThrough(createZstdStream(options.level === undefined ? {} : { level: options.level }));
  } else if (compression !== "none") {
    throw new RangeError(`Cannot compress layer: unknown compression ${JSON.stringify(compression)}`);
  }
  const reader = stream.pipeThrough(outer).getReader();
  let fail!: (e: unknown) => void;
  const failed = new Promise<never>((_, reject) => fail = reject);
  const result = Promise.race([Promise.all([inner.summary, outer.summary]), failed]).then(([u, c]) => ({
    digest: c.digest,
    size: c.size,
    diffId: u.digest,
    uncompressedSize: u.size,
  }));
  result.catch(() => {});
  const out = new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const r = await reader.read();
        if (r.done) c.close();
        else c.enqueue(r.value);
      } catch (e) {
        fail(e);
        throw e;
      }
    },
    async cancel(reason) {
      fail(reason ?? new Error("Cannot compress layer: the output stream was cancelled"));
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return { stream: out, result };
}
