// @ts-check
/**
 * Private worker for the parallel gzip writer: raw-deflates one block on its own, ending in a sync flush, exactly
 * like `compressBlock` in _deflate_block.ts (keep the two in step). It says `{ready: true}` once loaded, and hands
 * the input buffer back with the output so the main thread can reuse it.
 *
 * Plain JavaScript so that `deno test`/`deno bench` do not type-check it again for every worker (seconds per layer).
 * Messages carry plain ArrayBuffers: Deno's node:worker_threads clones typed arrays slowly (~150 ms/MiB) but
 * transfers ArrayBuffers in microseconds.
 *
 * @module
 */
import zlib from "node:zlib";
import { parentPort } from "node:worker_threads";

parentPort?.on("message", (/** @type {{ id: number; data: ArrayBuffer; len: number; level: number }} */ job) => {
  try {
    // One output buffer larger than any block's deflate output: the result is a view of it, transferred whole, so
    // this thread keeps no garbage (with 16 KiB chunks, each worker heap held ~50 MiB of dead buffers between GCs).
    const b = zlib.deflateRawSync(new Uint8Array(job.data, 0, job.len), {
      level: job.level,
      memLevel: 9,
      chunkSize: job.len + 65536,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    // (A small Buffer may sit in a shared allocation pool: never transfer that one, copy it.)
    const out = b.byteOffset === 0 && b.buffer.byteLength >= 65536 ? b.buffer : new Uint8Array(b).buffer;
    parentPort?.postMessage({ id: job.id, out, len: b.byteLength, data: job.data }, [out, job.data]);
  } catch (e) {
    parentPort?.postMessage({ id: job.id, error: String(e), data: job.data }, [job.data]);
  }
});
parentPort?.postMessage({ ready: true });
