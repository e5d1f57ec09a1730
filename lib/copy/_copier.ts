/**
 * The shared machinery of COPY and ADD: a copier that writes entries into a rootfs with BuildKit's metadata rules.
 *
 * @module
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import process from "node:process";
import { resolveInRootSync, splitDev, type Syscalls, trySyscalls } from "../fs/mod.ts";
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
  const inodes = new Map<string, string>();
  const changed: string[] = [];
  const seen = new Set<string>();
  const now = opts.now ?? Date.now() / 1000;
  let entries = 0;

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
      const p = c.inRoot(hostPath);
      if (!seen.has(p)) {
        seen.add(p);
        changed.push(p);
      }
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
      setOwner(target, c.owner({ uid: st.uid, gid: st.gid }));
      if (!st.isSymbolicLink()) {
        const mode = chmod ? chmod.apply(st.mode & 0o7777, st.isDirectory()) : st.mode & 0o7777;
        fs.chmodSync(target, mode);
      }
      if (sc && !st.isSymbolicLink()) {
        let names: string[] = [];
        try {
          names = sc.llistxattr(src);
        } catch {
          names = [];
        }
        for (const name of names) {
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
      fs.lutimesSync(target, st.atime, st.mtime);
    },
    async copyEntry(src, target, rel, overwriteMeta) {
      // Entries are copied with sync calls (2x faster than promises here); yield now and then so timers,
      // progress and abort signals still run.
      if (++entries % 256 === 0) await new Promise((r) => setTimeout(r, 0));
      c.checkAbort();
      let st: fs.Stats;
      try {
        st = fs.lstatSync(src);
      } catch (e) {
        c.fail(`cannot read source ${rel || src}: ${(e as Error).message}`, e);
      }
      if (rel !== "" && excluder?.matches(rel) && !(st.isDirectory() && excluder.hasExceptions)) return;
      let ignoredDir = false;
      if (rel !== "" && opts.ignore && ignoreRel !== undefined) {
        const ctxRel = ignoreRel(src);
        if (ctxRel !== undefined && opts.ignore.matches(ctxRel)) {
          if (!st.isDirectory()) return;
          if (opts.ignore.canSkipDir?.(ctxRel)) return;
          ignoredDir = true; // walk it for `!` exceptions; drop it again if nothing in it is kept
        }
      }
      let applyInfo = true;
      if (st.isDirectory()) {
        let created = false;
        let tst: fs.Stats | undefined;
        try {
          tst = fs.lstatSync(target);
        } catch {
          tst = undefined;
        }
        if (tst === undefined) {
          fs.mkdirSync(target, { mode: 0o700 });
          created = true;
        } else if (!tst.isDirectory()) {
          c.fail(`cannot copy directory ${rel || "."} to ${c.inRoot(target)}: not a directory`);
        }
        const names = fs.readdirSync(src).sort();
        for (const n of names) {
          await c.copyEntry(src + "/" + n, target + "/" + n, rel === "" ? n : rel + "/" + n, true);
        }
        if (ignoredDir && created && fs.readdirSync(target).length === 0) {
          fs.rmdirSync(target);
          return;
        }
        applyInfo = overwriteMeta || created;
        if (applyInfo) c.record(target);
      } else {
        let tst: fs.Stats | undefined;
        try {
          tst = fs.lstatSync(target);
        } catch {
          tst = undefined;
        }
        if (tst?.isDirectory()) c.fail(`cannot replace directory ${c.inRoot(target)} with a file`);
        if (tst) fs.unlinkSync(target);
        if (st.isFile()) {
          const key = `${st.dev}:${st.ino}`;
          const prev = st.nlink > 1 ? inodes.get(key) : undefined;
          if (prev !== undefined) {
            fs.linkSync(prev, target);
            c.record(target);
            return;
          }
          fs.copyFileSync(src, target);
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
        c.record(target);
      }
      if (applyInfo) c.applyMeta(target, st, src);
    },
  };
  // Map a host source path back to a context-relative path for .dockerignore checks.
  const srcRoot = opts.srcRoot.replace(/\/+$/, "");
  const ignoreRel = opts.ignore
    ? (p: string): string | undefined => p.startsWith(srcRoot + "/") ? p.slice(srcRoot.length + 1) : undefined
    : undefined;
  return c;
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
