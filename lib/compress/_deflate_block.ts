/**
 * Private: compresses one block of a parallel gzip stream (shared by the worker and the in-thread path).
 *
 * @module
 */
import zlib from "node:zlib";

/** A block to compress. */
export interface BlockJob {
  /** Sequence number. */
  id: number;
  /** Uncompressed bytes. */
  data: Uint8Array;
  /** zlib level. */
  level: number;
}

/**
 * Raw-deflates `job.data` on its own (no dictionary) ending in a sync flush (byte-aligned, not final), so blocks concatenate into one
 * deflate stream. Returns a standalone buffer (safe to transfer).
 */
export function compressBlock(job: BlockJob): Uint8Array {
  const opts: zlib.ZlibOptions = { level: job.level, memLevel: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  const b = zlib.deflateRawSync(job.data, opts);
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return new Uint8Array(b.buffer);
  return new Uint8Array(b);
}
