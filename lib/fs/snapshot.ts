/**
 * The snapshotter: walks a root filesystem after each build step, compares the walk with the previous one
 * column by column (no per-file objects), and turns the differences into an OCI layer changeset as a stream of
 * {@linkcode TarEntry} values for lib/tar.
 *
 * Change detection by mode (kaniko's `--snapshot-mode`):
 * - `full` (default): type, mode, uid, gid, size, mtime, ctime, link target and device number. ctime cannot be set
 *   from user space, so it catches content rewrites that restore mtime and xattr changes. Where metadata alone cannot
 *   decide — a file whose ctime fell in the same clock tick as the previous walk ("racily clean", as in git) — the
 *   content hash taken at that walk is compared.
 * - `redo`: type, mode, uid, gid, size, mtime, link target (no ctime, no hashing).
 * - `time`: type and mtime only.
 *
 * Changesets follow the OCI layer rules (reference/oci.md A5): additions and modifications whole; deletions as
 * `.wh.<name>` whiteouts, one per deleted subtree (no redundant child whiteouts, none under a path that became a
 * non-directory); a directory that had children and has none of them any more (`rm -rf d && mkdir d`, `rm -rf d/*`)
 * becomes an opaque whiteout `.wh..wh..opq` plus its whole new content; hardlink groups are written as one file plus
 * `hardlink` entries, the first path in archive order carrying the data; every emitted path's parent directories are
 * included with their real metadata; entries are sorted (whiteouts first in each directory).
 *
 * Memory stays flat however many files the tree holds: the tree is listed a budget of entries at a time, one
 * directory after another in path order ({@linkcode Walker.list}), and merged with the previous walk, which is kept
 * on disk in the same order (one record per directory, in the snapshotter's state directory). The entries a layer
 * will hold go to a second file as they are found, in archive order; a directory is written there on the chance
 * that something below it changes, and whether it is emitted (and whether a hardlink group is) is kept in memory per
 * directory and per hardlink group. Reading the layer streams that file. What is held: one directory listing per
 * level being merged, a byte per directory, the hardlinked entries' groups, one listing budget.
 *
 * Every decision depends only on what a user can see — path, type, mode, owner, size, times, link target, device
 * number, content — never on inode numbers (a re-created directory may or may not get its old inode back), device
 * numbers, directory sizes (they differ between tmpfs and ext4), readdir order or timing, so the same change gives the
 * same bytes on any filesystem (lib/fs/README.md).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { AbortedError, type ChunkPool, KilnError } from "../util/mod.ts";
import type { TarEntry, TarEntryType, TarHeader } from "../tar/mod.ts";
import { normalizeIgnore } from "./_columns.ts";
import { createRecordWriter, openRecordReader, type RecordReader, type RecordWriter } from "./_records.ts";
import { FileType, type Walker, type WalkResult } from "./types.ts";

/** How changes are detected: see the module doc. */
export type SnapshotMode = "full" | "redo" | "time";

/** Reads all xattrs of a path without following symlinks; `undefined` when it has none. */
export type SnapshotXattrReader = (absPath: string) => Record<string, Uint8Array> | undefined;

/** Options for {@linkcode createSnapshotter}. */
export interface SnapshotterOptions {
  /** Absolute path of the root filesystem. */
  root: string;
  /** The walker (pure-TS or native). */
  walker: Walker;
  /**
   * A directory of the snapshotter's own, outside `root` (or in its ignore list): the previous walk and each diff's
   * entry list are kept there. Created when missing; the caller removes it.
   */
  stateDir: string;
  /** Change detection (default `full`). */
  mode?: SnapshotMode;
  /** Relative paths left out of every snapshot, with everything below them (e.g. `proc`, `dev`). */
  ignore?: readonly string[];
  /** Reads xattrs of emitted entries (e.g. `security.capability`); without it layers carry no xattrs. */
  xattrReader?: SnapshotXattrReader;
  /**
   * Clock tick slack in milliseconds: files whose ctime is this close to a walk's start are hashed (full mode),
   * because a later change within the same tick would leave their metadata unchanged. Default 20.
   */
  racySlackMs?: number;
  /** Entries listed per walker call (default 16384): what a walk holds in memory at once. */
  listBudget?: number;
}

/** Options for one walk. */
export interface SnapshotWalkOptions {
  /** Cancels the walk. */
  signal?: AbortSignal;
  /** Called about every 250 ms during the walk with the entries listed so far (for a live display). */
  onProgress?: (entries: number) => void;
}

/** Options for one {@linkcode Snapshotter.diff}. */
export interface SnapshotDiffOptions extends SnapshotWalkOptions {
  /**
   * Directories (relative paths) whose ctime the caller changed itself and whose times it restored, e.g. the parents
   * of in-place `RUN --mount` targets: a change of their ctime alone is no change (full mode). Any other difference
   * (mtime, mode, owner) still is.
   */
  ctimeOnly?: readonly string[];
}

/** Options for {@linkcode LayerDiff.entries}. */
export interface DiffEntriesOptions {
  /** Write this mtime (seconds since the epoch) on every entry instead of the real one (`--reproducible`). */
  mtime?: number;
  /** Cancels reading file bodies. */
  signal?: AbortSignal;
  /**
   * Buffers for the bodies of large files (when its buffers hold at least 1 MiB): the stream's last reader gives
   * them back (lib/compress's gzip does), so a layer streams through a few buffers instead of a fresh one per MiB.
   */
  pool?: ChunkPool;
}

/** One change a diff found: a path added, modified (its metadata, content or type), deleted or made opaque. */
export interface SnapshotChange {
  /** `deleted`: written as a whiteout; `opaque`: a directory replaced by a new one (an opaque whiteout). */
  kind: "added" | "modified" | "deleted" | "opaque";
  /** Relative path (for `deleted`, the top of the deleted subtree). */
  path: string;
}

/** How many changes of each kind a diff found. */
export interface ChangeCounts {
  added: number;
  modified: number;
  deleted: number;
  opaque: number;
}

/** The changes found by one {@linkcode Snapshotter.diff}; readable until the next `diff` or `init`. */
export interface LayerDiff {
  /** True when nothing changed (no layer should be written). */
  readonly empty: boolean;
  /** How many paths were added, modified, deleted (whiteouts) and replaced (opaque directories). */
  readonly counts: ChangeCounts;
  /** Number of tar entries {@linkcode entries} yields. */
  readonly entryCount: number;
  /** Total size of the file contents the layer will hold (hardlinks counted once). */
  readonly contentBytes: number;
  /**
   * The changes in archive order (a replaced directory is listed as `modified` and as `opaque`), read from the
   * state directory; parent directories and hardlink group members written only to carry others are not listed.
   */
  changes(): Iterable<SnapshotChange>;
  /**
   * The changeset as tar entries in archive order; each call returns a fresh stream reading the files again. Files
   * up to 256 KiB come with their bytes in `data` (read when the entry is pulled), larger ones with a `body` stream.
   */
  entries(options?: DiffEntriesOptions): ReadableStream<TarEntry>;
}

/** Tracks a root filesystem between build steps. */
export interface Snapshotter {
  /** The change-detection mode. */
  readonly mode: SnapshotMode;
  /**
   * Records the current state as the baseline (the walk after base-image extraction). With `empty: true`
   * the baseline is an empty tree, so the next diff contains everything (a `FROM scratch` stage).
   */
  init(options?: SnapshotWalkOptions & { empty?: boolean }): Promise<void>;
  /** Walks again, returns what changed since the baseline, and makes the new walk the baseline. */
  diff(options?: SnapshotDiffOptions): Promise<LayerDiff>;
}

const ADDED = 1;
const MODIFIED = 2;
const TYPECHANGED = 3;
const REPLACED = 4;

/** Entry-list record kinds. */
const REC_ENTRY = 1;
const REC_DIR = 2;
const REC_WHITEOUT = 3;
const REC_OPAQUE = 4;

const TAR_TYPE: Record<number, TarEntryType | undefined> = {
  [FileType.file]: "file",
  [FileType.dir]: "dir",
  [FileType.symlink]: "symlink",
  [FileType.char]: "char",
  [FileType.block]: "block",
  [FileType.fifo]: "fifo",
};

function parentOf(p: string): string {
  const k = p.lastIndexOf("/");
  return k < 0 ? "" : p.slice(0, k);
}

function baseOf(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}

async function hashFile(abs: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const st = lstatSync(abs);
    if (st.size <= SMALL_FILE) return createHash("sha256").update(readFileSync(abs)).digest("hex");
  } catch {
    return undefined;
  }
  let fh;
  try {
    fh = await open(abs, "r");
  } catch {
    return undefined;
  }
  try {
    const h = createHash("sha256");
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
    return h.digest("hex");
  } finally {
    await fh.close();
  }
}

/** Files up to this size are read with one synchronous read. */
const SMALL_FILE = 256 * 1024;
/** Small files are read into slabs of this size. */
const SLAB = 1 << 20;

/** Splits a Linux `st_rdev` into major and minor numbers. */
function devNumbers(rdev: number): { major: number; minor: number } {
  const r = BigInt(Math.trunc(rdev));
  const major = Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn));
  const minor = Number((r & 0xffn) | ((r >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * Reads a small file whole with synchronous calls (three async syscalls per file dominate layers of many small
 * files, and a stream per file costs more than the read).
 *
 * @param abs Absolute path.
 * @param buf Where the bytes go: exactly the expected size (from the walk), at most {@linkcode SMALL_FILE}.
 * @returns `buf`, filled.
 * @throws {KilnError} When the file cannot be read or shrank.
 */
function readSmall(abs: string, buf: Uint8Array): Uint8Array {
  const size = buf.length;
  let got = 0;
  try {
    const fd = openSync(abs, "r");
    try {
      while (got < size) {
        const n = readSync(fd, buf, got, size - got, null);
        if (n === 0) break;
        got += n;
      }
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new KilnError(`Cannot read ${abs} for the layer: ${errCode(e)}`, { cause: e });
  }
  if (got < size) {
    throw new KilnError(`Cannot snapshot ${abs}: the file shrank while it was being read (expected ${size} bytes)`);
  }
  return buf;
}

/**
 * Streams exactly `size` bytes of a file larger than {@linkcode SMALL_FILE}, opened on first read.
 *
 * @param abs Absolute path.
 * @param size Expected size (from the walk).
 * @param signal Cancels reading.
 * @param pool Where the chunks come from (see {@linkcode DiffEntriesOptions.pool}).
 * @returns The body stream.
 */
function fileBody(abs: string, size: number, signal?: AbortSignal, pool?: ChunkPool): ReadableStream<Uint8Array> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  let left = size;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (signal?.aborted) throw new AbortedError("Snapshot aborted");
        if (!fh) fh = await open(abs, "r");
        if (left === 0) {
          await fh.close();
          fh = undefined;
          controller.close();
          return;
        }
        const want = Math.min(left, 1 << 20);
        const buf = pool && pool.size >= 1 << 20 ? pool.take().subarray(0, want) : new Uint8Array(want);
        let got = 0;
        while (got < buf.length) {
          const { bytesRead } = await fh.read(buf, got, buf.length - got, null);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        if (got < buf.length) {
          throw new KilnError(
            `Cannot snapshot ${abs}: the file shrank while it was being read (expected ${size} bytes)`,
          );
        }
        left -= got;
        controller.enqueue(buf);
      } catch (e) {
        if (fh) await fh.close().catch(() => {});
        fh = undefined;
        controller.error(
          e instanceof KilnError ? e : new KilnError(`Cannot read ${abs} for the layer: ${errCode(e)}`, { cause: e }),
        );
      }
    },
    async cancel() {
      if (fh) await fh.close().catch(() => {});
      fh = undefined;
    },
  }, { highWaterMark: 0 });
}

function halves(a: BigInt64Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length * 2);
}

function errCode(e: unknown): string {
  return (e as { code?: string }).code ?? (e instanceof Error ? e.message : String(e));
}

/** One listed directory's entries in path order: indexes `start…start+n` of `w`, or `idx` when `w` is not in order. */
interface Group {
  w: WalkResult;
  start: number;
  n: number;
  idx: Uint32Array | undefined;
  /** The walk's 64-bit times as int32 halves (reading a BigInt64Array allocates a BigInt per element). */
  mt: Int32Array;
  ct: Int32Array;
}

/** A directory of the previous walk, read back from the baseline file. */
interface PrevDir {
  dir: string;
  n: number;
  paths: string[];
  links: (string | undefined)[];
  type: Uint8Array;
  mode: Uint16Array;
  uid: Uint32Array;
  gid: Uint32Array;
  size: Float64Array;
  mt: Int32Array;
  ct: Int32Array;
  rdev: Float64Array;
  /** Content hashes of its files that were racily clean at that walk (full mode), by index. */
  racy: Map<number, string> | undefined;
}

/** A hardlink group (entries with nlink > 1 sharing an inode) of the current walk. */
interface LinkGroup {
  changed: boolean;
  members: number;
  /** Directory ids of the members' parents. */
  parents: number[];
  /** Content size when the group is a regular file, else 0. */
  size: number;
}

function makeGroup(w: WalkResult, start: number, end: number): Group {
  const paths = w.paths;
  let sorted = true;
  for (let k = start + 1; k < end; k++) {
    if (!(paths[k - 1]! < paths[k]!)) {
      sorted = false;
      break;
    }
  }
  let idx: Uint32Array | undefined;
  if (!sorted) {
    idx = new Uint32Array(end - start);
    for (let k = 0; k < idx.length; k++) idx[k] = start + k;
    idx.sort((a, b) => (paths[a]! < paths[b]! ? -1 : paths[a]! > paths[b]! ? 1 : 0));
  }
  return { w, start, n: end - start, idx, mt: halves(w.mtimeNs), ct: halves(w.ctimeNs) };
}

/** `a` is visited before `b`: directories are visited in the order of their path plus `/`. */
function dirBefore(a: string, b: string): boolean {
  return a + "/" < b + "/";
}

function writePrev(out: RecordWriter, dir: string, g: Group, racy: Map<number, string> | undefined): void {
  const n = g.n, w = g.w;
  out.str(dir);
  out.u32(n);
  const paths: string[] = new Array(n);
  const links: string[] = [];
  const at = (k: number) => (g.idx ? g.idx[k]! : g.start + k);
  for (let k = 0; k < n; k++) {
    const e = at(k);
    paths[k] = w.paths[e]!;
    if (w.type[e] === FileType.symlink) links.push(w.linkTargets?.[e] ?? "");
  }
  out.str(paths.join("\0"));
  out.str(links.join("\0"));
  if (!g.idx) {
    const s = g.start;
    out.raw(w.type.subarray(s, s + n));
    out.raw(w.mode.subarray(s, s + n));
    out.raw(w.uid.subarray(s, s + n));
    out.raw(w.gid.subarray(s, s + n));
    out.raw(w.size.subarray(s, s + n));
    out.raw(g.mt.subarray(2 * s, 2 * (s + n)));
    out.raw(g.ct.subarray(2 * s, 2 * (s + n)));
    out.raw(w.rdev.subarray(s, s + n));
  } else {
    const idx = g.idx;
    const gather = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(
      src: T,
      make: (n: number) => T,
    ) => {
      const o = make(n);
      for (let k = 0; k < n; k++) o[k] = src[idx[k]!]!;
      out.raw(o);
    };
    const gather2 = (src: Int32Array) => {
      const o = new Int32Array(2 * n);
      for (let k = 0; k < n; k++) {
        o[2 * k] = src[2 * idx[k]!]!;
        o[2 * k + 1] = src[2 * idx[k]! + 1]!;
      }
      out.raw(o);
    };
    gather(w.type, (c) => new Uint8Array(c));
    gather(w.mode, (c) => new Uint16Array(c));
    gather(w.uid, (c) => new Uint32Array(c));
    gather(w.gid, (c) => new Uint32Array(c));
    gather(w.size, (c) => new Float64Array(c));
    gather2(g.mt);
    gather2(g.ct);
    gather(w.rdev, (c) => new Float64Array(c));
  }
  out.u32(racy?.size ?? 0);
  for (const [k, h] of racy ?? []) {
    out.u32(k);
    out.str(h);
  }
}

function readPrev(r: RecordReader): PrevDir {
  const dir = r.str();
  const n = r.u32();
  const joined = r.str();
  const paths = n === 0 ? [] : joined.split("\0");
  const linkJoined = r.str();
  const type = new Uint8Array(n), mode = new Uint16Array(n), uid = new Uint32Array(n), gid = new Uint32Array(n);
  const size = new Float64Array(n), mt = new Int32Array(2 * n), ct = new Int32Array(2 * n), rdev = new Float64Array(n);
  r.rawInto(type);
  r.rawInto(mode);
  r.rawInto(uid);
  r.rawInto(gid);
  r.rawInto(size);
  r.rawInto(mt);
  r.rawInto(ct);
  r.rawInto(rdev);
  const links: (string | undefined)[] = new Array(n);
  if (linkJoined !== "" || type.includes(FileType.symlink)) {
    const targets = linkJoined.split("\0");
    for (let k = 0, j = 0; k < n; k++) if (type[k] === FileType.symlink) links[k] = targets[j++];
  }
  const nr = r.u32();
  let racy: Map<number, string> | undefined;
  if (nr > 0) {
    racy = new Map();
    for (let i = 0; i < nr; i++) {
      const k = r.u32();
      racy.set(k, r.str());
    }
  }
  return { dir, n, paths, links, type, mode, uid, gid, size, mt, ct, rdev, racy };
}

/** A growable byte-per-directory or u32-per-directory table. */
function grow<T extends Uint8Array | Uint32Array>(a: T, need: number, make: (n: number) => T): T {
  if (need <= a.length) return a;
  const b = make(Math.max(need, a.length * 2));
  b.set(a);
  return b;
}

/**
 * Creates a snapshotter for a root filesystem.
 *
 * @param options Root, walker, state directory, mode, ignore list, xattr reader.
 * @returns A {@linkcode Snapshotter}.
 *
 * @example Snapshot a change
 * ```ts
 * import { createSnapshotter } from "./snapshot.ts";
 * import { createTsWalker } from "./walker_ts.ts";
 * const root = Deno.makeTempDirSync();
 * const stateDir = Deno.makeTempDirSync();
 * const snap = createSnapshotter({ root, walker: createTsWalker(), stateDir });
 * await snap.init();
 * Deno.writeTextFileSync(root + "/hello.txt", "hi\n");
 * const diff = await snap.diff();
 * console.assert(diff.counts.added === 1 && diff.entryCount === 1);
 * Deno.removeSync(root, { recursive: true });
 * Deno.removeSync(stateDir, { recursive: true });
 * ```
 */
export function createSnapshotter(options: SnapshotterOptions): Snapshotter {
  const root = options.root.length > 1 && options.root.endsWith("/") ? options.root.slice(0, -1) : options.root;
  const walker = options.walker;
  const mode: SnapshotMode = options.mode ?? "full";
  const ignore = [...normalizeIgnore(options.ignore)];
  const budget = Math.max(1, options.listBudget ?? 16384);
  const slackNs = BigInt(Math.round((options.racySlackMs ?? 20) * 1e6));
  const stateDir = options.stateDir.replace(/\/+$/, "");
  const abs = (rel: string) => `${root}/${rel}`;
  const full = mode === "full", time = mode === "time";
  // Directories with an ignored path below them are never made opaque: the marker would hide what lower layers hold.
  const keepDirs = new Set<string>();
  for (const ig of ignore) for (let d = parentOf(ig); d !== ""; d = parentOf(d)) keepDirs.add(d);

  let generation = 0;
  /** The baseline walk's file; undefined before init. */
  let basePath: string | undefined;
  /** The last diff's entry list (removed by the next diff or init). */
  let entriesPath: string | undefined;

  function fresh(kind: string): string {
    mkdirSync(stateDir, { recursive: true });
    return `${stateDir}/${kind}-${++generation}.bin`;
  }
  function drop(path: string | undefined): void {
    if (path !== undefined) rmSync(path, { force: true });
  }

  /**
   * One walk of the tree in path order, written as the new baseline; with `prevPath`, merged with that baseline and
   * the layer's entries written to `entriesOut`.
   */
  async function walkTree(
    baseOut: RecordWriter,
    prevPath: string | undefined,
    entriesOut: RecordWriter | undefined,
    io: SnapshotDiffOptions,
  ) {
    const signal = io.signal;
    const startNs = BigInt(Date.now()) * 1_000_000n;
    const limit = startNs - slackNs;
    const limHi = Number(limit >> 32n), limLo = Number(limit & 0xffffffffn);
    const ctimeOnly = io.ctimeOnly?.length ? new Set(io.ctimeOnly) : undefined;
    const prev = prevPath === undefined ? undefined : openRecordReader(prevPath);
    let peek: PrevDir | undefined = prev && !prev.done() ? readPrev(prev) : undefined;
    const takePrev = (dir: string): PrevDir | undefined => {
      if (!prev) return undefined;
      while (peek && dirBefore(peek.dir, dir)) peek = prev.done() ? undefined : readPrev(prev);
      if (!peek || peek.dir !== dir) return undefined;
      const p = peek;
      peek = prev.done() ? undefined : readPrev(prev);
      return p;
    };
    const cache = new Map<string, Group>();
    let listed = 0;
    let nextReport = performance.now() + 250;
    const groupOf = async (dir: string, upcoming: () => readonly string[]): Promise<Group> => {
      const hit = cache.get(dir);
      if (hit) {
        cache.delete(dir);
        return hit;
      }
      const roots = [dir];
      for (const u of upcoming()) if (!cache.has(u)) roots.push(u);
      const l = await walker.list(root, roots, {
        ignore,
        readlinks: true,
        maxEntries: budget,
        ...(signal ? { signal } : {}),
      });
      for (let i = 0; i < l.dirs.length; i++) cache.set(l.dirs[i]!, makeGroup(l.walk, l.starts[i]!, l.starts[i + 1]!));
      listed += l.walk.count;
      if (io.onProgress && performance.now() >= nextReport) {
        nextReport = performance.now() + 250;
        io.onProgress(listed);
      }
      const g = cache.get(dir);
      if (!g) throw new KilnError(`Cannot snapshot ${abs(dir)}: the walker did not list it`);
      cache.delete(dir);
      return g;
    };

    // Per directory (by id; 0 is the root): its parent, its own change, whether it is written.
    let dirParent = new Uint32Array(1024), dirState = new Uint8Array(1024), dirEmit = new Uint8Array(1024);
    let dirs = 1;
    const groups = new Map<string, LinkGroup>();
    const counts: ChangeCounts = { added: 0, modified: 0, deleted: 0, opaque: 0 };
    let plain = 0, plainBytes = 0, marks = 0;

    const hashRacy = (p: string) => hashFile(abs(p), signal);

    /** Merges directory `dir` (id `id`) with its previous listing, writes its records; true if anything below it is written. */
    async function visit(dir: string, id: number, before: PrevDir | undefined, g: Group): Promise<boolean> {
      signal?.throwIfAborted();
      const w = g.w, n = g.n, paths = w.paths;
      const at = (k: number) => (g.idx ? g.idx[k]! : g.start + k);
      const state = new Uint8Array(n);
      const deleted: number[] = [];
      let matched = 0;
      let racyNow: Map<number, string> | undefined;
      const hashes = new Map<number, string>(); // this walk's hashes, by index in g
      if (full) {
        for (let k = 0; k < n; k++) {
          const e = at(k);
          if (w.type[e] !== FileType.file) continue;
          const cHi = g.ct[2 * e + 1]!, mHi = g.mt[2 * e + 1]!;
          const recent = cHi > limHi || (cHi === limHi && (g.ct[2 * e]! >>> 0) >= limLo) || mHi > limHi ||
            (mHi === limHi && (g.mt[2 * e]! >>> 0) >= limLo);
          if (!recent) continue;
          const h = await hashRacy(paths[e]!);
          if (h === undefined) continue;
          (racyNow ??= new Map()).set(k, h);
          hashes.set(k, h);
        }
      }
      if (entriesOut) {
        const pn = before?.n ?? 0;
        let k = 0, j = 0;
        while (k < n || j < pn) {
          const e = k < n ? at(k) : -1;
          const c = k < n ? paths[e]! : undefined;
          const q = j < pn ? before!.paths[j]! : undefined;
          if (q === undefined || (c !== undefined && c < q)) {
            state[k++] = ADDED;
            continue;
          }
          if (c === undefined || q < c) {
            deleted.push(j++);
            continue;
          }
          matched++;
          const b = before!;
          const t = w.type[e]!;
          if (t !== b.type[j]) state[k] = TYPECHANGED;
          else if (g.mt[2 * e] !== b.mt[2 * j] || g.mt[2 * e + 1] !== b.mt[2 * j + 1]) state[k] = MODIFIED;
          else if (time) { /* type and mtime only */ }
          else if (
            w.mode[e] !== b.mode[j] || w.uid[e] !== b.uid[j] || w.gid[e] !== b.gid[j] ||
            (t !== FileType.dir && w.size[e] !== b.size[j]) ||
            (t === FileType.symlink && w.linkTargets?.[e] !== b.links[j]) ||
            ((t === FileType.char || t === FileType.block) && w.rdev[e] !== b.rdev[j])
          ) state[k] = MODIFIED;
          else if (!full) { /* no ctime, no hashing */ }
          else if (
            (g.ct[2 * e] !== b.ct[2 * j] || g.ct[2 * e + 1] !== b.ct[2 * j + 1]) &&
            !(t === FileType.dir && ctimeOnly?.has(c))
          ) state[k] = MODIFIED;
          else if (t === FileType.file && b.racy?.has(j)) {
            const h = hashes.get(k) ?? await hashRacy(c);
            if (h !== b.racy.get(j)) state[k] = MODIFIED;
          }
          k++;
          j++;
        }
      }
      writePrev(baseOut, dir, g, racyNow);
      let emitted = false;
      const out = entriesOut;
      if (out && before) {
        if (before.n > 0 && matched === 0 && dir !== "" && !keepDirs.has(dir)) {
          dirState[id] = REPLACED;
          out.u8(REC_OPAQUE);
          out.str(dir);
          counts.opaque++;
          marks++;
          emitted = true;
        } else {
          for (const j of deleted) {
            out.u8(REC_WHITEOUT);
            out.str(before.paths[j]!);
            counts.deleted++;
            marks++;
            emitted = true;
          }
        }
      }
      // The children in archive order; a subdirectory's contents come where its path plus "/" sorts.
      // Pending subdirectories, ordered by path plus "/" (not by name: "a-c/" sorts before "a/").
      const pend: { path: string; key: string; id: number }[] = [];
      let pi = 0;
      const queueDir = (path: string, cid: number) => {
        const key = path + "/";
        let at = pend.length;
        while (at > pi && pend[at - 1]!.key > key) at--;
        pend.splice(at, 0, { path, key, id: cid });
      };
      const descend = async (): Promise<void> => {
        const c = pend[pi++]!;
        // On a miss, the next subdirectories are listed in the same call.
        const upcoming = () => pend.slice(pi, pi + 127).map((u) => u.path);
        const sub = await visit(c.path, c.id, takePrev(c.path), await groupOf(c.path, upcoming));
        const s = dirState[c.id]!;
        if (s === ADDED) counts.added++;
        else if (s) counts.modified++;
        if (s !== 0 || sub) {
          dirEmit[c.id] = 1;
          emitted = true;
        }
      };
      for (let k = 0; k < n; k++) {
        const e = at(k);
        const p = paths[e]!;
        while (pi < pend.length && pend[pi]!.key < p) await descend();
        if (!out) {
          if (w.type[e] === FileType.dir) queueDir(p, 0);
          continue;
        }
        const t = w.type[e]!;
        const s = state[k]!;
        if (t === FileType.dir) {
          const cid = dirs++;
          dirParent = grow(dirParent, dirs, (c) => new Uint32Array(c));
          dirState = grow(dirState, dirs, (c) => new Uint8Array(c));
          dirEmit = grow(dirEmit, dirs, (c) => new Uint8Array(c));
          dirParent[cid] = id;
          dirState[cid] = s;
          out.u8(REC_DIR);
          out.u32(cid);
          out.str(p);
          out.u32(w.mode[e]!);
          out.u32(w.uid[e]!);
          out.u32(w.gid[e]!);
          out.i64(g.mt[2 * e]!, g.mt[2 * e + 1]!);
          queueDir(p, cid);
          continue;
        }
        if (t === FileType.socket) { // never in a layer; a changed one still brings its parents
          if (s) emitted = true;
          continue;
        }
        const linked = w.nlink[e]! > 1;
        if (s === 0 && !linked) continue;
        out.u8(REC_ENTRY);
        out.u8(s);
        out.u8(t);
        out.str(p);
        out.u32(w.mode[e]!);
        out.u32(w.uid[e]!);
        out.u32(w.gid[e]!);
        out.f64(w.size[e]!);
        out.i64(g.mt[2 * e]!, g.mt[2 * e + 1]!);
        out.f64(w.rdev[e]!);
        out.u32(w.nlink[e]!);
        out.f64(w.dev[e]!);
        out.f64(w.ino[e]!);
        if (t === FileType.symlink) out.str(w.linkTargets?.[e] ?? "");
        if (s) {
          emitted = true;
          if (s === ADDED) counts.added++;
          else counts.modified++;
        }
        if (linked) {
          const key = `${w.dev[e]}:${w.ino[e]}`;
          let lg = groups.get(key);
          if (!lg) {
            groups.set(
              key,
              lg = { changed: false, members: 0, parents: [], size: t === FileType.file ? w.size[e]! : 0 },
            );
          }
          lg.members++;
          lg.parents.push(id);
          if (s) lg.changed = true;
        } else if (s) {
          plain++;
          if (t === FileType.file) plainBytes += w.size[e]!;
        }
      }
      while (pi < pend.length) await descend();
      return emitted;
    }

    try {
      const top = await groupOf("", () => []);
      await visit("", 0, takePrev(""), top);
    } finally {
      prev?.close();
    }
    // A changed hardlink group is written whole, with every member's parents.
    let entryCount = plain + marks;
    let contentBytes = plainBytes;
    for (const lg of groups.values()) {
      if (!lg.changed) continue;
      entryCount += lg.members;
      contentBytes += lg.size;
      for (const d of lg.parents) for (let q = d; q !== 0 && !dirEmit[q]; q = dirParent[q]!) dirEmit[q] = 1;
    }
    for (let d = 1; d < dirs; d++) entryCount += dirEmit[d]!;
    return { counts, entryCount, contentBytes, dirState, dirEmit, groups };
  }

  async function newBaseline(
    prevPath: string | undefined,
    withEntries: boolean,
    io: SnapshotDiffOptions,
  ) {
    const nextBase = fresh("base");
    const nextEntries = withEntries ? fresh("entries") : undefined;
    const baseOut = createRecordWriter(nextBase);
    const entriesOut = nextEntries === undefined ? undefined : createRecordWriter(nextEntries);
    try {
      const r = await walkTree(baseOut, prevPath, entriesOut, io);
      baseOut.close();
      entriesOut?.close();
      return { ...r, nextBase, nextEntries };
    } catch (e) {
      baseOut.abandon();
      entriesOut?.abandon();
      drop(nextBase);
      drop(nextEntries);
      throw e;
    }
  }

  function makeDiff(
    file: string,
    r: Awaited<ReturnType<typeof walkTree>>,
  ): LayerDiff {
    const { counts, entryCount, contentBytes, dirState, dirEmit, groups } = r;
    function* changes(): Iterable<SnapshotChange> {
      const rd = openRecordReader(file);
      try {
        while (!rd.done()) {
          const rec = readRecord(rd);
          if (rec.kind === REC_WHITEOUT) yield { kind: "deleted", path: rec.path };
          else if (rec.kind === REC_OPAQUE) yield { kind: "opaque", path: rec.path };
          else {
            const s = rec.kind === REC_DIR ? dirState[rec.id]! : rec.state;
            if (s) yield { kind: s === ADDED ? "added" : "modified", path: rec.path };
          }
        }
      } finally {
        rd.close();
      }
    }

    function entries(eo: DiffEntriesOptions = {}): ReadableStream<TarEntry> {
      const fixed = eo.mtime;
      const firstOfInode = new Map<string, string>();
      // Small files' bytes are read into 1 MiB slabs, one allocation per slab rather than one per file (the tar
      // writer copies them out; a slab is left to the collector once full).
      let slab: Uint8Array | undefined;
      let slabAt = 0;
      const small = (n: number): Uint8Array => {
        if (!slab || slabAt + n > slab.length) {
          slab = new Uint8Array(Math.max(SLAB, n));
          slabAt = 0;
        }
        const v = slab.subarray(slabAt, slabAt + n);
        slabAt += n;
        return v;
      };
      let rd: RecordReader | undefined;
      const mtime = (rec: EntryRecord) => fixed ?? Number(rec.mtimeNs / 1_000_000_000n);
      return new ReadableStream<TarEntry>({
        pull(controller) {
          try {
            if (eo.signal?.aborted) throw new AbortedError("Snapshot aborted");
            rd ??= openRecordReader(file);
            for (;;) {
              if (rd.done()) {
                rd.close();
                controller.close();
                return;
              }
              const rec = readRecord(rd);
              if (rec.kind === REC_WHITEOUT || rec.kind === REC_OPAQUE) {
                const p = rec.path;
                const wh = rec.kind === REC_OPAQUE
                  ? `${p}/.wh..wh..opq`
                  : `${parentOf(p) === "" ? "" : parentOf(p) + "/"}.wh.${baseOf(p)}`;
                controller.enqueue({
                  header: { path: wh, type: "file", mode: 0, uid: 0, gid: 0, mtime: fixed ?? 0, size: 0 },
                });
                return;
              }
              if (rec.kind === REC_DIR) {
                if (!dirEmit[rec.id]) continue;
                const header: TarHeader = {
                  path: rec.path,
                  type: "dir",
                  mode: rec.mode,
                  uid: rec.uid,
                  gid: rec.gid,
                  mtime: mtime(rec),
                  size: 0,
                };
                withXattrs(header);
                controller.enqueue({ header });
                return;
              }
              const linked = rec.nlink > 1;
              const key = linked ? `${rec.dev}:${rec.ino}` : "";
              if (linked && !groups.get(key)?.changed) continue;
              controller.enqueue(entryOf(rec, key, mtime(rec)));
              return;
            }
          } catch (e) {
            rd?.close();
            controller.error(e);
          }
        },
        cancel() {
          rd?.close();
        },
      }, { highWaterMark: 0 });

      function withXattrs(header: TarHeader): void {
        if (!options.xattrReader) return;
        const x = options.xattrReader(abs(header.path));
        if (x && Object.keys(x).length > 0) header.xattrs = x;
      }

      /** The tar entry of a non-directory: small files carry their bytes (`data`), larger ones a body stream. */
      function entryOf(rec: EntryRecord, key: string, mtime: number): TarEntry {
        const p = rec.path, t = rec.type;
        const header: TarHeader = {
          path: p,
          type: TAR_TYPE[t] ?? "file",
          mode: rec.mode,
          uid: rec.uid,
          gid: rec.gid,
          // Whole seconds, as Docker's and buildah's archivers write them: no PAX header per entry.
          mtime,
          size: 0,
        };
        if (t !== FileType.symlink) withXattrs(header);
        if (t === FileType.symlink) header.linkname = rec.link;
        if (t === FileType.char || t === FileType.block) {
          const { major, minor } = devNumbers(rec.rdev);
          header.devmajor = major;
          header.devminor = minor;
        }
        if (key !== "") {
          const first = firstOfInode.get(key);
          if (first !== undefined) {
            header.type = "hardlink";
            header.linkname = first;
            delete header.xattrs;
            return { header };
          }
          firstOfInode.set(key, p);
        }
        if (t !== FileType.file) return { header };
        const size = header.size = rec.size;
        if (size === 0) return { header };
        if (size <= SMALL_FILE) return { header, data: readSmall(abs(p), small(size)) };
        return { header, body: fileBody(abs(p), size, eo.signal, eo.pool) };
      }
    }

    return { empty: entryCount === 0, counts, entryCount, contentBytes, changes, entries };
  }

  return {
    mode,
    async init(io = {}) {
      drop(entriesPath);
      entriesPath = undefined;
      if (io.empty) {
        const next = fresh("base");
        createRecordWriter(next).close();
        drop(basePath);
        basePath = next;
        return;
      }
      const r = await newBaseline(undefined, false, io);
      drop(basePath);
      basePath = r.nextBase;
    },
    async diff(io = {}) {
      if (basePath === undefined) {
        const next = fresh("base");
        createRecordWriter(next).close();
        basePath = next;
      }
      const r = await newBaseline(basePath, true, io);
      drop(basePath);
      drop(entriesPath);
      basePath = r.nextBase;
      entriesPath = r.nextEntries!;
      return makeDiff(entriesPath, r);
    },
  };
}

/** A record of a diff's entry list, as read back. */
interface EntryRecord {
  kind: number;
  /** Directory id (directories). */
  id: number;
  state: number;
  type: number;
  path: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: bigint;
  rdev: number;
  nlink: number;
  dev: number;
  ino: number;
  link: string;
}

function readI64(r: RecordReader): bigint {
  const lo = r.u32(), hi = r.u32();
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
}

function readRecord(r: RecordReader): EntryRecord {
  const kind = r.u8();
  const rec: EntryRecord = {
    kind,
    id: 0,
    state: 0,
    type: FileType.dir,
    path: "",
    mode: 0,
    uid: 0,
    gid: 0,
    size: 0,
    mtimeNs: 0n,
    rdev: 0,
    nlink: 1,
    dev: 0,
    ino: 0,
    link: "",
  };
  if (kind === REC_WHITEOUT || kind === REC_OPAQUE) {
    rec.path = r.str();
    return rec;
  }
  if (kind === REC_DIR) {
    rec.id = r.u32();
    rec.path = r.str();
    rec.mode = r.u32();
    rec.uid = r.u32();
    rec.gid = r.u32();
    rec.mtimeNs = readI64(r);
    return rec;
  }
  if (kind !== REC_ENTRY) {
    throw new KilnError("kiln's snapshot state is damaged: was its work dir changed during the build?");
  }
  rec.state = r.u8();
  rec.type = r.u8();
  rec.path = r.str();
  rec.mode = r.u32();
  rec.uid = r.u32();
  rec.gid = r.u32();
  rec.size = r.f64();
  rec.mtimeNs = readI64(r);
  rec.rdev = r.f64();
  rec.nlink = r.u32();
  rec.dev = r.f64();
  rec.ino = r.f64();
  if (rec.type === FileType.symlink) rec.link = r.str();
  return rec;
}
