/**
 * Private worker for the parallel gzip writer: raw-deflates one block and a sync flush.
 * Messages carry plain ArrayBuffers: Deno's node:worker_threads clones typed arrays slowly (~150 ms/MiB) but
 * transfers ArrayBuffers in microseconds.
 *
 * @module
 */
import { parentPort } from "node:worker_threads";
import { compressBlock } from "./_deflate_block.ts";

interface WireJob {
  id: number;
  data: ArrayBuffer;
  level: number;
}

parentPort?.on("message", (job: WireJob) => {
  try {
    const out = compressBlock({
      id: job.id,
      data: new Uint8Array(job.data),
      level: job.level,
    });
    parentPort!.postMessage({ id: job.id, out: out.buffer }, [out.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: String(e) });
  }
});
