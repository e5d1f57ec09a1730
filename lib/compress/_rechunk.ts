/**
 * Private: re-chunks a byte stream into fixed-size pieces (the last may be shorter), so that a compressor that
 * flushes on every write produces the same bytes whatever the caller's chunking.
 *
 * @module
 */

/** Returns a TransformStream emitting chunks of exactly `size` bytes (except the last). */
export function rechunk(size: number): TransformStream<Uint8Array, Uint8Array> {
  let buf = new Uint8Array(size);
  let fill = 0;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, c) {
      let off = 0;
      if (fill === 0) {
        while (chunk.length - off >= size) {
          c.enqueue(chunk.subarray(off, off + size));
          off += size;
        }
      }
      while (off < chunk.length) {
        const n = Math.min(size - fill, chunk.length - off);
        buf.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === size) {
          c.enqueue(buf);
          buf = new Uint8Array(size);
          fill = 0;
        }
      }
    },
    flush(c) {
      if (fill) c.enqueue(buf.subarray(0, fill));
    },
  });
}
