/**
 * Private buffered byte reader over a ReadableStream, used by the tar reader.
 *
 * @module
 */

/** Pulls chunks from a stream and hands out exact-size or bounded slices, tracking the offset. */
export class ByteSource {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #head = 0;
  #avail = 0;
  #eof = false;
  /** Bytes consumed so far. */
  offset = 0;

  /** @param stream The byte stream to read. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#avail < n && !this.#eof) {
      const { done, value } = await this.#reader.read();
      if (done) {
        this.#eof = true;
        break;
      }
      if (value.length === 0) continue;
      this.#chunks.push(value);
      this.#avail += value.length;
    }
    return this.#avail >= n;
  }

  /** Bytes buffered but not consumed. */
  get available(): number {
    return this.#avail;
  }

  /**
   * Reads exactly `n` bytes; returns fewer only at end of input (the partial rest, possibly empty).
   */
  async readExact(n: number): Promise<Uint8Array> {
    await this.#fill(n);
    const want = Math.min(n, this.#avail);
    const first = this.#chunks[0];
    if (first && first.length - this.#head >= want) {
      const out = first.subarray(this.#head, this.#head + want);
      this.#advance(want);
      return out;
    }
    const out = new Uint8Array(want);
    let pos = 0;
    while (pos < want) {
      const c = this.#chunks[0]!;
      const take = Math.min(c.length - this.#head, want - pos);
      out.set(c.subarray(this.#head, this.#head + take), pos);
      pos += take;
      this.#advance(take);
    }
    return out;
  }

  /** Returns up to `max` bytes (at least 1 unless at end of input, then an empty array), without copying. */
  async readSome(max: number): Promise<Uint8Array> {
    if (this.#avail === 0) await this.#fill(1);
    const c = this.#chunks[0];
    if (!c) return new Uint8Array(0);
    const take = Math.min(c.length - this.#head, max);
    const out = c.subarray(this.#head, this.#head + take);
    this.#advance(take);
    return out;
  }

  /** Skips `n` bytes; returns how many were skipped (fewer at end of input). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const got = await this.readSome(Math.min(left, 1 << 20));
      if (got.length === 0) break;
      left -= got.length;
    }
    return n - left;
  }

  /** Reads and discards everything left. */
  async drain(): Promise<void> {
    this.#chunks = [];
    this.#head = 0;
    this.offset += this.#avail;
    this.#avail = 0;
    while (!this.#eof) {
      const { done, value } = await this.#reader.read();
      if (done) this.#eof = true;
      else this.offset += value.length;
    }
  }

  /** Cancels the underlying stream. */
  async cancel(reason?: unknown): Promise<void> {
    await this.#reader.cancel(reason).catch(() => {});
  }

  /** Releases the lock on the underlying stream. */
  release(): void {
    this.#reader.releaseLock();
  }

  #advance(n: number): void {
    this.#head += n;
    this.#avail -= n;
    this.offset += n;
    while (this.#chunks.length && this.#head >= this.#chunks[0]!.length) {
      this.#head -= this.#chunks[0]!.length;
      this.#chunks.shift();
    }
  }
}
