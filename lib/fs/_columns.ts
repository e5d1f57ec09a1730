/**
 * Growable columnar storage behind {@linkcode WalkResult} (private helper of the walkers).
 *
 * @module
 */
import type { WalkResult } from "./types.ts";

/** A growable set of WalkResult columns. */
export interface ColumnBuilder {
  /** Appends one entry; returns its index. */
  push(
    path: string,
    type: number,
    st: {
      mode: bigint;
      uid: bigint;
      gid: bigint;
      size: bigint;
      mtimeNs: bigint;
      ctimeNs: bigint;
      ino: bigint;
      dev: bigint;
      nlink: bigint;
      rdev: bigint;
    },
  ): number;
  /** Number of entries so far. */
  readonly count: number;
  /** Trims the columns to `count` and returns them. */
  finish(): WalkResult;
}

/**
 * Creates an empty column builder.
 *
 * @param capacity Initial capacity.
 * @returns The builder.
 */
export function createColumnBuilder(capacity = 1024): ColumnBuilder {
  let cap = Math.max(16, capacity);
  let n = 0;
  const paths: string[] = [];
  let type = new Uint8Array(cap);
  let mode = new Uint16Array(cap);
  let uid = new Uint32Array(cap);
  let gid = new Uint32Array(cap);
  let size = new Float64Array(cap);
  let mtimeNs = new BigInt64Array(cap);
  let ctimeNs = new BigInt64Array(cap);
  let ino = new Float64Array(cap);
  let dev = new Float64Array(cap);
  let nlink = new Uint32Array(cap);
  let rdev = new Float64Array(cap);

  function grow<T extends { length: number; set(a: ArrayLike<number | bigint>): void }>(
    a: T,
    make: (n: number) => T,
  ): T {
    const b = make(cap);
    b.set(a as unknown as ArrayLike<number | bigint>);
    return b;
  }

  return {
    get count() {
      return n;
    },
    push(path, t, st) {
      if (n === cap) {
        cap *= 2;
        type = grow(type, (c) => new Uint8Array(c));
        mode = grow(mode, (c) => new Uint16Array(c));
        uid = grow(uid, (c) => new Uint32Array(c));
        gid = grow(gid, (c) => new Uint32Array(c));
        size = grow(size, (c) => new Float64Array(c));
        mtimeNs = grow(mtimeNs, (c) => new BigInt64Array(c));
        ctimeNs = grow(ctimeNs, (c) => new BigInt64Array(c));
        ino = grow(ino, (c) => new Float64Array(c));
        dev = grow(dev, (c) => new Float64Array(c));
        nlink = grow(nlink, (c) => new Uint32Array(c));
        rdev = grow(rdev, (c) => new Float64Array(c));
      }
      paths.push(path);
      type[n] = t;
      mode[n] = Number(st.mode & 0o7777n);
      uid[n] = Number(st.uid);
      gid[n] = Number(st.gid);
      size[n] = Number(st.size);
      mtimeNs[n] = st.mtimeNs;
      ctimeNs[n] = st.ctimeNs;
      ino[n] = Number(st.ino);
      dev[n] = Number(st.dev);
      nlink[n] = Number(st.nlink);
      rdev[n] = Number(st.rdev);
      return n++;
    },
    finish() {
      return {
        count: n,
        paths,
        type: type.slice(0, n),
        mode: mode.slice(0, n),
        uid: uid.slice(0, n),
        gid: gid.slice(0, n),
        size: size.slice(0, n),
        mtimeNs: mtimeNs.slice(0, n),
        ctimeNs: ctimeNs.slice(0, n),
        ino: ino.slice(0, n),
        dev: dev.slice(0, n),
        nlink: nlink.slice(0, n),
        rdev: rdev.slice(0, n),
      };
    },
  };
}

/**
 * Normalises an ignore list to relative paths without leading/trailing slashes; drops empty entries.
 *
 * @param ignore Paths as given.
 * @returns A set of normalised relative paths.
 */
export function normalizeIgnore(ignore: readonly string[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const raw of ignore ?? []) {
    const p = raw.split("/").filter((c) => c !== "" && c !== ".").join("/");
    if (p !== "") out.add(p);
  }
  return out;
}
