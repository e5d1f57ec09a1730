/**
 * Private USTAR/PAX header encoding and decoding shared by the tar writer and reader.
 *
 * @module
 */
import type { TarEntryType, TarHeader } from "./types.ts";

/** Size of a tar block. */
export const BLOCK = 512;

/** Largest value an 8-byte octal field holds (7 digits). */
export const MAX_OCTAL_8 = 0o7777777;
/** Largest value a 12-byte octal field holds (11 digits): 8 GiB - 1. */
export const MAX_OCTAL_12 = 0o77777777777;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const latin1 = new TextDecoder("latin1");

/** Typeflag byte for each entry type. */
export const TYPEFLAG: Record<TarEntryType, number> = {
  file: 0x30, // '0'
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  dir: 0x35,
  fifo: 0x36,
};

/** UTF-8 encodes a string. */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** UTF-8 decodes bytes (invalid sequences become U+FFFD). */
export function fromUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}

/** True if every char of `s` is printable-or-control ASCII (< 0x80). */
export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Writes ASCII/UTF-8 bytes of `s` into `buf[off, off+len)`, truncating (no NUL needed when full). */
export function writeString(buf: Uint8Array, off: number, len: number, s: string): void {
  if (isAscii(s)) {
    const n = Math.min(len, s.length);
    for (let i = 0; i < n; i++) buf[off + i] = s.charCodeAt(i);
  } else {
    const b = encoder.encode(s);
    buf.set(b.subarray(0, len), off);
  }
}

/** Writes `n` as zero-padded octal of `len - 1` digits plus NUL; base-256 if it does not fit. */
export function writeNumber(buf: Uint8Array, off: number, len: number, n: number): void {
  const digits = len - 1;
  if (n >= 0 && n < 8 ** digits) {
    const s = Math.trunc(n).toString(8).padStart(digits, "0");
    for (let i = 0; i < digits; i++) buf[off + i] = s.charCodeAt(i);
    buf[off + digits] = 0;
    return;
  }
  // GNU base-256: high bit of the first byte set, big-endian two's complement in the rest.
  let v = BigInt(Math.trunc(n));
  for (let i = len - 1; i >= 1; i--) {
    buf[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[off] = n < 0 ? 0xff : 0x80;
}

/** Parses an octal or base-256 numeric field; returns NaN when malformed. */
export function readNumber(buf: Uint8Array, off: number, len: number): number {
  const first = buf[off]!;
  if (first & 0x80) {
    if (first === 0xff) {
      let u = 0n;
      for (let i = 0; i < len; i++) u = (u << 8n) | BigInt(buf[off + i]!);
      return Number(u - (1n << BigInt(8 * len)));
    }
    let v = BigInt(first & 0x7f);
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(buf[off + i]!);
    return Number(v);
  }
  let i = off;
  const end = off + len;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  if (i === end) return 0;
  let v = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return NaN;
    v = v * 8 + (c - 0x30);
  }
  return v;
}

/** Reads a NUL-terminated string field as UTF-8. */
export function readString(buf: Uint8Array, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && buf[end] !== 0) end++;
  let ascii = true;
  for (let i = off; i < end; i++) {
    if (buf[i]! > 0x7f) {
      ascii = false;
      break;
    }
  }
  return ascii ? latin1.decode(buf.subarray(off, end)) : decoder.decode(buf.subarray(off, end));
}

/** Computes the header checksum (chksum field counted as spaces). */
export function checksum(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  sum += 8 * 0x20;
  for (let i = 156; i < BLOCK; i++) sum += block[i]!;
  return sum;
}

/** Checksum with bytes read as signed (some old tars). */
export function signedChecksum(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) {
      sum += 0x20;
      continue;
    }
    const b = block[i]!;
    sum += b > 127 ? b - 256 : b;
  }
  return sum;
}

/** Fields of a raw USTAR header block. */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  prefix: string;
}

/** Encodes one USTAR (POSIX `ustar\0` `00`) header block into `out` at `off` (must be zeroed). */
export function encodeUstar(out: Uint8Array, off: number, h: RawHeader): void {
  const b = out.subarray(off, off + BLOCK);
  writeString(b, 0, 100, h.name);
  writeNumber(b, 100, 8, h.mode);
  writeNumber(b, 108, 8, h.uid);
  writeNumber(b, 116, 8, h.gid);
  writeNumber(b, 124, 12, h.size);
  writeNumber(b, 136, 12, h.mtime);
  b[156] = h.typeflag;
  writeString(b, 157, 100, h.linkname);
  b.set(USTAR_MAGIC, 257);
  writeString(b, 265, 32, h.uname);
  writeString(b, 297, 32, h.gname);
  writeNumber(b, 329, 8, h.devmajor);
  writeNumber(b, 337, 8, h.devminor);
  writeString(b, 345, 155, h.prefix);
  const sum = checksum(b);
  const s = sum.toString(8).padStart(6, "0");
  for (let i = 0; i < 6; i++) b[148 + i] = s.charCodeAt(i);
  b[154] = 0;
  b[155] = 0x20;
}

const USTAR_MAGIC = new Uint8Array([0x75, 0x73, 0x74, 0x61, 0x72, 0x00, 0x30, 0x30]); // "ustar\0" "00"

/** Header format detected from the magic field. */
export type HeaderFormat = "ustar" | "gnu" | "v7";

/** Detects the header format from the magic/version bytes. */
export function headerFormat(b: Uint8Array): HeaderFormat {
  if (b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72) {
    if (b[262] === 0x20 && b[263] === 0x20 && b[264] === 0) return "gnu";
    if (b[262] === 0) return "ustar";
  }
  return "v7";
}

/** Encodes one PAX record `"<len> <key>=<value>\n"`, length counting itself. */
export function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const kb = utf8(key);
  const rest = kb.length + value.length + 3; // space, '=', '\n'
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  const lenStr = utf8(String(len) + " ");
  const out = new Uint8Array(len);
  out.set(lenStr, 0);
  out.set(kb, lenStr.length);
  out[lenStr.length + kb.length] = 0x3d;
  out.set(value, lenStr.length + kb.length + 1);
  out[len - 1] = 0x0a;
  return out;
}

/** Parses PAX records; returns [key, raw value] pairs or throws a message string. */
export function parsePaxRecords(data: Uint8Array): Array<[string, Uint8Array]> {
  const out: Array<[string, Uint8Array]> = [];
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // trailing NUL padding
    let sp = pos;
    let len = 0;
    while (sp < data.length && data[sp] !== 0x20) {
      const c = data[sp]!;
      if (c < 0x30 || c > 0x39) throw new Error("malformed PAX record length");
      len = len * 10 + (c - 0x30);
      sp++;
    }
    if (sp >= data.length || len <= sp - pos + 1 || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new Error("malformed PAX record");
    }
    const rec = data.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new Error("malformed PAX record (no '=')");
    out.push([fromUtf8(rec.subarray(0, eq)), rec.slice(eq + 1)]);
    pos += len;
  }
  return out;
}

/** Formats a (possibly fractional) mtime for a PAX `mtime` record without float noise. */
export function formatPaxTime(t: number): string {
  // The shortest round-trip decimal is what the caller meant (1700000000.789, not ...789000034).
  const s = String(t);
  if (!/e/i.test(s)) return s;
  return t.toFixed(9).replace(/\.?0+$/, "");
}

/** Parses a PAX time value (`123.456`). */
export function parsePaxTime(s: string): number {
  return Number(s);
}

/** Typeflag values the reader understands, for messages. */
export function typeflagChar(t: number): string {
  return t === 0 ? "\\0" : String.fromCharCode(t);
}

/** Keys of {@linkcode TarHeader} that PAX maps onto directly (not kept in `pax`). */
export const PAX_MAPPED = new Set(["path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime"]);

/** Builds an empty TarHeader-shaped object with defaults. */
export function defaultHeader(): TarHeader {
  return { path: "", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 };
}
