/**
 * Private: writes a changeset (tar entries) as a compressed layer file in the work dir — the diff ID, blob digest
 * and size come from lib/compress in the same single streaming pass — and returns an Opener-backed
 * {@linkcode Layer} over that file (read again for each push or output).
 *
 * @module
 */
import { open, rename, rm } from "node:fs/promises";
import type { Digest } from "../util/mod.ts";
import { AbortedError, type ChunkPool, KilnError, readFileStream } from "../util/mod.ts";
import { TarWriterStream } from "../tar/mod.ts";
import type { TarEntry } from "../tar/mod.ts";
import { compressLayer } from "../compress/mod.ts";
import { compressedLayer, MediaTypes } from "../image/mod.ts";
import type { Layer } from "../image/mod.ts";

/** Layer compression for new layers. */
export type Compression = "gzip" | "zstd";

/** A layer written to disk. */
export interface LayerFile {
  /** The layer (reads the file on demand). */
  layer: Layer;
  /** Blob digest. */
  digest: Digest;
  /** Diff ID. */
  diffId: Digest;
  /** Compressed size. */
  size: number;
  /** Uncompressed tar size. */
  uncompressedSize: number;
  /** Path of the blob file. */
  path: string;
}

/**
 * Writes `entries` as a compressed layer file at `path`.
 *
 * @param entries The changeset.
 * @param options File path, compression, level, signal.
 * @returns The written layer.
 */
export async function writeLayerFile(
  entries: ReadableStream<TarEntry>,
  options: {
    path: string;
    compression: Compression;
    level?: number;
    parallel?: boolean;
    addonPath?: string;
    /** Buffers of the layer stream: given to gzip, and each written chunk is given back. */
    pool?: ChunkPool;
    /** Called with the compressed bytes written so far, at most every 250 ms (for a live display). */
    onBytes?: (bytes: number) => void;
    signal?: AbortSignal;
  },
): Promise<LayerFile> {
  const tmp = `${options.path}.partial`;
  const level = options.level !== undefined && options.level > 0 ? options.level : undefined;
  const tar = entries.pipeThrough(new TarWriterStream(options.pool ? { pool: options.pool } : {}));
  const { stream, result } = compressLayer(tar, {
    compression: options.compression,
    parallel: options.parallel ?? true,
    ...(options.addonPath === undefined ? {} : { addonPath: options.addonPath }),
    ...(options.pool ? { pool: options.pool } : {}),
    ...(level === undefined ? {} : { level }),
  });
  const fh = await open(tmp, "w");
  let info;
  let written = 0;
  let nextReport = performance.now() + 250;
  try {
    const reader = stream.getReader();
    for (;;) {
      if (options.signal?.aborted) {
        await reader.cancel();
        throw new AbortedError("Build aborted");
      }
      const { done, value } = await reader.read();
      if (done) break;
      let off = 0;
      while (off < value.byteLength) off += (await fh.write(value, off, value.byteLength - off)).bytesWritten;
      written += value.byteLength;
      options.pool?.give(value);
      if (options.onBytes && performance.now() >= nextReport) {
        nextReport = performance.now() + 250;
        options.onBytes(written);
      }
    }
    await fh.close();
    info = await result;
    await rename(tmp, options.path);
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    if (e instanceof KilnError) throw e;
    throw new KilnError(`Cannot write layer ${options.path}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
  const mediaType = options.compression === "zstd" ? MediaTypes.OCI_LAYER_ZSTD : MediaTypes.OCI_LAYER_GZIP;
  const path = options.path;
  const layer = compressedLayer({
    mediaType,
    digest: info.digest,
    size: info.size,
    diffId: info.diffId,
    open: () => Promise.resolve(readFileStream(path)),
    file: path,
  });
  return { layer, ...info, path };
}
