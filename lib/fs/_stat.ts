/**
 * lstat for the TS walker: statx through Deno's FFI when available (nanosecond times, about 2.5× faster than
 * `node:fs` under Deno, whose bigint stats carry only millisecond mtime and second ctime), else
 * `node:fs.lstatSync(…, {bigint: true})` (nanoseconds on Node).
 *
 * @module
 */
import { lstatSync } from "node:fs";
import { errnoName, type LibcFfi, openLibcFfi } from "./_libc_ffi.ts";
import type { StatRecord } from "./_columns.ts";

/** Fills `out` with the lstat of `path`; returns false if the path does not exist; throws `{code}` errors. */
export type LstatFn = (path: string, out: StatRecord) => boolean;

const ENOENT = 2;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_BASIC_STATS = 0x7ff;

function makedevNumber(major: number, minor: number): number {
  return (minor & 0xff) + (major & 0xfff) * 0x100 + Math.floor(minor / 0x100) * 0x100000 +
    Math.floor(major / 0x1000) * 2 ** 44;
}

/**
 * lstat via FFI statx.
 *
 * @param libc The FFI adapter.
 * @returns An {@linkcode LstatFn}.
 */
export function ffiLstat(libc: LibcFfi): LstatFn {
  const buf = new Uint8Array(256);
  const dv = new DataView(buf.buffer);
  let pathBuf = new Uint8Array(4096);
  const enc = new TextEncoder();
  const statx = libc.symbols.statx;
  return (path, out) => {
    if (path.length * 3 + 1 > pathBuf.length) pathBuf = new Uint8Array(path.length * 3 + 1);
    const w = enc.encodeInto(path, pathBuf).written;
    pathBuf[w] = 0;
    if (statx(AT_FDCWD, pathBuf, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buf) !== 0) {
      const e = libc.errno();
      if (e === ENOENT) return false;
      throw Object.assign(new Error(`statx ${path}: errno ${e}`), { code: errnoName(e) });
    }
    out.nlink = dv.getUint32(16, true);
    out.uid = dv.getUint32(20, true);
    out.gid = dv.getUint32(24, true);
    out.mode = dv.getUint16(28, true);
    out.ino = Number(dv.getBigUint64(32, true));
    out.size = Number(dv.getBigUint64(40, true));
    out.ctimeNs = dv.getBigInt64(96, true) * 1_000_000_000n + BigInt(dv.getUint32(104, true));
    out.mtimeNs = dv.getBigInt64(112, true) * 1_000_000_000n + BigInt(dv.getUint32(120, true));
    out.rdev = makedevNumber(dv.getUint32(128, true), dv.getUint32(132, true));
    out.dev = makedevNumber(dv.getUint32(136, true), dv.getUint32(140, true));
    return true;
  };
}

/**
 * lstat via `node:fs` with bigint stats.
 *
 * @returns An {@linkcode LstatFn}.
 */
export function nodeLstat(): LstatFn {
  return (path, out) => {
    const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (st === undefined) return false;
    out.mode = Number(st.mode);
    out.uid = Number(st.uid);
    out.gid = Number(st.gid);
    out.size = Number(st.size);
    out.mtimeNs = st.mtimeNs;
    out.ctimeNs = st.ctimeNs;
    out.ino = Number(st.ino);
    out.dev = Number(st.dev);
    out.nlink = Number(st.nlink);
    out.rdev = Number(st.rdev);
    return true;
  };
}

/**
 * The fastest available lstat: FFI statx if Deno's FFI is usable, else `node:fs`.
 *
 * @returns The function and which one it is.
 */
export function bestLstat(): { lstat: LstatFn; kind: "statx-ffi" | "node-fs" } {
  const libc = openLibcFfi();
  return libc ? { lstat: ffiLstat(libc), kind: "statx-ffi" } : { lstat: nodeLstat(), kind: "node-fs" };
}
