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
 * Every decision depends only on what a user can see — path, type, mode, owner, size, times, link target, device
 * number, content — never on inode numbers (a re-created directory may or may not get its old inode back), device
 * numbers, directory sizes (they differ between tmpfs and ext4), readdir order or timing, so the same change gives the
 * same bytes on any filesystem (lib/fs/README.md).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { closeSync, lstatSync, openSync, readFileSync, readSync } from "node:fs";
import { open, readlink } from "node:fs/promises";
import { AbortedError, type ChunkPool, KilnError } from "../util/mod.ts";
import type { TarEntry, TarEntryType, TarHeader } from "../tar/mod.ts";
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

/** The changes found by one {@linkcode Snapshotter.diff}. */
export interface LayerDiff {
  /** True when nothing changed (no layer should be written). */
  readonly empty: boolean;
  /** Paths added (relative, sorted). */
  readonly added: readonly string[];
  /** Paths whose metadata or content changed, or whose type changed (relative, sorted). */
  readonly modified: readonly string[];
  /** Paths deleted, as whiteouts are written: the top of each deleted subtree (relative, sorted). */
  readonly deleted: readonly string[];
  /** Directories replaced by a new directory, written with an opaque whiteout (relative, sorted). */
  readonly opaque: readonly string[];
  /** Number of tar entries {@linkcode entries} yields. */
  readonly entryCount: number;
  /** Total size of the file contents the layer will hold (hardlinks counted once). */
  readonly contentBytes: number;
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

function emptyWalk(): WalkResult {
  return {
    count: 0,
    paths: [],
    type: new Uint8Array(0),
    mode: new Uint16Array(0),
    uid: new Uint32Array(0),
    gid: new Uint32Array(0),
    size: new Float64Array(0),
    mtimeNs: new BigInt64Array(0),
    ctimeNs: new BigInt64Array(0),
    ino: new Float64Array(0),
    dev: new Float64Array(0),
    nlink: new Uint32Array(0),
    rdev: new Float64Array(0),
    linkTargets: [],
  };
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

/**
 * Creates a snapshotter for a root filesystem.
 *
 * @param options Root, walker, mode, ignore list, xattr reader.
 * @returns A {@linkcode Snapshotter}.
 *
 * @example Snapshot a change
 * ```ts
 * import { createSnapshotter } from "./snapshot.ts";
 * import { createTsWalker } from "./walker_ts.ts";
 * const root = Deno.makeTempDirSync();
 * const snap = createSnapshotter({ root, walker: createTsWalker() });
 * await snap.init();
 * Deno.writeTextFileSync(root + "/hello.txt", "hi\n");
 * const diff = await snap.diff();
 * console.assert(diff.added[0] === "hello.txt" && diff.entryCount === 1);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function createSnapshotter(options: SnapshotterOptions): Snapshotter {
  const root = options.root.length > 1 && options.root.endsWith("/") ? options.root.slice(0, -1) : options.root;
  const walker = options.walker;
  const mode: SnapshotMode = options.mode ?? "full";
  const ignore = options.ignore ?? [];
  const slackNs = BigInt(Math.round((options.racySlackMs ?? 20) * 1e6));
  const abs = (rel: string) => `${root}/${rel}`;

  let prev: WalkResult = emptyWalk();
  let prevIndex: Map<string, number> | undefined = new Map<string, number>();
  /** The previous walk's path → index map, built on first need (a no-op walk in the same order never needs it). */
  function index(): Map<string, number> {
    return prevIndex ??= indexOf(prev);
  }
  /** Content hashes of files that were racily clean at the last walk (full mode). */
  let racy = new Map<string, string>();

  async function walkNow(
    signal?: AbortSignal,
    onProgress?: (entries: number) => void,
  ): Promise<{ cur: WalkResult; startNs: bigint }> {
    const startNs = BigInt(Date.now()) * 1_000_000n;
    const cur = await walker.walk(root, {
      ignore,
      readlinks: true,
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    if (!cur.linkTargets) {
      // A walker that ignored `readlinks`: read the targets ourselves.
      const links: (string | undefined)[] = new Array(cur.count);
      for (let i = 0; i < cur.count; i++) {
        if (cur.type[i] === FileType.symlink) links[i] = await readlink(abs(cur.paths[i]!));
      }
      cur.linkTargets = links;
    }
    return { cur, startNs };
  }

  async function collectRacy(cur: WalkResult, startNs: bigint, signal?: AbortSignal): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (mode !== "full") return out;
    const limit = startNs - slackNs;
    for (let i = 0; i < cur.count; i++) {
      if (cur.type[i] !== FileType.file) continue;
      if (cur.ctimeNs[i]! < limit && cur.mtimeNs[i]! < limit) continue;
      const h = await hashFile(abs(cur.paths[i]!), signal);
      if (h !== undefined) out.set(cur.paths[i]!, h);
    }
    return out;
  }

  /** Path → index of a walk's entries (of one type only, when given). */
  function indexOf(w: WalkResult, only?: number): Map<string, number> {
    const m = new Map<string, number>();
    const paths = w.paths;
    for (let i = 0; i < w.count; i++) if (only === undefined || w.type[i] === only) m.set(paths[i]!, i);
    return m;
  }

  async function diffWalks(cur: WalkResult, signal?: AbortSignal, ctimeOnly?: ReadonlySet<string>): Promise<{
    state: Uint8Array;
    deleted: number[];
  }> {
    const n = cur.count;
    const state = new Uint8Array(n);
    const seen = new Uint8Array(prev.count);
    const pPaths = prev.paths, cPaths = cur.paths;
    const pType = prev.type, cType = cur.type;
    const pMode = prev.mode, cMode = cur.mode;
    const pUid = prev.uid, cUid = cur.uid;
    const pGid = prev.gid, cGid = cur.gid;
    const pSize = prev.size, cSize = cur.size;
    // Compare 64-bit times as two int32 halves: reading a BigInt64Array allocates a BigInt per element.
    const pMt = halves(prev.mtimeNs), cMt = halves(cur.mtimeNs);
    const pCt = halves(prev.ctimeNs), cCt = halves(cur.ctimeNs);
    const pRdev = prev.rdev, cRdev = cur.rdev;
    const pLink = prev.linkTargets ?? [], cLink = cur.linkTargets ?? [];
    const full = mode === "full", time = mode === "time";
    const toHash: number[] = [];
    for (let i = 0; i < n; i++) {
      const p = cPaths[i]!;
      let j: number | undefined = pPaths[i] === p ? i : index().get(p);
      if (j === undefined) {
        state[i] = ADDED;
        continue;
      }
      seen[j] = 1;
      const t = cType[i]!;
      if (t !== pType[j]) {
        state[i] = TYPECHANGED;
        continue;
      }
      if (cMt[2 * i] !== pMt[2 * j] || cMt[2 * i + 1] !== pMt[2 * j + 1]) {
        state[i] = MODIFIED;
        continue;
      }
      if (time) continue;
      if (
        cMode[i] !== pMode[j] || cUid[i] !== pUid[j] || cGid[i] !== pGid[j] ||
        (t !== FileType.dir && cSize[i] !== pSize[j]) ||
        (t === FileType.symlink && cLink[i] !== pLink[j]) ||
        ((t === FileType.char || t === FileType.block) && cRdev[i] !== pRdev[j])
      ) {
        state[i] = MODIFIED;
        continue;
      }
      if (!full) continue;
      if (
        (cCt[2 * i] !== pCt[2 * j] || cCt[2 * i + 1] !== pCt[2 * j + 1]) && !(t === FileType.dir && ctimeOnly?.has(p))
      ) {
        state[i] = MODIFIED;
        continue;
      }
      if (t === FileType.file && racy.size > 0 && racy.has(p)) toHash.push(i);
      j = undefined;
    }
    for (const i of toHash) {
      const p = cPaths[i]!;
      const h = await hashFile(abs(p), signal);
      if (h !== racy.get(p)) state[i] = MODIFIED;
    }
    const deleted: number[] = [];
    for (let j = 0; j < prev.count; j++) if (!seen[j]) deleted.push(j);
    return { state, deleted };
  }

  /**
   * Marks as replaced (written as an opaque directory) each directory that is a directory in both walks,
   * had children in the previous walk and has none of them now. Decided from paths alone — never from inode numbers,
   * which a filesystem may or may not reuse for a re-created directory. Directories with an ignored path below them
   * are left alone: an opaque marker would hide what the ignored path holds in lower layers.
   */
  function markEmptied(
    dirIndex: () => Map<string, number>,
    state: Uint8Array,
    deletedIdx: readonly number[],
  ): void {
    if (deletedIdx.length === 0) return;
    const pPaths = prev.paths;
    const gone = new Map<string, number>();
    for (const j of deletedIdx) {
      const parent = parentOf(pPaths[j]!);
      if (parent !== "") gone.set(parent, (gone.get(parent) ?? 0) + 1);
    }
    for (const ig of ignore) {
      for (let d = parentOf(ig); d !== ""; d = parentOf(d)) gone.delete(d);
    }
    if (gone.size === 0) return;
    const had = new Map<string, number>();
    for (const d of gone.keys()) had.set(d, 0);
    for (let j = 0; j < prev.count; j++) {
      const parent = parentOf(pPaths[j]!);
      const c = had.get(parent);
      if (c !== undefined) had.set(parent, c + 1);
    }
    for (const [d, n] of gone) {
      if (had.get(d) !== n) continue; // some of its children are still there
      const k = dirIndex().get(d);
      if (k !== undefined && state[k] !== TYPECHANGED) state[k] = REPLACED;
    }
  }

  function buildDiff(
    cur: WalkResult,
    /** Path → index of the walk's directories (every parent is one). */
    dirIndex: () => Map<string, number>,
    state: Uint8Array,
    deletedIdx: number[],
  ): LayerDiff {
    const n = cur.count;
    const emit = new Uint8Array(n);
    const added: string[] = [], modified: string[] = [], opaque: string[] = [], deleted: string[] = [];
    const cPaths = cur.paths;
    let any = false;
    for (let i = 0; i < n; i++) {
      if (state[i]) {
        emit[i] = 1;
        any = true;
      }
    }
    // Everything below a replaced directory or a path that became a directory is new content.
    const opaqueDirs = new Set<string>();
    if (any) {
      for (let i = 0; i < n; i++) {
        const s = state[i]!;
        const p = cPaths[i]!;
        if (opaqueDirs.size > 0 && opaqueDirs.has(parentOf(p))) {
          emit[i] = 1;
          if (cur.type[i] === FileType.dir) opaqueDirs.add(p);
          continue;
        }
        if (s === REPLACED) {
          opaqueDirs.add(p);
          opaque.push(p);
        } else if (s === TYPECHANGED && cur.type[i] === FileType.dir) opaqueDirs.add(p);
      }
    }
    // Whiteouts: the top of each deleted subtree whose parent is still the same directory.
    const whiteouts: string[] = [];
    for (const j of deletedIdx) {
      const p = prev.paths[j]!;
      const parent = parentOf(p);
      if (parent !== "") {
        const k = dirIndex().get(parent);
        if (k === undefined) continue; // parent deleted too: its whiteout covers this
        if (cur.type[k] !== FileType.dir) continue; // parent became a non-directory
        const s = state[k]!;
        if (s === REPLACED || s === TYPECHANGED || opaqueDirs.has(parent)) continue; // opaque or new dir covers it
        emit[k] = 1; // parent directory with its real metadata
      }
      whiteouts.push(p);
      deleted.push(p);
    }
    // Parent directories of emitted entries.
    for (let i = 0; i < n; i++) {
      if (!emit[i]) continue;
      let parent = parentOf(cPaths[i]!);
      while (parent !== "") {
        const k = dirIndex().get(parent);
        if (k === undefined || emit[k]) break;
        emit[k] = 1;
        parent = parentOf(parent);
      }
    }
    // Whole hardlink groups.
    let groups: Map<string, number[]> | undefined;
    for (let i = 0; i < n; i++) {
      if (!emit[i] || cur.type[i] === FileType.dir || cur.nlink[i]! < 2) continue;
      if (!groups) {
        groups = new Map();
        for (let k = 0; k < n; k++) {
          if (cur.type[k] === FileType.dir || cur.nlink[k]! < 2) continue;
          const key = `${cur.dev[k]}:${cur.ino[k]}`;
          const g = groups.get(key);
          if (g) g.push(k);
          else groups.set(key, [k]);
        }
      }
      for (const k of groups.get(`${cur.dev[i]}:${cur.ino[i]}`) ?? []) {
        if (emit[k]) continue;
        emit[k] = 1;
        let parent = parentOf(cPaths[k]!);
        while (parent !== "") {
          const q = dirIndex().get(parent);
          if (q === undefined || emit[q]) break;
          emit[q] = 1;
          parent = parentOf(parent);
        }
      }
    }
    // Archive order: entries by path, as indexes into the walk's columns (no object per entry); whiteouts and opaque
    // markers, kept apart, sort before their siblings ("\0" sorts first; an opaque marker before the whiteouts).
    let count = 0;
    for (let i = 0; i < n; i++) if (emit[i] && cur.type[i] !== FileType.socket) count++; // no sockets in layers
    const order = new Uint32Array(count);
    for (let i = 0, k = 0; i < n; i++) if (emit[i] && cur.type[i] !== FileType.socket) order[k++] = i;
    order.sort((a, b) => {
      const x = cPaths[a]!, y = cPaths[b]!;
      return x < y ? -1 : x > y ? 1 : 0;
    });
    for (let k = 0; k < count; k++) {
      const i = order[k]!;
      const s = state[i];
      if (s === ADDED) added.push(cPaths[i]!);
      else if (s) modified.push(cPaths[i]!);
    }
    const marks: { key: string; wh: string }[] = [];
    for (const p of opaque) marks.push({ key: `${p}/\u0000`, wh: `${p}/.wh..wh..opq` });
    for (const p of whiteouts) {
      const dir = parentOf(p) === "" ? "" : parentOf(p) + "/";
      marks.push({ key: `${dir}\u0000${baseOf(p)}`, wh: `${dir}.wh.${baseOf(p)}` });
    }
    marks.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    deleted.sort();
    opaque.sort();
    const entryCount = count + marks.length;

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
      const ctx = { fixed, firstOfInode, signal: eo.signal, pool: eo.pool, small };
      let r = 0, w = 0;
      return new ReadableStream<TarEntry>({
        pull(controller) {
          try {
            if (eo.signal?.aborted) throw new AbortedError("Snapshot aborted");
            const mark = marks[w];
            if (mark !== undefined && (r >= count || mark.key < cPaths[order[r]!]!)) {
              w++;
              controller.enqueue({
                header: { path: mark.wh, type: "file", mode: 0, uid: 0, gid: 0, mtime: fixed ?? 0, size: 0 },
              });
            } else if (r < count) controller.enqueue(entryAt(order[r++]!, ctx));
            else controller.close();
          } catch (e) {
            controller.error(e);
          }
        },
      }, { highWaterMark: 0 });
    }

    /** The tar entry of walk index `i`: small files carry their bytes (`data`), larger ones a body stream. */
    function entryAt(
      i: number,
      { fixed, firstOfInode, signal, pool, small }: {
        fixed: number | undefined;
        firstOfInode: Map<string, string>;
        signal: AbortSignal | undefined;
        pool: ChunkPool | undefined;
        small: (n: number) => Uint8Array;
      },
    ): TarEntry {
      const p = cPaths[i]!;
      const t = cur.type[i]!;
      const header: TarHeader = {
        path: p,
        type: TAR_TYPE[t] ?? "file",
        mode: cur.mode[i]!,
        uid: cur.uid[i]!,
        gid: cur.gid[i]!,
        // Whole seconds, as Docker's and buildah's archivers write them: no PAX header per entry.
        mtime: fixed ?? Number(cur.mtimeNs[i]! / 1_000_000_000n),
        size: 0,
      };
      if (options.xattrReader && t !== FileType.symlink) {
        const x = options.xattrReader(abs(p));
        if (x && Object.keys(x).length > 0) header.xattrs = x;
      }
      if (t === FileType.symlink) header.linkname = cur.linkTargets?.[i] ?? "";
      if (t === FileType.char || t === FileType.block) {
        const { major, minor } = devNumbers(cur.rdev[i]!);
        header.devmajor = major;
        header.devminor = minor;
      }
      if (t !== FileType.dir && cur.nlink[i]! > 1) {
        const key = `${cur.dev[i]}:${cur.ino[i]}`;
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
      const size = header.size = cur.size[i]!;
      if (size === 0) return { header };
      if (size <= SMALL_FILE) return { header, data: readSmall(abs(p), small(size)) };
      return { header, body: fileBody(abs(p), size, signal, pool) };
    }

    let contentBytes = 0;
    const seenInodes = new Set<string>();
    for (let k = 0; k < count; k++) {
      const i = order[k]!;
      if (cur.type[i] !== FileType.file) continue;
      if (cur.nlink[i]! > 1) {
        const key = `${cur.dev[i]}:${cur.ino[i]}`;
        if (seenInodes.has(key)) continue;
        seenInodes.add(key);
      }
      contentBytes += cur.size[i]!;
    }
    return { empty: entryCount === 0, added, modified, deleted, opaque, entryCount, contentBytes, entries };
  }

  return {
    mode,
    async init(io = {}) {
      if (io.empty) {
        prev = emptyWalk();
        prevIndex = new Map();
        racy = new Map();
        return;
      }
      const { cur, startNs } = await walkNow(io.signal);
      prev = cur;
      prevIndex = undefined;
      racy = await collectRacy(cur, startNs, io.signal);
    },
    async diff(io = {}) {
      const { cur, startNs } = await walkNow(io.signal, io.onProgress);
      const ctimeOnly = io.ctimeOnly?.length ? new Set(io.ctimeOnly) : undefined;
      const { state, deleted } = await diffWalks(cur, io.signal, ctimeOnly);
      let curDirs: Map<string, number> | undefined;
      const dirIndex = () => curDirs ??= indexOf(cur, FileType.dir);
      markEmptied(dirIndex, state, deleted);
      const result = buildDiff(cur, dirIndex, state, deleted);
      prev = cur;
      prevIndex = undefined; // built again only when the next walk's order differs
      racy = await collectRacy(cur, startNs, io.signal);
      return result;
    },
  };
}
