/**
 * The native walker and hasher, backed by kiln's N-API addon (native/): a parallel walk with statx and
 * threaded OpenSSL sha256. Load it through {@linkcode loadWalker} (lib/fs/walker.ts), which falls back to TS.
 *
 * @module
 */
import { AbortedError, KilnError } from "../util/mod.ts";
import type { AddonWalkResult, KilnAddon } from "./_addon.ts";
import type { DirListing, FileHasher, ListOptions, Walker, WalkOptions, WalkResult } from "./types.ts";
import { normalizeIgnore } from "./_columns.ts";

/** Options for {@linkcode createNativeWalker} and {@linkcode createNativeHasher}. */
export interface NativeOptions {
  /** Worker threads (default 2 for walking, 4 for hashing, capped at 16). */
  threads?: number;
}

function rethrow(e: unknown): never {
  const err = e as Error & { code?: string };
  if (err?.code === "ECANCELED") throw new AbortedError();
  // The addon's messages already say what and where ("Cannot read directory /x: EACCES").
  throw new KilnError(err?.message ?? String(e), { cause: e });
}

function onAbort(signal: AbortSignal | undefined, cancel: Int32Array): () => void {
  if (!signal) return () => {};
  const f = () => Atomics.store(cancel, 0, 1);
  signal.addEventListener("abort", f, { once: true });
  return () => signal.removeEventListener("abort", f);
}

function splitNul(s: string, n: number): string[] {
  if (n === 0) return [];
  const out = s.split("\0");
  out.length = n;
  return out;
}

function toWalkResult(r: AddonWalkResult, readlinks: boolean, xattrs: boolean): WalkResult {
  const n = r.count;
  const out: WalkResult = {
    count: n,
    paths: splitNul(r.paths, n),
    type: r.type,
    mode: r.mode,
    uid: r.uid,
    gid: r.gid,
    size: r.size,
    mtimeNs: r.mtimeNs,
    ctimeNs: r.ctimeNs,
    ino: r.ino,
    dev: r.dev,
    nlink: r.nlink,
    rdev: r.rdev,
  };
  if (readlinks) {
    const targets = r.links ? r.links.split("\0") : [];
    const lt: (string | undefined)[] = new Array(n);
    let j = 0;
    for (let i = 0; i < n; i++) lt[i] = r.type[i] === 3 ? targets[j++] : undefined;
    out.linkTargets = lt;
  }
  if (xattrs && r.xattrCount && r.xattrLens && r.xattrValues) {
    const names = r.xattrNames ? r.xattrNames.split("\0") : [];
    const xs: (Record<string, Uint8Array> | undefined)[] = new Array(n);
    let k = 0;
    let off = 0;
    for (let i = 0; i < n; i++) {
      const c = r.xattrCount[i]!;
      if (c === 0) {
        xs[i] = undefined;
        continue;
      }
      const rec: Record<string, Uint8Array> = {};
      for (let m = 0; m < c; m++, k++) {
        const len = r.xattrLens[k]!;
        rec[names[k]!] = r.xattrValues.slice(off, off + len);
        off += len;
      }
      xs[i] = rec;
    }
    out.xattrs = xs;
  }
  return out;
}

/**
 * Creates a walker backed by the addon.
 *
 * @param addon The loaded addon (see `loadAddon` in _addon.ts, or use `loadWalker`).
 * @param options Thread count.
 * @returns A {@linkcode Walker} named `"native"` that reads xattrs.
 */
export function createNativeWalker(addon: KilnAddon, options: NativeOptions = {}): Walker {
  const threads = Math.min(16, Math.max(1, options.threads ?? 2));
  return {
    name: "native",
    supportsXattrs: true,
    async walk(root: string, opts: WalkOptions = {}): Promise<WalkResult> {
      if (opts.signal?.aborted) throw new AbortedError(`Walk of ${root} aborted`);
      const cancel = new Int32Array(new ArrayBuffer(8)); // [cancel, entries listed so far]
      const off = onAbort(opts.signal, cancel);
      const onProgress = opts.onProgress;
      const ticker = onProgress ? setInterval(() => onProgress(Atomics.load(cancel, 1)), 250) : undefined;
      const readlinks = opts.readlinks === true;
      const xattrs = opts.xattrs === true;
      const base = root.length > 1 && root.endsWith("/") ? root.slice(0, -1) : root;
      try {
        const r = await addon.walk(base, {
          ignore: [...normalizeIgnore(opts.ignore)],
          readlinks,
          xattrs,
          oneFileSystem: opts.oneFileSystem === true,
          threads,
          cancel,
        });
        return toWalkResult(r, readlinks, xattrs);
      } catch (e) {
        if (opts.signal?.aborted) throw new AbortedError(`Walk of ${base} aborted`);
        rethrow(e);
      } finally {
        off();
        if (ticker !== undefined) clearInterval(ticker);
      }
    },
    async list(root: string, dirs: readonly string[], opts: ListOptions): Promise<DirListing> {
      if (opts.signal?.aborted) throw new AbortedError(`Walk of ${root} aborted`);
      const cancel = new Int32Array(new ArrayBuffer(4));
      const off = onAbort(opts.signal, cancel);
      const readlinks = opts.readlinks === true;
      const base = root.length > 1 && root.endsWith("/") ? root.slice(0, -1) : root;
      try {
        const r = await addon.walk(base, {
          ignore: [...normalizeIgnore(opts.ignore)],
          readlinks,
          xattrs: false,
          oneFileSystem: false,
          threads,
          cancel,
          roots: [...dirs],
          maxEntries: opts.maxEntries,
        });
        const counts = r.batchCounts ?? new Uint32Array(0);
        const starts = new Uint32Array(counts.length + 1);
        for (let i = 0; i < counts.length; i++) starts[i + 1] = starts[i]! + counts[i]!;
        return { walk: toWalkResult(r, readlinks, false), dirs: splitNul(r.batchDirs ?? "", counts.length), starts };
      } catch (e) {
        if (opts.signal?.aborted) throw new AbortedError(`Walk of ${base} aborted`);
        rethrow(e);
      } finally {
        off();
      }
    },
  };
}

/**
 * Creates a file hasher backed by the addon (OpenSSL sha256 in a thread pool).
 *
 * @param addon The loaded addon.
 * @param options Thread count.
 * @returns A {@linkcode FileHasher} named `"native"`.
 */
export function createNativeHasher(addon: KilnAddon, options: NativeOptions = {}): FileHasher {
  const threads = Math.min(16, Math.max(1, options.threads ?? 4));
  return {
    name: "native",
    async hashFiles(paths: readonly string[], opts: { signal?: AbortSignal } = {}): Promise<string[]> {
      if (opts.signal?.aborted) throw new AbortedError("Hashing aborted");
      if (paths.length === 0) return [];
      const cancel = new Int32Array(new ArrayBuffer(4));
      const off = onAbort(opts.signal, cancel);
      try {
        return await addon.hashFiles([...paths], threads, cancel);
      } catch (e) {
        if (opts.signal?.aborted) throw new AbortedError("Hashing aborted");
        rethrow(e);
      } finally {
        off();
      }
    },
  };
}
