/**
 * Private: sequential binary record files for the snapshotter's on-disk state (the baseline walk, a diff's entry
 * list). Little-endian numbers, strings as a u32 byte length plus UTF-8. Written through one buffer and read back
 * through another with synchronous calls: the files are written once and read front to back, from the page cache.
 *
 * @module
 */
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { KilnError } from "../util/mod.ts";

const FLUSH_AT = 1 << 20;

/** Appends records to a file. */
export interface RecordWriter {
  u8(v: number): void;
  u32(v: number): void;
  f64(v: number): void;
  /** Eight raw bytes of a 64-bit integer given as its two 32-bit halves (low, high). */
  i64(lo: number, hi: number): void;
  str(s: string): void;
  /** The bytes of a typed array (its view only). */
  raw(v: ArrayBufferView): void;
  /** Writes what is buffered and closes the file. */
  close(): void;
  /** Closes the file without caring about errors (after a failure). */
  abandon(): void;
}

/** Reads records back in the order they were written. */
export interface RecordReader {
  /** True when every byte has been read. */
  done(): boolean;
  u8(): number;
  u32(): number;
  f64(): number;
  /** A 64-bit integer's two 32-bit halves into `out` at `at` (low, high). */
  i64Into(out: Int32Array, at: number): void;
  str(): string;
  /** Copies the next `into.byteLength` bytes into a typed array. */
  rawInto(into: ArrayBufferView): void;
  close(): void;
}

/**
 * Creates (or truncates) a record file.
 *
 * @param path Where.
 * @returns The writer.
 */
export function createRecordWriter(path: string): RecordWriter {
  const fd = openSync(path, "w", 0o600);
  let buf = new Uint8Array(FLUSH_AT + (64 << 10));
  let view = new DataView(buf.buffer);
  let pos = 0;
  const enc = new TextEncoder();
  let open = true;

  function room(n: number): void {
    if (pos + n <= buf.length) return;
    flush();
    if (n > buf.length) {
      buf = new Uint8Array(n);
      view = new DataView(buf.buffer);
    }
  }
  function flush(): void {
    let at = 0;
    while (at < pos) at += writeSync(fd, buf, at, pos - at);
    pos = 0;
  }
  function after(): void {
    if (pos >= FLUSH_AT) flush();
  }
  return {
    u8(v) {
      room(1);
      buf[pos++] = v;
    },
    u32(v) {
      room(4);
      view.setUint32(pos, v, true);
      pos += 4;
    },
    f64(v) {
      room(8);
      view.setFloat64(pos, v, true);
      pos += 8;
      after();
    },
    i64(lo, hi) {
      room(8);
      view.setInt32(pos, lo, true);
      view.setInt32(pos + 4, hi, true);
      pos += 8;
    },
    str(s) {
      // UTF-8 takes at most 3 bytes per UTF-16 unit.
      room(4 + 3 * s.length);
      const { written } = enc.encodeInto(s, buf.subarray(pos + 4));
      view.setUint32(pos, written, true);
      pos += 4 + written;
      after();
    },
    raw(v) {
      const b = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      if (b.length > FLUSH_AT) {
        flush();
        let at = 0;
        while (at < b.length) at += writeSync(fd, b, at, b.length - at);
        return;
      }
      room(b.length);
      buf.set(b, pos);
      pos += b.length;
      after();
    },
    close() {
      if (!open) return;
      try {
        flush();
      } finally {
        open = false;
        closeSync(fd);
      }
    },
    abandon() {
      if (!open) return;
      open = false;
      try {
        closeSync(fd);
      } catch { /* already failing */ }
    },
  };
}

/**
 * Opens a record file for reading.
 *
 * @param path Where.
 * @returns The reader.
 */
export function openRecordReader(path: string): RecordReader {
  const fd = openSync(path, "r");
  let buf = new Uint8Array(FLUSH_AT);
  let view = new DataView(buf.buffer);
  let start = 0, end = 0;
  let eof = false;
  const dec = new TextDecoder();
  let open = true;

  function need(n: number): void {
    if (end - start >= n) return;
    if (n > buf.length) {
      const b = new Uint8Array(Math.max(n, buf.length * 2));
      b.set(buf.subarray(start, end));
      end -= start;
      start = 0;
      buf = b;
      view = new DataView(buf.buffer);
    } else if (start > 0) {
      buf.copyWithin(0, start, end);
      end -= start;
      start = 0;
    }
    while (end - start < n && !eof) {
      const got = readSync(fd, buf, end, buf.length - end, null);
      if (got === 0) eof = true;
      end += got;
    }
    if (end - start < n) {
      throw new KilnError("kiln's snapshot state ends early: was its work dir changed during the build?");
    }
  }
  return {
    done() {
      if (end > start) return false;
      if (eof) return true;
      start = end = 0;
      const got = readSync(fd, buf, 0, buf.length, null);
      if (got === 0) eof = true;
      end = got;
      return got === 0;
    },
    u8() {
      need(1);
      return buf[start++]!;
    },
    u32() {
      need(4);
      const v = view.getUint32(start, true);
      start += 4;
      return v;
    },
    f64() {
      need(8);
      const v = view.getFloat64(start, true);
      start += 8;
      return v;
    },
    i64Into(out, at) {
      need(8);
      out[at] = view.getInt32(start, true);
      out[at + 1] = view.getInt32(start + 4, true);
      start += 8;
    },
    str() {
      need(4);
      const n = view.getUint32(start, true);
      start += 4;
      if (n === 0) return "";
      need(n);
      const s = dec.decode(buf.subarray(start, start + n));
      start += n;
      return s;
    },
    rawInto(into) {
      const dst = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
      let at = 0;
      while (at < dst.length) {
        if (end === start) need(1);
        const k = Math.min(end - start, dst.length - at);
        dst.set(buf.subarray(start, start + k), at);
        start += k;
        at += k;
      }
    },
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
