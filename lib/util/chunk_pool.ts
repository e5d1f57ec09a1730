/**
 * A pool of equal-sized byte buffers handed from the first writer of a streamed chunk to its last reader and back.
 *
 * Why: a layer streams through snapshot reads, the tar writer, gzip and the layer file in ~1 MiB chunks. Each fresh
 * chunk is an ArrayBuffer outside V8's heap, and V8 collects those only once their total passes its external-memory
 * limit (~64 MiB): a build's RSS sat on a plateau of dead chunks. With a pool, a few buffers go round instead.
 *
 * The rule that keeps it safe: only the last reader of a chunk gives it back, and a buffer is taken again only
 * after it was given. Buffers of another size (or views that do not start at their buffer's first byte) are
 * refused, so a stranger's buffer never enters the pool.
 *
 * @module
 */

/** A pool of `size`-byte buffers. */
export interface ChunkPool {
  /** Size in bytes of every buffer the pool hands out. */
  readonly size: number;
  /** A buffer of {@linkcode ChunkPool.size} bytes (contents undefined): a given-back one, or a new one. */
  take(): Uint8Array;
  /**
   * Gives a buffer back: accepted when it is a view of a whole pool-sized ArrayBuffer from its first byte (any
   * length: a `subarray(0, n)` of a taken buffer counts) and the pool is not full; otherwise ignored. The caller must
   * not touch the bytes afterwards.
   */
  give(buf: Uint8Array): void;
}

/**
 * Creates a pool.
 *
 * @param size Bytes per buffer.
 * @param max Buffers kept at most (default 16); more given back are left to the garbage collector.
 * @returns The pool.
 *
 * @example Usage
 * ```ts
 * import { createChunkPool } from "./chunk_pool.ts";
 * const pool = createChunkPool(1024);
 * const a = pool.take();
 * pool.give(a.subarray(0, 10));
 * console.assert(pool.take().buffer === a.buffer);
 * ```
 */
export function createChunkPool(size: number, max = 16): ChunkPool {
  if (!Number.isInteger(size) || size <= 0) throw new RangeError(`Cannot create a chunk pool of ${size} bytes`);
  const free: ArrayBuffer[] = [];
  const held = new WeakSet<ArrayBuffer>();
  return {
    size,
    take() {
      const ab = free.pop();
      if (ab) {
        held.delete(ab);
        return new Uint8Array(ab);
      }
      return new Uint8Array(size);
    },
    give(buf) {
      const ab = buf.buffer;
      if (!(ab instanceof ArrayBuffer) || ab.byteLength !== size || buf.byteOffset !== 0) return;
      // Twice given (a bug elsewhere) must not hand one buffer to two takers.
      if (free.length >= max || held.has(ab)) return;
      held.add(ab);
      free.push(ab);
    },
  };
}
