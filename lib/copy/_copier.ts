/**
 * The shared machinery of COPY and ADD: a copier that writes entries into a rootfs with BuildKit's metadata rules.
 *
 * @module
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import process from "node:process";
import { isHostXattr, resolveInRootSync, splitDev, type Syscalls, trySyscalls } from "../fs/mod.ts";
import { AbortedError, KilnError, splitPath } from "../util/mod.ts";
import { type ChmodSpec, parseChmod } from "./chmod.ts";
import { compilePatterns, type PatternMatcher } from "./glob.ts";
import type { CopyOptions, CopyOwner } from "./types.ts";

/** Internal state of one COPY/ADD instruction. */
export interface Copier {
  readonly destRoot: string;
  readonly changed: string[];
  readonly prefix: string;
  /** The parsed `--chmod`, if any. */
  readonly chmod: ChmodSpec | undefined;
  fail(message: string, cause?: unknown): never;
  checkAbort(): void;
  /** Owner for an entry whose source owner is `src`. */
  owner(src: CopyOwner): CopyOwner;
  /** Creates missing directories of `dirInRoot` (rootfs-absolute) with mode 0755 and the chown owner. */
  mkdirAll(dirInRoot: string): Promise<string>;
  /** Copies host path `src` (lstat'ed as `st`) to host path `target`, recursively. */
  copyEntry(src: string, target: string, rel: string, overwriteMeta: boolean): Promise<void>;
  /** Applies owner, mode and times to a newly created entry. */
  applyMeta(target: string, st: fs.Stats, src: string): void;
  /** Records a changed host path. */
  record(hostPath: string): void;
  /** Rootfs-absolute path of a host path under destRoot. */
  inRoot(hostPath: string): string;
}

/** Creates a copier for one instruction. */
export function createCopier(opts: CopyOptions, exclude?: PatternMatcher): Copier {
  const destRoot = opts.destRoot.replace(/\/+$/, "") || "/";
  const instr = opts.instruction ?? "COPY";
  const prefix = opts.location ? `${opts.location}: ${instr}` : instr;
  const chmod: ChmodSpec | undefined = opts.chmod === undefined ? undefined : parseChmodAt(opts.chmod, prefix);
  const excluder = exclude ?? (opts.exclude?.length ? compilePatterns(opts.exclude) : undefined);
  const sc: Syscalls | undefined = trySyscalls();
  const isRoot = process.getuid?.() === 0;
  const collect = opts.changedPaths ?? true;
  const inodes = new Map<string, string>();
  const changed: string[] = [];
  let seen: Set<string> | undefined;
  // Host source paths below this are matched against .dockerignore, relative to it.
  const srcPrefix = opts.srcRoot.replace(/\/+$/, "") + "/";
  const now = opts.now ?? Date.now() / 1000;
  let entries = 0;
  let yielded = performance.now();

  const c: Copier = {
    destRoot,
    changed,
    prefix,
    chmod,
    fail(message: string, cause?: unknown): never {
      throw new KilnError(`${prefix}: ${message}`, cause === undefined ? {} : { cause });
    },
    checkAbort() {
      if (opts.signal?.aborted) throw new AbortedError();
    },
    owner(src) {
      if (opts.chown) return opts.chown;
      return opts.keepOwnership ? src : { uid: 0, gid: 0 };
    },
    inRoot(hostPath) {
      if (hostPath === destRoot) return "/";
      return hostPath.slice(destRoot.length);
    },
    record(hostPath) {
      remember(c.inRoot(hostPath), false);
    },
    async mkdirAll(dirInRoot) {
      const comps = splitPath(dirInRoot);
      let cur = "/";
      let host = destRoot;
      for (const comp of comps) {
        cur = cur === "/" ? "/" + comp : cur + "/" + comp;
        host = resolveInRootSync(destRoot, cur).hostPath;
        let st: fs.Stats | undefined;
        try {
          st = await fsp.stat(host);
        } catch {
          st = undefined;
        }
        if (st === undefined) {
          let first: string | undefined;
          try {
            // recursive: a symlink may point at a deeper missing path inside the rootfs
            first = await fsp.mkdir(host, { mode: 0o755, recursive: true });
          } catch (e) {
            c.fail(`cannot create directory ${cur}: ${(e as Error).message}`, e);
          }
          const o = opts.chown ?? { uid: 0, gid: 0 };
          const created: string[] = [host];
          if (first !== undefined) {
            for (let p = parentOfHost(host); p.length >= first.length && p.startsWith(destRoot); p = parentOfHost(p)) {
              created.unshift(p);
            }
          }
          for (const d of created) {
            setOwner(d, o);
            await fsp.chmod(d, 0o755);
            await fsp.utimes(d, now, now);
            c.record(d);
          }
        } else if (!st.isDirectory()) {
          c.fail(`cannot create directory ${cur}: a file of that name exists`);
        }
      }
      return host;
    },
    applyMeta(target, st, src) {
      applyMetaOf(target, st, src, false);
    },
    async copyEntry(src, target, rel, overwriteMeta) {
      try {
        await copyTree(src, target, c.inRoot(target), rel, overwriteMeta, false);
        await drain();
      } catch (e) {
        await drain().catch(() => {}); // nothing keeps writing after the error is out
        throw e;
      }
    },
  };

  /**
   * Records a changed rootfs path. `fresh`: the entry did not exist before this copy wrote it, so it cannot have
   * been recorded yet; the set that removes repeats is only made once something is written over an existing entry.
   */
  function remember(p: string, fresh: boolean): void {
    if (!collect) return;
    if (fresh && seen === undefined) {
      changed.push(p);
      return;
    }
    seen ??= new Set(changed);
    if (!seen.has(p)) {
      seen.add(p);
      changed.push(p);
    }
  }

  /** `applyMeta`; `copied`: a regular file made by copyFileSync, which already has the source's mode. */
  function applyMetaOf(target: string, st: fs.Stats, src: string, copied: boolean): void {
    setOwner(target, c.owner({ uid: st.uid, gid: st.gid }));
    // chown clears setuid/setgid: only then (or with --chmod) does a copied file need its mode set again
    if (!st.isSymbolicLink() && !(copied && !chmod && (st.mode & 0o6000) === 0)) {
      const mode = chmod ? chmod.apply(st.mode & 0o7777, st.isDirectory()) : st.mode & 0o7777;
      fs.chmodSync(target, mode);
    }
    if (sc && !st.isSymbolicLink()) copyXattrs(sc, src, target);
    fs.lutimesSync(target, st.atime, st.mtime);
  }

  /** Copies `src`'s xattrs but the host's own labels to `target` (after its chown, which clears capabilities). */
  function copyXattrs(sc: Syscalls, src: string, target: string): void {
    let names: string[] = [];
    try {
      names = sc.llistxattr(src);
    } catch {
      names = [];
    }
    for (const name of names) {
      if (isHostXattr(name)) continue; // the host's labels stay on the host
      const v = sc.lgetxattr(src, name);
      if (v === undefined) continue;
      try {
        sc.lsetxattr(target, name, v);
      } catch (e) {
        // security.* needs privileges we may not have; trusted.* too. Anything else is an error.
        if (!name.startsWith("security.selinux")) c.fail(`cannot set xattr ${name} on ${c.inRoot(target)}`, e);
      }
    }
  }

  /**
   * Regular files go to the addon's copyFiles in batches (content, owner, mode, times in C++ on a worker thread,
   * while this thread walks on); a batch starts at BATCH_FILES files or BATCH_BYTES bytes, at most MAX_BATCHES run
   * at once, and everything is drained before a directory's own metadata is set, a hardlink is made to a copied
   * file, and at the end of each entry. A file the addon could not copy is copied again on the path below, which
   * says what is wrong in its words.
   */
  // A batch keeps paths and numbers only (no fs.Stats: held across awaits they outlive V8's young generation).
  let srcs: string[] = [];
  let dsts: string[] = [];
  let meta = new Float64Array(BATCH_FILES * 5);
  let batchBytes = 0;
  const running: Promise<void>[] = [];

  function startBatch(): void {
    const n = srcs.length;
    if (n === 0) return;
    const s = srcs, d = dsts, m = meta.subarray(0, n * 5);
    srcs = [];
    dsts = [];
    meta = new Float64Array(BATCH_FILES * 5);
    batchBytes = 0;
    const p = sc!.copyFiles!(s, d, m, !isRoot).then((res) => {
      for (let i = 0; i < n; i++) {
        if (res[i] === 1) copyXattrs(sc!, s[i]!, d[i]!);
        else if (res[i]! < 0) {
          const st = fs.lstatSync(s[i]!); // the addon could not: this path says why, in its words
          copyFileData(s[i]!, d[i]!, st);
          applyMetaOf(d[i]!, st, s[i]!, true);
        }
      }
    });
    p.catch(() => {}); // awaited (and thrown) by drain()
    running.push(p);
  }

  async function queueFile(src: string, target: string, st: fs.Stats): Promise<void> {
    const i = srcs.length; // < BATCH_FILES: a full batch starts below
    const o = c.owner({ uid: st.uid, gid: st.gid });
    meta[i * 5] = chmod ? chmod.apply(st.mode & 0o7777, false) : st.mode & 0o7777;
    meta[i * 5 + 1] = o.uid;
    meta[i * 5 + 2] = o.gid;
    meta[i * 5 + 3] = st.atimeMs;
    meta[i * 5 + 4] = st.mtimeMs;
    srcs.push(src);
    dsts.push(target);
    batchBytes += st.size;
    if (srcs.length >= BATCH_FILES || batchBytes >= BATCH_BYTES) {
      startBatch();
      while (running.length > MAX_BATCHES) await running.shift();
    }
  }

  /** Waits until every queued file is copied; throws the first failure. */
  async function drain(): Promise<void> {
    startBatch();
    while (running.length) await running.shift();
  }

  /** Lstat that says `undefined` for a missing path (without building an error, which costs more than the call). */
  function lstatOrUndefined(path: string): fs.Stats | undefined {
    try {
      return fs.lstatSync(path, { throwIfNoEntry: false });
    } catch {
      return undefined;
    }
  }

  /**
   * `copyEntry`, with the target's rootfs path (built from its parent's, not sliced from the host path, which would
   * keep every host path alive in `changed`) and `fresh` when the target's directory was just made (it is empty).
   */
  async function copyTree(
    src: string,
    target: string,
    rootPath: string,
    rel: string,
    overwriteMeta: boolean,
    fresh: boolean,
  ): Promise<void> {
    // Entries are copied with sync calls (2x faster than promises here); yield now and then so timers,
    // progress and abort signals still run.
    if (++entries % 256 === 0 && performance.now() - yielded >= YIELD_MS) {
      await new Promise((r) => setTimeout(r, 0));
      yielded = performance.now();
    }
    c.checkAbort();
    let st: fs.Stats;
    try {
      st = fs.lstatSync(src);
    } catch (e) {
      c.fail(`cannot read source ${rel || src}: ${(e as Error).message}`, e);
    }
    if (rel !== "" && excluder?.matches(rel) && !(st.isDirectory() && excluder.hasExceptions)) return;
    let ignoredDir = false;
    if (rel !== "" && opts.ignore && src.startsWith(srcPrefix)) {
      const ctxRel = src.slice(srcPrefix.length);
      if (opts.ignore.matches(ctxRel)) {
        if (!st.isDirectory()) return;
        if (opts.ignore.canSkipDir?.(ctxRel)) return;
        ignoredDir = true; // walk it for `!` exceptions; drop it again if nothing in it is kept
      }
    }
    const tst = fresh ? undefined : lstatOrUndefined(target);
    let applyInfo = true;
    let copied = false;
    if (st.isDirectory()) {
      let created = false;
      if (tst === undefined) {
        fs.mkdirSync(target, { mode: 0o700 });
        created = true;
      } else if (!tst.isDirectory()) {
        c.fail(`cannot copy directory ${rel || "."} to ${rootPath}: not a directory`);
      }
      const names = fs.readdirSync(src).sort();
      const base = rootPath === "/" ? "" : rootPath;
      for (const n of names) {
        await copyTree(
          src + "/" + n,
          target + "/" + n,
          base + ("/" + n),
          rel === "" ? n : rel + "/" + n,
          true,
          created,
        );
      }
      await drain(); // the children exist before the directory is judged and gets its times
      if (ignoredDir && created && fs.readdirSync(target).length === 0) {
        fs.rmdirSync(target);
        return;
      }
      applyInfo = overwriteMeta || created;
      if (applyInfo) remember(rootPath, created);
    } else {
      if (tst?.isDirectory()) c.fail(`cannot replace directory ${rootPath} with a file`);
      if (tst) fs.unlinkSync(target);
      if (st.isFile()) {
        const key = st.nlink > 1 ? `${st.dev}:${st.ino}` : "";
        const prev = st.nlink > 1 ? inodes.get(key) : undefined;
        if (prev !== undefined) {
          await drain(); // `prev` may still be queued
          fs.linkSync(prev, target);
          remember(rootPath, tst === undefined);
          return;
        }
        if (sc?.copyFiles) {
          await queueFile(src, target, st);
          if (st.nlink > 1) inodes.set(key, target);
          remember(rootPath, tst === undefined);
          return;
        }
        copyFileData(src, target, st);
        copied = true;
        if (st.nlink > 1) inodes.set(key, target);
      } else if (st.isSymbolicLink()) {
        fs.symlinkSync(fs.readlinkSync(src), target);
      } else if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
        if (!sc) c.fail(`cannot copy device or fifo ${rel}: mknod not available on this runtime`);
        const [major, minor] = splitDev(st.rdev);
        sc.mknod(target, (st.mode & 0o170000) | (st.mode & 0o7777), major, minor);
      } else {
        c.fail(`cannot copy ${rel || src}: unsupported file type (socket)`);
      }
      remember(rootPath, tst === undefined);
    }
    if (applyInfo) applyMetaOf(target, st, src, copied);
  }
  return c;
}

/** A batch of native file copies starts at this many files, or bytes. */
const BATCH_FILES = 128;
const BATCH_BYTES = 8 << 20;
/** Batches running at once (the addon's worker threads; 2 keep two cores busy). */
const MAX_BATCHES = 2;

/** The copy yields to the event loop (timers, signals, progress) after running this long (ms). */
const YIELD_MS = 20;

/** Files up to this size are copied by reading and writing them whole. */
const SMALL_COPY = 1 << 20;

type DenoFiles = {
  readFileSync(path: string): Uint8Array;
  writeFileSync(path: string, data: Uint8Array, options: { mode: number }): void;
};
const denoFiles = (globalThis as unknown as { Deno?: DenoFiles }).Deno;

/**
 * Copies a regular file's content to a new `target` with the source's mode bits (`st`: the source's lstat). Under
 * Deno, a small file is read and written whole (two calls, a third less time per file than `copyFileSync`).
 */
function copyFileData(src: string, target: string, st: fs.Stats): void {
  if (denoFiles !== undefined && st.size <= SMALL_COPY) {
    try {
      // `mode` is applied whatever the umask, as copyFileSync copies it
      denoFiles.writeFileSync(target, denoFiles.readFileSync(src), { mode: st.mode & 0o7777 });
      return;
    } catch {
      fs.rmSync(target, { force: true }); // and let copyFileSync say what is wrong, in node's words
    }
  }
  fs.copyFileSync(src, target);
}

function parseChmodAt(text: string, prefix: string): ChmodSpec {
  try {
    return parseChmod(text);
  } catch (e) {
    throw new KilnError(`${prefix}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Sets the owner of `path` (a symlink itself, not its target). When kiln lacks the privilege (not root: EPERM), the
 * entry keeps the builder's own uid and gid, as base-layer extraction does for such builds (`build()` warns once).
 *
 * @param path Host path.
 * @param owner Numeric owner.
 */
export function setOwner(path: string, owner: CopyOwner): void {
  try {
    fs.lchownSync(path, owner.uid, owner.gid);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EPERM" && process.getuid?.() !== 0) return;
    throw e;
  }
}

/** Stats a path, following symlinks; undefined when it does not exist. */
export async function statOrUndefined(p: string): Promise<fs.Stats | undefined> {
  try {
    return await fsp.stat(p);
  } catch {
    return undefined;
  }
}

function parentOfHost(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}
