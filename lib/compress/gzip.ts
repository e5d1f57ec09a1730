/**
 * Streaming gzip compression: single-threaded (node:zlib) or block-parallel (pigz-style, worker threads).
 *
 * @module
 */
import zlib from "node:zlib";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { KilnError } from "../util/errors.ts";
import { fromNodeTransform } from "./_node.ts";
import { type BlockJob, compressBlock } from "./_deflate_block.ts";
import { checkLevel } from "./_level.ts";

/** Options for {@linkcode createGzipStream}. */
export interface GzipOptions {
  /** zlib level 0–9 (default 6, like `gzip -6`). */
  level?: number;
  /**
   * Block-parallel (pigz `-i` style) mode. `true` (default) uses `min(cores, 4)` worker threads when there is more
   * than one core and compresses in-thread otherwise; a number sets the worker count (0 = in-thread);
   * `false` uses one plain zlib gzip stream (different bytes, the classic `gzip` layout).
   *
   * In block mode the output is one gzip member whose deflate stream is made of independently compressed
   * `blockSize` blocks, each ending in a sync flush (no preset dictionary: Deno's node:zlib ignores one, and
   * honouring it elsewhere would change the bytes). The bytes depend only on the
   * input, `level` and `blockSize` — never on the worker count or timing — so digests are reproducible across
   * machines.
   */
  parallel?: boolean | number;
  /** Uncompressed block size in block mode (default 1 MiB). */
  blockSize?: number;
}

/** gzip header: magic, CM=deflate, no flags, mtime 0, XFL 0, OS 255 (unknown) — like Go's compress/gzip. */
const GZIP_HEADER = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
/** An empty final fixed-Huffman deflate block, ending the stream after sync-flushed blocks. */
const FINAL_BLOCK = new Uint8Array([0x03, 0x00]);

function zlibError(e: unknown): KilnError {
  return new KilnError(`Cannot gzip stream: ${(e as Error).message ?? e}`, { cause: e });
}

/**
 * Creates a gzip compressor. By default it is block-parallel across worker threads (see
 * {@linkcode GzipOptions.parallel}); the result is a single standard gzip member.
 *
 * @param options Level and parallelism.
 * @returns A TransformStream from raw bytes to gzip bytes.
 *
 * @example Usage
 * ```ts
 * import { createGzipStream } from "./gzip.ts";
 * const gz = new Blob(["hello"]).stream().pipeThrough(createGzipStream({ level: 6, parallel: 0 }));
 * const bytes = new Uint8Array(await new Response(gz).arrayBuffer());
 * console.assert(bytes[0] === 0x1f && bytes[1] === 0x8b);
 * ```
 */
export function createGzipStream(options: GzipOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const level = checkLevel(options.level ?? 6, 9, "gzip");
  const parallel = options.parallel ?? true;
  if (parallel === false) return fromNodeTransform(zlib.createGzip({ level }), zlibError);
  const workers = parallel === true
    ? (availableParallelism() > 1 ? Math.min(availableParallelism(), 4) : 0)
    : Math.max(0, Math.floor(parallel));
  return parallelGzip(level, workers, options.blockSize ?? 1024 * 1024);
}

interface Pool {
  run(job: BlockJob): Promise<Uint8Array>;
  close(): void;
}

function createPool(n: number): Pool {
  if (n === 0) {
    return {
      run: (job) => {
        try {
          return Promise.resolve(compressBlock(job));
        } catch (e) {
          return Promise.reject(zlibError(e));
        }
      },
      close: () => {},
    };
  }
  interface Pending {
    job: BlockJob;
    resolve: (b: Uint8Array) => void;
    reject: (e: unknown) => void;
  }
  const pending = new Map<number, Pending>();
  const workers: Worker[] = [];
  let broken = false; // a worker failed to start or crashed: compress in-thread from now on
  let next = 0;
  const inThread = (p: Pending): void => {
    try {
      p.resolve(compressBlock(p.job));
    } catch (e) {
      p.reject(zlibError(e));
    }
  };
  const idle = (): void => {
    if (pending.size === 0) { for (const x of workers) x.unref(); // idle workers never keep the process alive
     }
  };
  try {
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL("./_gzip_worker.js", import.meta.url));
      w.unref();
      w.on("message", (m: { id: number; out?: ArrayBuffer; error?: string }) => {
        const p = pending.get(m.id);
        if (!p) return;
        pending.delete(m.id);
        idle();
        if (m.out) p.resolve(new Uint8Array(m.out));
        else p.reject(zlibError(new Error(m.error)));
      });
      w.on("error", () => {
        // E.g. the worker file is missing from a `deno compile` binary: finish the pending blocks here.
        broken = true;
        const all = [...pending.values()];
        pending.clear();
        idle();
        for (const p of all) inThread(p);
      });
      workers.push(w);
    }
  } catch {
    broken = true;
  }
  return {
    run(job) {
      return new Promise((resolve, reject) => {
        const p: Pending = { job, resolve, reject };
        if (broken || workers.length === 0) return inThread(p);
        if (pending.size === 0) { for (const x of workers) x.ref(); }
        pending.set(job.id, p);
        const w = workers[next++ % workers.length]!;
        // A plain ArrayBuffer, copied rather than transferred (see _gzip_worker.js) so the block can still be
        // compressed here if the worker dies. `data` always owns its whole buffer.
        w.postMessage({ id: job.id, level: job.level, data: job.data.buffer as ArrayBuffer });
      });
    },
    close() {
      for (const w of workers) void w.terminate();
    },
  };
}

function parallelGzip(level: number, workers: number, blockSize: number): TransformStream<Uint8Array, Uint8Array> {
  if (!Number.isInteger(blockSize) || blockSize < 64 * 1024) {
    throw new RangeError(`Cannot compress with gzip: block size ${blockSize} is below 64 KiB`);
  }
  let pool: Pool | undefined;
  let block = new Uint8Array(blockSize);
  let fill = 0;
  let crc = 0;
  let total = 0;
  let id = 0;
  const inFlight: Promise<Uint8Array>[] = [];
  const maxInFlight = Math.max(2, workers * 2);

  function dispatch(last: boolean): void {
    const data = fill === blockSize ? block : block.slice(0, fill);
    crc = zlib.crc32(data, crc);
    total += fill;
    const job: BlockJob = { id: id++, data, level };
    // Workers start with the first full block; a stream of one block (small layers) never pays for them.
    pool ??= createPool(last && id === 1 ? 0 : workers);
    const p = pool.run(job);
    p.catch(() => {});
    inFlight.push(p);
    block = new Uint8Array(blockSize);
    fill = 0;
  }

  return new TransformStream<Uint8Array, Uint8Array>({
    start(c) {
      c.enqueue(GZIP_HEADER.slice());
    },
    async transform(chunk, c) {
      try {
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(blockSize - fill, chunk.length - off);
          block.set(chunk.subarray(off, off + n), fill);
          fill += n;
          off += n;
          if (fill === blockSize) {
            dispatch(false);
            while (inFlight.length >= maxInFlight) c.enqueue(await inFlight.shift()!);
          }
        }
      } catch (e) {
        pool?.close();
        throw e;
      }
    },
    async flush(c) {
      try {
        if (fill > 0) dispatch(true);
        while (inFlight.length) c.enqueue(await inFlight.shift()!);
        const trailer = new Uint8Array(10);
        trailer.set(FINAL_BLOCK, 0);
        const dv = new DataView(trailer.buffer);
        dv.setUint32(2, crc >>> 0, true);
        dv.setUint32(6, total % 0x100000000, true);
        c.enqueue(trailer);
      } finally {
        pool?.close();
      }
    },
    cancel() {
      pool?.close();
    },
  });
}

/**
 * Creates a gunzip stream (multi-member gzip is read as one stream, like `gzip -d`).
 *
 * @returns A TransformStream from gzip bytes to raw bytes.
 *
 * @example Usage
 * ```ts
 * import { createGunzipStream, createGzipStream } from "./gzip.ts";
 * const s = new Blob(["hi"]).stream().pipeThrough(createGzipStream({ parallel: 0 })).pipeThrough(createGunzipStream());
 * console.assert(await new Response(s).text() === "hi");
 * ```
 */
export function createGunzipStream(): TransformStream<Uint8Array, Uint8Array> {
  return fromNodeTransform(
    zlib.createGunzip(),
    (e) => new KilnError(`Cannot decompress gzip data: ${(e as Error).message ?? e}`, { cause: e }),
  );
}
