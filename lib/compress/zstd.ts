/**
 * Streaming zstd compression and decompression (node:zlib).
 *
 * @module
 */
import zlib from "node:zlib";
import { KilnError } from "../util/mod.ts";
import { fromNodeTransform } from "./_node.ts";
import { checkLevel } from "./_level.ts";
import { rechunk } from "./_rechunk.ts";
import { zstdFrameCheck } from "./_zstd_frames.ts";

/** Options for {@linkcode createZstdStream}. */
export interface ZstdOptions {
  /** zstd level 1–22 (default 3, like `zstd -3`). */
  level?: number;
  /** Worker threads inside libzstd (default 0: single-threaded, deterministic output). */
  workers?: number;
}

/**
 * Creates a zstd compressor. The output is a single zstd frame; for the same input and level it is deterministic
 * (input is fed in fixed 1 MiB writes).
 *
 * @param options Level.
 * @returns A TransformStream from raw bytes to zstd bytes.
 *
 * @example Usage
 * ```ts
 * import { createZstdStream } from "./zstd.ts";
 * const z = new Blob(["hello"]).stream().pipeThrough(createZstdStream({ level: 3 }));
 * const bytes = new Uint8Array(await new Response(z).arrayBuffer());
 * console.assert(bytes[0] === 0x28 && bytes[1] === 0xb5);
 * ```
 */
export function createZstdStream(options: ZstdOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const level = checkLevel(options.level ?? 3, 22, "zstd");
  const params: Record<number, number> = { [zlib.constants.ZSTD_c_compressionLevel]: Math.max(level, 1) };
  if (options.workers) params[zlib.constants.ZSTD_c_nbWorkers] = options.workers;
  // Fixed 1 MiB writes: Deno's zstd stream flushes per write, so the output would otherwise depend on chunking.
  const re = rechunk(1024 * 1024);
  const z = fromNodeTransform(
    zlib.createZstdCompress({ params }),
    (e) => new KilnError(`Cannot zstd-compress stream: ${(e as Error).message ?? e}`, { cause: e }),
  );
  return { writable: re.writable, readable: re.readable.pipeThrough(z) } as TransformStream<Uint8Array, Uint8Array>;
}

/**
 * Creates a zstd decompressor.
 *
 * @returns A TransformStream from zstd bytes to raw bytes.
 *
 * @example Usage
 * ```ts
 * import { createZstdStream, createZstdDecompressStream } from "./zstd.ts";
 * const s = new Blob(["hi"]).stream().pipeThrough(createZstdStream()).pipeThrough(createZstdDecompressStream());
 * console.assert(await new Response(s).text() === "hi");
 * ```
 */
export function createZstdDecompressStream(): TransformStream<Uint8Array, Uint8Array> {
  // node:zlib's zstd decoder ends quietly on truncated input; the frame check reports it.
  const check = zstdFrameCheck();
  const z = fromNodeTransform(
    zlib.createZstdDecompress(),
    (e) => new KilnError(`Cannot decompress zstd data: ${(e as Error).message ?? e}`, { cause: e }),
  );
  return { writable: check.writable, readable: check.readable.pipeThrough(z) } as TransformStream<
    Uint8Array,
    Uint8Array
  >;
}
