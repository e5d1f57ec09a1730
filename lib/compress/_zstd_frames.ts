/**
 * Private: a pass-through that follows zstd frame structure (headers, block sizes, checksums, skippable frames)
 * without decompressing, so that truncated input is reported — node:zlib's zstd decoder ends quietly on it.
 *
 * @module
 */
import { KilnError } from "../util/mod.ts";

/**
 * Returns a TransformStream passing bytes through (cut at frame boundaries) and erroring at the end if the input
 * does not end exactly after a complete frame.
 */
export function zstdFrameCheck(): TransformStream<Uint8Array, Uint8Array> {
  // Parser state: bytes still to skip, and a small buffer for the header being assembled.
  let skip = 0;
  let need = 4; // bytes of the next header to collect
  let hdr = new Uint8Array(18);
  let have = 0;
  let state: "magic" | "fhd" | "fheader" | "block" | "checksum" | "skippable" = "magic";
  let checksum = false;
  let frames = 0;
  let offset = 0;

  function fail(what: string): KilnError {
    return new KilnError(`Cannot decompress zstd data: ${what} at offset ${offset}`);
  }

  function onHeader(): void {
    switch (state) {
      case "magic": {
        const m = (hdr[0]! | (hdr[1]! << 8) | (hdr[2]! << 16) | (hdr[3]! << 24)) >>> 0;
        if (m === 0xfd2fb528) {
          state = "fhd";
          need = 1;
        } else if ((m & 0xfffffff0) === 0x184d2a50) {
          state = "skippable";
          need = 4;
        } else throw fail("bad frame magic");
        return;
      }
      case "skippable": {
        skip = (hdr[0]! | (hdr[1]! << 8) | (hdr[2]! << 16) | (hdr[3]! << 24)) >>> 0;
        frames++;
        state = "magic";
        need = 4;
        return;
      }
      case "fhd": {
        const d = hdr[0]!;
        const fcsFlag = d >> 6;
        const single = (d >> 5) & 1;
        checksum = ((d >> 2) & 1) === 1;
        const didFlag = d & 3;
        const fcsSize = fcsFlag === 0 ? single : [1, 2, 4, 8][fcsFlag]!;
        const rest = (single ? 0 : 1) + [0, 1, 2, 4][didFlag]! + fcsSize;
        state = "fheader";
        need = rest;
        if (rest === 0) onHeader();
        return;
      }
      case "fheader":
        state = "block";
        need = 3;
        return;
      case "block": {
        const b = hdr[0]! | (hdr[1]! << 8) | (hdr[2]! << 16);
        const last = b & 1;
        const type = (b >> 1) & 3;
        const size = b >>> 3;
        if (type === 3) throw fail("reserved block type");
        skip = type === 1 ? 1 : size;
        if (last) {
          if (checksum) {
            state = "checksum";
            need = 4;
          } else {
            frames++;
            state = "magic";
            need = 4;
          }
        } else need = 3;
        return;
      }
      case "checksum":
        frames++;
        state = "magic";
        need = 4;
        return;
    }
  }

  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, c) {
      let i = 0;
      let start = 0;
      while (i < chunk.length) {
        // Cut chunks at frame boundaries: Deno's zstd stream decoder drops a frame that starts mid-write.
        if (state === "magic" && have === 0 && skip === 0 && i > start) {
          c.enqueue(chunk.subarray(start, i));
          start = i;
        }
        if (skip > 0) {
          const n = Math.min(skip, chunk.length - i);
          skip -= n;
          i += n;
          offset += n;
          continue;
        }
        const n = Math.min(need - have, chunk.length - i);
        if (have + n > hdr.length) hdr = new Uint8Array(have + n);
        hdr.set(chunk.subarray(i, i + n), have);
        have += n;
        i += n;
        offset += n;
        if (have === need) {
          have = 0;
          onHeader();
        }
      }
      if (start < chunk.length) c.enqueue(start === 0 ? chunk : chunk.subarray(start));
    },
    flush() {
      if (frames === 0 || state !== "magic" || have !== 0 || skip !== 0) {
        throw fail("unexpected end of input (truncated frame)");
      }
    },
  });
}
