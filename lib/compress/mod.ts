/**
 * Compression for layers and archives: streaming gzip (block-parallel by default), zstd, decompression with
 * magic-byte detection (gzip, zstd, bzip2, xz), and {@linkcode compressLayer} computing digest, size and diffID in
 * one pass.
 *
 * ```ts
 * import { compressLayer } from "./mod.ts";
 * const { stream, result } = compressLayer(new Blob(["tar bytes"]).stream(), { compression: "gzip" });
 * await stream.pipeTo(new WritableStream());
 * console.log(await result);
 * ```
 *
 * @module
 */
export * from "./gzip.ts";
export * from "./zstd.ts";
export * from "./decompress.ts";
export * from "./layer.ts";
