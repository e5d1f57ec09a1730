/**
 * Growable columnar storage behind {@linkcode WalkResult} (private helper of the walkers).
 *
 * @module
 */
import type { WalkResult } from "./types.ts";

/** One entry's metadata, filled in place by a stat function (reused between entries). */
export interface StatRecord {
  /** Full `st_mode` including the type bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: number;
  dev: number;
  nlink: number;
  rdev: number;
}

/** Creates a zeroed {@linkcode StatRecord}. */
export function newStatRecord(): StatRecord {
  return { mode: 0, uid: 0, gid: 0, size: 0, mtimeNs: 0n, ctimeNs: 0n, ino: 0, dev: 0, nlink: 0, rdev: 0 };
}

/** A growable set of WalkResult columns. */
export interface ColumnBuilder {
  /** Appends one entry. */
  push(path: string, type: number, st: StatRecord): void;
  /** Trims the columns to the entry count and returns them. */
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

  function grown<T extends { set(a: T): void }>(a: T, make: (n: number) => T): T {
    const b = make(cap);
    b.set(a);
    return b;
  }

  return {
    push(path, t, st) {
      if (n === cap) {
        cap *= 2;
        type = grown(type, (c) => new Uint8Array(c));
        mode = grown(mode, (c) => new Uint16Array(c));
        uid = grown(uid, (c) => new Uint32Array(c));
        gid = grown(gid, (c) => new Uint32Array(c));
        size = grown(size, (c) => new Float64Array(c));
        mtimeNs = grown(mtimeNs, (c) => new BigInt64Array(c));
        ctimeNs = grown(ctimeNs, (c) => new BigInt64Array(c));
        ino = grown(ino, (c) => new Float64Array(c));
        dev = grown(dev, (c) => new Float64Array(c));
        nlink = grown(nlink, (c) => new Uint32Array(c));
        rdev = grown(rdev, (c) => new Float64Array(c));
      }
      paths.push(path);
      type[n] = t;
      mode[n] = st.mode & 0o7777;
      uid[n] = st.uid;
      gid[n] = st.gid;
      size[n] = st.size;
      mtimeNs[n] = st.mtimeNs;
      ctimeNs[n] = st.ctimeNs;
      ino[n] = st.ino;
      dev[n] = st.dev;
      nlink[n] = st.nlink;
      rdev[n] = st.rdev;
      n++;
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
