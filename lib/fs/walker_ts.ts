/**
 * The TypeScript walker: a directory listing (`Deno.readDirSync`, or `node:fs.readdirSync` off Deno) plus one
 * lstat per entry, through statx over Deno's FFI when that is available (nanosecond times; Deno's `node:fs` bigint
 * stats only carry millisecond mtime and second ctime), else `node:fs.lstatSync(…, {bigint: true})`. It is the
 * fallback when the native addon is not available; both pass the same contract tests. Names that are not valid
 * UTF-8 are an error here (the native walker lists them, lossily).
 *
 * @module
 */
import { readdirSync, readlinkSync } from "node:fs";
import { bestLstat, type LstatFn, nodeLstat } from "./_stat.ts";
import { AbortedError, KilnError } from "../util/mod.ts";
import { createColumnBuilder, newStatRecord, normalizeIgnore } from "./_columns.ts";
import {
  type DirListing,
  FileType,
  type ListOptions,
  type Walker,
  type WalkOptions,
  type WalkResult,
} from "./types.ts";

/** Reads all xattrs of a path without following symlinks (see syscalls.ts). */
export type XattrReader = (path: string) => Record<string, Uint8Array> | undefined;

/** Options for {@linkcode createTsWalker}. */
export interface TsWalkerOptions {
  /**
   * Reads a path's xattrs (e.g. `lgetxattrs` from syscalls.ts when a backend is available). Without it the
   * walker does not support `xattrs: true` and leaves `xattrs` out of the result.
   */
  xattrReader?: XattrReader;
  /** Directories read between yields to the event loop (default 256), so a signal can abort the walk. */
  yieldEvery?: number;
  /**
   * `"node-fs"` forces `node:fs` (`readdirSync` + `lstatSync`); `"auto"` (default) lists with `Deno.readDirSync` and
   * stats with statx over Deno FFI when available.
   */
  lstat?: "auto" | "node-fs";
}

type DenoReadDir = { readDirSync?: (path: string) => Iterable<{ name: string }> };

/** Lists a directory: `Deno.readDirSync` where available (about 1.5× faster under Deno), else `node:fs`. */
function dirLister(): (path: string) => string[] {
  const D = (globalThis as unknown as { Deno?: DenoReadDir }).Deno;
  const readDirSync = D?.readDirSync;
  if (typeof readDirSync !== "function") return (path) => readdirSync(path);
  return (path) => {
    const out: string[] = [];
    for (const e of readDirSync(path)) out.push(e.name);
    return out;
  };
}

const S_IFMT = 0o170000;

function typeOf(mode: number): number {
  switch (mode & S_IFMT) {
    case 0o100000:
      return FileType.file;
    case 0o040000:
      return FileType.dir;
    case 0o120000:
      return FileType.symlink;
    case 0o020000:
      return FileType.char;
    case 0o060000:
      return FileType.block;
    case 0o010000:
      return FileType.fifo;
    case 0o140000:
      return FileType.socket;
    default:
      return FileType.file;
  }
}

function errCode(e: unknown): string {
  return (e as { code?: string }).code ?? String(e);
}

/**
 * Whether an error says a listed entry is gone: removed (ENOENT) or replaced by something else (ENOTDIR for a
 * directory, EINVAL for a symlink) between the parent's listing and the read. A live tree (`/` with `/proc`, a
 * rootfs a process still writes) changes during a walk; such entries are skipped, as `find` does.
 */
function vanished(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "EINVAL";
}

/**
 * Creates the pure-TS walker.
 *
 * @param options Optional xattr reader.
 * @returns A {@linkcode Walker} named `"ts"`.
 *
 * @example Walk a directory
 * ```ts
 * import { createTsWalker } from "./walker_ts.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(dir + "/a.txt", "hi");
 * const r = await createTsWalker().walk(dir);
 * console.assert(r.count === 1 && r.paths[0] === "a.txt" && r.size[0] === 2);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function createTsWalker(options: TsWalkerOptions = {}): Walker {
  const xattrReader = options.xattrReader;
  const yieldEvery = options.yieldEvery ?? 256;
  const lstat: LstatFn = options.lstat === "node-fs" ? nodeLstat() : bestLstat().lstat;
  const listDir = options.lstat === "node-fs" ? (path: string) => readdirSync(path) : dirLister();
  return {
    name: "ts",
    supportsXattrs: xattrReader !== undefined,
    async walk(root: string, opts: WalkOptions = {}): Promise<WalkResult> {
      const signal = opts.signal;
      if (signal?.aborted) throw new AbortedError(`Walk of ${root} aborted`);
      const ignore = normalizeIgnore(opts.ignore);
      const hasIgnore = ignore.size > 0;
      const readlinks = opts.readlinks === true;
      const wantXattrs = opts.xattrs === true && xattrReader !== undefined;
      const base = root.length > 1 && root.endsWith("/") ? root.slice(0, -1) : root;
      const st = newStatRecord();
      const scratch = newStatRecord();
      try {
        if (!lstat(base, st)) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      } catch (e) {
        throw new KilnError(`Cannot walk ${base}: ${errCode(e)}`, { cause: e });
      }
      if (typeOf(st.mode) !== FileType.dir) throw new KilnError(`Cannot walk ${base}: not a directory`);
      const rootDev = st.dev;
      const cols = createColumnBuilder(4096);
      const links: (string | undefined)[] = [];
      const xattrs: (Record<string, Uint8Array> | undefined)[] = [];
      // Stack of relative directory paths still to read ("" is the root).
      const stack: string[] = [""];
      let sinceYield = 0;
      let listed = 0;
      let nextReport = performance.now() + 250;
      while (stack.length > 0) {
        const rel = stack.pop()!;
        const absDir = rel === "" ? base : `${base === "/" ? "" : base}/${rel}`;
        if (++sinceYield >= yieldEvery) {
          sinceYield = 0;
          await new Promise<void>((r) => setTimeout(r, 0));
          if (opts.onProgress && performance.now() >= nextReport) {
            nextReport = performance.now() + 250;
            opts.onProgress(listed);
          }
        }
        if (signal?.aborted) throw new AbortedError(`Walk of ${base} aborted`);
        let names: string[];
        try {
          names = listDir(absDir);
        } catch (e) {
          // A listed subdirectory removed (or replaced by a non-directory) before we read it: it is gone, skip it.
          if (rel !== "" && vanished(e)) continue;
          throw new KilnError(`Cannot read directory ${absDir}: ${errCode(e)}`, { cause: e });
        }
        const prefix = rel === "" ? "" : rel + "/";
        for (const name of names) {
          const relPath = prefix + name;
          if (hasIgnore && ignore.has(relPath)) continue;
          const abs = absDir === "/" ? "/" + name : `${absDir}/${name}`;
          let found: boolean;
          try {
            found = lstat(abs, st);
          } catch (e) {
            throw new KilnError(`Cannot stat ${abs}: ${errCode(e)}`, { cause: e });
          }
          if (!found) {
            if (name.includes("\uFFFD")) {
              throw new KilnError(
                `Cannot walk ${absDir}: a file name there is not valid UTF-8 (use the native walker)`,
              );
            }
            continue; // removed between readdir and lstat: it no longer exists
          }
          const t = typeOf(st.mode);
          let target: string | undefined;
          if (readlinks && t === FileType.symlink) {
            try {
              target = readlinkSync(abs);
            } catch (e) {
              if (vanished(e)) continue; // removed (or replaced) between lstat and readlink
              throw new KilnError(`Cannot read symlink ${abs}: ${errCode(e)}`, { cause: e });
            }
          }
          let xa: Record<string, Uint8Array> | undefined;
          if (wantXattrs) {
            try {
              xa = xattrReader!(abs);
            } catch (e) {
              if (!lstat(abs, scratch)) continue; // removed while its xattrs were read
              throw e;
            }
          }
          cols.push(relPath, t, st);
          listed++;
          if (readlinks) links.push(target);
          if (wantXattrs) xattrs.push(xa);
          if (t === FileType.dir && (!opts.oneFileSystem || st.dev === rootDev)) stack.push(relPath);
        }
      }
      const result = cols.finish();
      if (readlinks) result.linkTargets = links;
      if (wantXattrs) result.xattrs = xattrs;
      return result;
    },
    async list(root: string, dirs: readonly string[], opts: ListOptions): Promise<DirListing> {
      const signal = opts.signal;
      const base = root.length > 1 && root.endsWith("/") ? root.slice(0, -1) : root;
      const ignore = normalizeIgnore(opts.ignore);
      const hasIgnore = ignore.size > 0;
      const readlinks = opts.readlinks === true;
      const st = newStatRecord();
      const cols = createColumnBuilder(1024);
      const links: (string | undefined)[] = [];
      const listed: string[] = [];
      const starts: number[] = [0];
      const queue: string[] = [];
      let n = 0, sinceYield = 0;
      for (let k = 0; k < dirs.length || (queue.length > 0 && n < opts.maxEntries); k++) {
        const rel = k < dirs.length ? dirs[k]! : queue.pop()!;
        if (++sinceYield >= yieldEvery) {
          sinceYield = 0;
          await new Promise<void>((r) => setTimeout(r, 0));
        }
        if (signal?.aborted) throw new AbortedError(`Walk of ${base} aborted`);
        const absDir = rel === "" ? base : `${base === "/" ? "" : base}/${rel}`;
        let names: string[];
        try {
          names = listDir(absDir);
        } catch (e) {
          if (rel === "" || !vanished(e)) {
            throw new KilnError(`Cannot read directory ${absDir}: ${errCode(e)}`, { cause: e });
          }
          names = []; // removed (or replaced by a non-directory) since its parent was listed: nothing in it
        }
        names.sort();
        const prefix = rel === "" ? "" : rel + "/";
        const subdirs: string[] = [];
        for (const name of names) {
          const relPath = prefix + name;
          if (hasIgnore && ignore.has(relPath)) continue;
          const abs = absDir === "/" ? "/" + name : `${absDir}/${name}`;
          let found: boolean;
          try {
            found = lstat(abs, st);
          } catch (e) {
            throw new KilnError(`Cannot stat ${abs}: ${errCode(e)}`, { cause: e });
          }
          if (!found) {
            if (name.includes("\uFFFD")) {
              throw new KilnError(
                `Cannot walk ${absDir}: a file name there is not valid UTF-8 (use the native walker)`,
              );
            }
            continue;
          }
          const t = typeOf(st.mode);
          let target: string | undefined;
          if (readlinks && t === FileType.symlink) {
            try {
              target = readlinkSync(abs);
            } catch (e) {
              if (vanished(e)) continue;
              throw new KilnError(`Cannot read symlink ${abs}: ${errCode(e)}`, { cause: e });
            }
          }
          cols.push(relPath, t, st);
          if (readlinks) links.push(target);
          n++;
          if (t === FileType.dir) subdirs.push(relPath);
        }
        for (let i = subdirs.length - 1; i >= 0; i--) queue.push(subdirs[i]!);
        listed.push(rel);
        starts.push(n);
      }
      const walk = cols.finish();
      if (readlinks) walk.linkTargets = links;
      return { walk, dirs: listed, starts: Uint32Array.from(starts) };
    },
  };
}
