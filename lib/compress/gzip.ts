/**
 * Streaming gzip compression: block-parallel (pigz-style) with libdeflate on the native addon's threads, or with
 * node:zlib in worker threads when the addon is missing; or one plain node:zlib stream.
 *
 * @module
 */
import zlib from "node:zlib";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { type ChunkPool, KilnError } from "../util/mod.ts";
import { fromNodeTransform } from "./_node.ts";
import { compressBlock } from "./_deflate_block.ts";
import { checkLevel } from "./_level.ts";
import { loadNativeDeflate, type NativeDeflate } from "./_native.ts";

/** Options for {@linkcode createGzipStream}. */
export interface GzipOptions {
  /** zlib level 0–9 (default 6, like `gzip -6`). */
  level?: number;
  /**
   * Block-parallel (pigz `-i` style) mode. `true` (default) uses `min(cores, 4)` worker threads when there is more
   * than one core and compresses in-thread otherwise; a number sets the worker count (0 = in-thread);
   * `false` uses one plain zlib gzip stream (different bytes, the classic `gzip` layout). Workers start only past
   * `workerThreshold` and take blocks once they are ready; until then blocks are compressed in this thread.
   *
   * In block mode the output is one gzip member whose deflate stream is made of independently compressed
   * `blockSize` blocks, each ending in a sync flush (no preset dictionary: Deno's node:zlib ignores one, and
   * honouring it elsewhere would change the bytes); blocks use zlib's memLevel 9 (~5% faster than 8). The bytes
   * depend only on the input, `level`, `blockSize` and the {@linkcode GzipOptions.engine} — never on the worker
   * count, threshold or timing — so digests are reproducible across machines.
   */
  parallel?: boolean | number;
  /** Uncompressed block size in block mode (default 1 MiB). */
  blockSize?: number;
  /**
   * Block mode's deflate engine. `"auto"` (default): libdeflate in kiln's native addon when it is built (~1.4× the
   * speed of node:zlib per core, on native threads: no worker heaps), else node:zlib; `"libdeflate"` fails when the
   * addon is missing; `"zlib"` always uses node:zlib. Both make a valid single-member gzip stream; the bytes differ
   * between engines (so a reproducible digest holds for one engine: every kiln built by `npm install` with
   * libdeflate-dev present, and the release binaries, use libdeflate).
   */
  engine?: "auto" | "libdeflate" | "zlib";
  /** The addon file for the libdeflate engine (tests; default native/build/Release/kiln_native.node). */
  addonPath?: string;
  /**
   * Block mode, zlib engine: uncompressed bytes after which the worker threads start (default 32 MiB). Below it
   * blocks are compressed in this thread, so small layers pay neither the threads' start-up nor their memory
   * (~15 MiB each).
   */
  workerThreshold?: number;
  /**
   * Buffers shared with the stream's producer and consumer: every input chunk that is a pool buffer is given back
   * once its bytes are copied (gzip is their last reader), and the libdeflate engine writes its output blocks into
   * pool buffers when they are large enough (the consumer gives them back). Without it chunks are left to the
   * garbage collector.
   */
  pool?: ChunkPool;
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
  const engine = options.engine ?? "auto";
  let native: NativeDeflate | undefined;
  if (engine !== "zlib") {
    const r = options.addonPath === undefined ? loadNativeDeflate() : loadNativeDeflate(options.addonPath);
    if (r.ok) native = r.deflate;
    else if (engine === "libdeflate") throw new KilnError(`Cannot compress with libdeflate: ${r.reason}`);
  }
  const blockSize = options.blockSize ?? 1024 * 1024;
  return parallelGzip(level, workers, blockSize, options.workerThreshold ?? 32 * 1024 * 1024, native, options.pool);
}

/**
 * Blocks compressed by the addon on its threads (libuv's pool). The block buffer is handed back once the addon is
 * done with it; the output goes into a buffer of `chunks` when given, else into the addon's own.
 */
function nativePool(
  native: NativeDeflate,
  level: number,
  recycle: (buf: Uint8Array) => void,
  chunks: ChunkPool | undefined,
): Pool {
  return {
    run: (_id, buf, len) => {
      const into = chunks?.take();
      return native.deflateBlock(buf.subarray(0, len), level, into).then(
        (out) => {
          recycle(buf);
          if (into && out.buffer !== into.buffer) chunks?.give(into); // the block did not fit: unused
          return out;
        },
        (e) => {
          throw zlibError(e);
        },
      );
    },
    close: () => {},
  };
}

interface Pool {
  /** Compresses `buf[0, len)`; `buf` (blockSize bytes) is handed back through `recycle` when done. */
  run(id: number, buf: Uint8Array, len: number): Promise<Uint8Array>;
  close(): void;
}

interface Slot {
  w: Worker;
  ready: boolean;
  queue: Array<{ id: number; buf: Uint8Array; len: number }>;
}

interface Pending {
  resolve: (b: Uint8Array) => void;
  reject: (e: unknown) => void;
}

/**
 * A pool of `n` deflate workers (0: in-thread). Block buffers are transferred to a worker and back, then reused,
 * so steady state allocates only the compressed output. A worker that fails before its ready message (e.g. its
 * file is missing from a compiled binary) turns the pool into in-thread compression; nothing is lost.
 */
function createPool(n: number, level: number, recycle: (buf: Uint8Array) => void): Pool {
  const inThread = (id: number, buf: Uint8Array, len: number): Promise<Uint8Array> => {
    try {
      const out = compressBlock({ id, data: buf.subarray(0, len), level });
      recycle(buf);
      return Promise.resolve(out);
    } catch (e) {
      return Promise.reject(zlibError(e));
    }
  };
  if (n === 0) return { run: inThread, close: () => {} };
  const pending = new Map<number, Pending>();
  const slots: Slot[] = [];
  let broken = false;
  let next = 0;
  const refresh = (): void => {
    // Workers keep the process alive only while they have work.
    const busy = pending.size > 0 || slots.some((s) => s.queue.length > 0);
    for (const s of slots) busy ? s.w.ref() : s.w.unref();
  };
  const post = (slot: Slot, id: number, buf: Uint8Array, len: number): void => {
    const data = buf.buffer as ArrayBuffer;
    slot.w.postMessage({ id, data, len, level }, [data]);
  };
  try {
    for (let i = 0; i < n; i++) {
      const slot: Slot = { w: new Worker(new URL("./_gzip_worker.js", import.meta.url)), ready: false, queue: [] };
      slot.w.unref();
      slot.w.on(
        "message",
        (m: { ready?: boolean; id: number; out?: ArrayBuffer; len?: number; data?: ArrayBuffer; error?: string }) => {
          if (m.ready) {
            slot.ready = true;
            for (const q of slot.queue.splice(0)) post(slot, q.id, q.buf, q.len);
            return;
          }
          if (m.data) recycle(new Uint8Array(m.data));
          const p = pending.get(m.id);
          if (!p) return;
          pending.delete(m.id);
          refresh();
          if (m.out) p.resolve(new Uint8Array(m.out, 0, m.len ?? m.out.byteLength));
          else p.reject(zlibError(new Error(m.error)));
        },
      );
      slot.w.on("error", (e) => {
        if (!slot.ready) {
          broken = true; // never started: compress its queued blocks here
          for (const q of slot.queue.splice(0)) {
            const p = pending.get(q.id);
            pending.delete(q.id);
            inThread(q.id, q.buf, q.len).then(p?.resolve, p?.reject);
          }
        } else {
          for (const p of pending.values()) p.reject(zlibError(e));
          pending.clear();
        }
        refresh();
      });
      slots.push(slot);
    }
  } catch {
    broken = true;
  }
  return {
    run(id, buf, len) {
      if (broken || slots.length === 0) return inThread(id, buf, len);
      // Until a worker is ready (start-up takes 40 ms on a quiet machine, far more under load), blocks are
      // compressed here: the stream never waits for threads, whatever the machine's load.
      const ready = slots.filter((s) => s.ready);
      if (ready.length === 0) return inThread(id, buf, len);
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        post(ready[next++ % ready.length]!, id, buf, len);
        refresh();
      });
    },
    close() {
      for (const s of slots) void s.w.terminate();
    },
  };
}

function parallelGzip(
  level: number,
  workers: number,
  blockSize: number,
  threshold: number,
  native: NativeDeflate | undefined,
  chunks: ChunkPool | undefined,
): TransformStream<Uint8Array, Uint8Array> {
  if (!Number.isInteger(blockSize) || blockSize < 64 * 1024) {
    throw new RangeError(`Cannot compress with gzip: block size ${blockSize} is below 64 KiB`);
  }
  let pool: Pool | undefined;
  const free: Uint8Array[] = [];
  const recycle = (buf: Uint8Array): void => {
    if (buf.byteLength === blockSize && free.length < 8) free.push(buf);
  };
  let block: Uint8Array = new Uint8Array(blockSize);
  let fill = 0;
  let crc = 0;
  let total = 0;
  let id = 0;
  const inFlight: Promise<Uint8Array>[] = [];
  // Native blocks: enough in flight to keep every core busy while this thread fills the next block.
  const maxInFlight = native ? Math.max(4, availableParallelism() * 2) : Math.max(2, workers * 2);
  let local: Pool | undefined = native ? nativePool(native, level, recycle, chunks) : undefined;

  function dispatch(): void {
    crc = zlib.crc32(block.subarray(0, fill), crc);
    total += fill;
    // Small streams (most layers) are compressed in this thread and never pay for workers; workers start once a
    // stream passes `threshold` bytes and take blocks as soon as they are ready.
    if (!native && pool === undefined && (workers === 0 || total >= threshold)) {
      pool = createPool(workers, level, recycle);
    }
    const p = (pool ?? (local ??= createPool(0, level, recycle))).run(id++, block, fill);
    p.catch(() => {});
    inFlight.push(p);
    block = free.pop() ?? new Uint8Array(blockSize);
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
            dispatch();
            while (inFlight.length >= maxInFlight) c.enqueue(await inFlight.shift()!);
          }
        }
        chunks?.give(chunk);
      } catch (e) {
        pool?.close();
        throw e;
      }
    },
    async flush(c) {
      try {
        if (fill > 0) dispatch();
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
    zlib.createGunzip({ chunkSize: 128 * 1024 }),
    (e) => new KilnError(`Cannot decompress gzip data: ${(e as Error).message ?? e}`, { cause: e }),
  );
}
