/**
 * Layer and archive extraction into a rootfs directory: whiteouts, hardlinks, symlinks, devices, FIFOs, xattrs,
 * ownership and times, with every path confined to the rootfs.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  rmSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { readTar, type TarEntry } from "../tar/mod.ts";
import { AbortedError, KilnError, splitPath as components } from "../util/mod.ts";
import { createRootResolver } from "./root_path.ts";
import { S_IF, type Syscalls, trySyscalls } from "./syscalls.ts";

/** Options for {@linkcode extractLayer} and {@linkcode extractEntries}. */
export interface ExtractOptions {
  /**
   * Apply OCI whiteouts (`.wh.NAME` deletes NAME, `.wh..wh..opq` empties the directory of what earlier layers
   * put there) instead of writing them as files. Default true (image layers); false for plain archives.
   */
  whiteouts?: boolean;
  /** Apply uid/gid from the archive (needs root). Default: true when running as root. */
  ownership?: boolean;
  /** Apply xattrs from the archive (default true). Names outside user/trusted/security/system are counted, not set. */
  xattrs?: boolean;
  /** Rootfs-relative paths never written or deleted, with everything below them (e.g. `proc`, `sys`). */
  ignore?: readonly string[];
  /** Cancels the extraction. */
  signal?: AbortSignal;
  /** Syscall backend for xattrs and mknod (default: the best available; `mknod` program as fallback for nodes). */
  syscalls?: Syscalls;
}

/** What an extraction did. */
export interface ExtractStats {
  /** Entries read from the archive. */
  entries: number;
  /** Regular files written. */
  files: number;
  /** Directories created or updated. */
  dirs: number;
  /** Symlinks created. */
  symlinks: number;
  /** Hardlinks created. */
  hardlinks: number;
  /** Device nodes and FIFOs created. */
  nodes: number;
  /** Whiteouts applied (opaque ones included). */
  whiteouts: number;
  /** Entries skipped because they fall under `ignore`. */
  ignored: number;
  /** xattrs not set because their namespace does not exist on Linux (e.g. macOS `com.apple.*`). */
  xattrsSkipped: number;
  /** File content bytes written. */
  bytes: number;
}

const WH = ".wh.";
const OPAQUE = ".wh..wh..opq";
const XATTR_NAMESPACES = ["user.", "trusted.", "security.", "system."];

/**
 * Extracts a tar stream (uncompressed) into `rootDir`, applying it on top of what is already there.
 *
 * Paths are confined: each is resolved inside `rootDir` as if it were `/` — a symlink in an entry's parent path is
 * followed within the rootfs (`var/run → /run` resolves to `rootDir/run`), never onto the host. Entries whose name
 * contains `..` and hardlinks whose target is not in the rootfs are rejected with a {@linkcode KilnError} naming
 * the entry. An entry replaces an existing file, symlink or directory of another type (remove, then create); a
 * directory over a directory merges. Ownership is set before modes (setuid/setgid survive) and xattrs after chown
 * (file capabilities survive); directory modes and mtimes are applied after the whole layer. Bodies stream to disk.
 *
 * @param tar Uncompressed tar bytes (see `autoDecompress` in lib/compress).
 * @param rootDir Existing directory to extract into.
 * @param options Whiteouts, ownership, ignore list, signal.
 * @returns Counts of what was done.
 *
 * @example Usage
 * ```ts ignore
 * import { extractLayer } from "./extract.ts";
 * const stats = await extractLayer(layerTar, "/var/lib/kiln/rootfs", { whiteouts: true, ignore: ["proc", "sys"] });
 * console.log(`${stats.files} files`);
 * ```
 */
export function extractLayer(
  tar: ReadableStream<Uint8Array>,
  rootDir: string,
  options: ExtractOptions = {},
): Promise<ExtractStats> {
  return extractEntries(readTar(tar), rootDir, options);
}

interface Deferred {
  host: string;
  mode: number;
  mtime: number;
}

/**
 * Like {@linkcode extractLayer} but takes already-parsed entries (e.g. from `readTar`).
 *
 * @param entries Tar entries in archive order.
 * @param rootDir Existing directory to extract into.
 * @param options Whiteouts, ownership, ignore list, signal.
 * @returns Counts of what was done.
 *
 * @example Usage
 * ```ts ignore
 * import { extractEntries } from "./extract.ts";
 * import { readTar } from "../tar/reader.ts";
 * await extractEntries(readTar(tarStream), "/tmp/out", { whiteouts: false, ownership: false });
 * ```
 */
export async function extractEntries(
  entries: AsyncIterable<TarEntry>,
  rootDir: string,
  options: ExtractOptions = {},
): Promise<ExtractStats> {
  const whiteouts = options.whiteouts ?? true;
  const ownership = options.ownership ?? (typeof process.getuid === "function" && process.getuid() === 0);
  const applyXattrs = options.xattrs ?? true;
  const ignore = (options.ignore ?? []).map((p) => components(p).join("/")).filter((p) => p !== "");
  const signal = options.signal;
  let sc: Syscalls | null | undefined = options.syscalls;
  const syscalls = (): Syscalls | undefined => {
    if (sc === undefined) sc = trySyscalls() ?? null;
    return sc ?? undefined;
  };
  let root: string;
  try {
    root = realpathSync(rootDir);
  } catch (e) {
    throw new KilnError(`Cannot extract into ${rootDir}: ${(e as Error).message}`, { cause: e });
  }
  const stats: ExtractStats = {
    entries: 0,
    files: 0,
    dirs: 0,
    symlinks: 0,
    hardlinks: 0,
    nodes: 0,
    whiteouts: 0,
    ignored: 0,
    xattrsSkipped: 0,
    bytes: 0,
  };
  const resolver = createRootResolver(root);
  const ensured = new Set<string>(); // parent directories known to exist (cleared with the resolver)
  const fresh = new Set<string>(); // directories this extraction created empty: no need to lstat new names in them
  const created = new Set<string>(); // resolved rootfs-relative paths written by this layer
  const deferred = new Map<string, Deferred>();
  const clearCaches = (): void => {
    resolver.clear();
    ensured.clear();
    fresh.clear();
  };
  const isIgnored = (rel: string): boolean => ignore.some((ig) => rel === ig || rel.startsWith(ig + "/"));
  const hostOf = (rel: string): string => rel === "" ? root : `${root}/${rel}`;

  for await (const entry of entries) {
    if (signal?.aborted) {
      await entry.body?.cancel();
      throw signal.reason ?? new AbortedError();
    }
    stats.entries++;
    const h = entry.header;
    try {
      const parts = components(h.path);
      if (parts.includes("..")) throw new KilnError(`path climbs out of the rootfs with ".."`);
      const rawRel = parts.join("/");
      const base = parts[parts.length - 1] ?? "";
      const parentRel = parts.slice(0, -1).join("/");

      // Whiteouts.
      if (whiteouts && base.startsWith(WH)) {
        await entry.body?.cancel();
        const dirRel = resolver.resolve(parentRel);
        if (isIgnored(dirRel) || isIgnored(parentRel)) {
          stats.ignored++;
          continue;
        }
        stats.whiteouts++;
        if (base === OPAQUE) {
          let names: string[] = [];
          try {
            names = readdirSync(hostOf(dirRel));
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
          }
          for (const name of names) {
            const childRel = dirRel ? `${dirRel}/${name}` : name;
            if (isIgnored(childRel) || keptByLayer(created, childRel)) continue;
            rmSync(hostOf(childRel), { recursive: true, force: true });
          }
        } else {
          const name = base.slice(WH.length);
          if (name === "" || name === "." || name === "..") throw new KilnError(`invalid whiteout name`);
          const victim = dirRel ? `${dirRel}/${name}` : name;
          if (!isIgnored(victim)) rmSync(hostOf(victim), { recursive: true, force: true });
        }
        clearCaches();
        continue;
      }

      // The archive root: only metadata, and only from a directory entry.
      if (parts.length === 0) {
        await entry.body?.cancel();
        if (h.type !== "dir") throw new KilnError(`the archive root must be a directory, not a ${h.type}`);
        if (ownership) chownSync(root, h.uid, h.gid);
        deferred.set(root, { host: root, mode: h.mode, mtime: h.mtime });
        stats.dirs++;
        continue;
      }

      const dirRel = resolver.resolve(parentRel);
      const rel = dirRel ? `${dirRel}/${base}` : base;
      if (isIgnored(rawRel) || isIgnored(rel)) {
        await entry.body?.cancel();
        stats.ignored++;
        continue;
      }
      const host = hostOf(rel);
      if (dirRel !== "" && !ensured.has(dirRel)) {
        ensured.add(dirRel);
        try {
          mkdirSync(hostOf(dirRel), { recursive: true, mode: 0o755 });
        } catch (e) {
          throw new KilnError(`parent "${dirRel}" is not a directory (${(e as NodeJS.ErrnoException).code})`);
        }
      }

      // Resolve a hardlink target before anything is removed.
      let linkSource: string | undefined;
      if (h.type === "hardlink") {
        const target = components(h.linkname ?? "");
        if (target.length === 0 || target.includes("..")) {
          throw new KilnError(`hardlink target "${h.linkname}" is outside the rootfs`);
        }
        const tRel = resolver.resolve(target.join("/"), { followLast: false });
        if (isIgnored(tRel)) {
          stats.ignored++;
          continue;
        }
        linkSource = hostOf(tRel);
        let st;
        try {
          st = lstatSync(linkSource);
        } catch {
          throw new KilnError(`hardlink target "${h.linkname}" does not exist`);
        }
        if (st.isDirectory()) throw new KilnError(`hardlink target "${h.linkname}" is a directory`);
        if (linkSource === host) {
          created.add(rel);
          stats.hardlinks++;
          continue; // linking a file to itself: nothing to do
        }
      }

      // Replace what is there unless it is a directory over a directory.
      let existing: Stats | undefined;
      if (!fresh.has(dirRel) || created.has(rel)) {
        try {
          existing = lstatSync(host);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        }
      }
      if (existing && !(existing.isDirectory() && h.type === "dir")) {
        if (existing.isDirectory()) rmSync(host, { recursive: true, force: true });
        else unlinkSync(host);
        if (existing.isDirectory() || existing.isSymbolicLink()) clearCaches();
      }
      created.add(rel);

      switch (h.type) {
        case "dir": {
          if (!existing?.isDirectory()) {
            mkdirSync(host, { mode: 0o700 });
            fresh.add(rel);
          }
          if (ownership) lchownSync(host, h.uid, h.gid);
          setXattrs(host, h.xattrs);
          deferred.set(host, { host, mode: h.mode, mtime: h.mtime });
          stats.dirs++;
          break;
        }
        case "file": {
          // Sync syscalls: through Deno's node:fs they cost microseconds, the promise versions ~10× more.
          const fd = openSync(
            host,
            constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
            0o600,
          );
          try {
            const write = (chunk: Uint8Array): void => {
              if (signal?.aborted) throw signal.reason ?? new AbortedError();
              let off = 0;
              while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
              stats.bytes += chunk.length;
            };
            if (entry.read) {
              // The reader's direct pull: no stream per file (a third of the time for many small files).
              for (let chunk = await entry.read(); chunk; chunk = await entry.read()) write(chunk);
            } else if (h.size > 0 && entry.body) {
              for await (const chunk of entry.body) write(chunk);
            }
            if (ownership) fchownSync(fd, h.uid, h.gid);
            fchmodSync(fd, h.mode & 0o7777);
            setXattrs(host, h.xattrs);
            futimesSync(fd, h.mtime, h.mtime);
          } finally {
            closeSync(fd);
          }
          stats.files++;
          break;
        }
        case "symlink": {
          symlinkSync(h.linkname ?? "", host);
          // A new name cannot be in a cached resolution (only existing paths are cached); a replaced one is
          // cleared above when it was a directory or symlink, and a file has no paths below it.
          if (existing) clearCaches();
          if (ownership) lchownSync(host, h.uid, h.gid);
          setXattrs(host, h.xattrs);
          lutimesSync(host, h.mtime, h.mtime);
          stats.symlinks++;
          break;
        }
        case "hardlink": {
          linkSync(linkSource!, host);
          stats.hardlinks++;
          break;
        }
        case "char":
        case "block":
        case "fifo": {
          makeNode(host, h.type, h.mode & 0o7777, h.devmajor ?? 0, h.devminor ?? 0);
          if (ownership) lchownSync(host, h.uid, h.gid);
          chmodSync(host, h.mode & 0o7777);
          setXattrs(host, h.xattrs);
          utimesSync(host, h.mtime, h.mtime);
          stats.nodes++;
          break;
        }
      }
    } catch (e) {
      await entry.body?.cancel().catch(() => {});
      if (e === signal?.reason || e instanceof AbortedError) throw e;
      const msg = e instanceof KilnError ? e.message : describe(e);
      throw new KilnError(`Cannot extract "${h.path}": ${msg}`, { cause: e });
    }
  }

  // Directory modes and mtimes last, deepest first, so writing children did not disturb them.
  const dirs = [...deferred.values()].sort((a, b) => b.host.length - a.host.length);
  for (const d of dirs) {
    try {
      chmodSync(d.host, d.mode & 0o7777);
      utimesSync(d.host, d.mtime, d.mtime);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new KilnError(`Cannot set metadata of "${d.host}": ${describe(e)}`, { cause: e });
      }
    }
  }
  return stats;

  function setXattrs(host: string, xattrs: Record<string, Uint8Array> | undefined): void {
    if (!applyXattrs || !xattrs) return;
    for (const [name, value] of Object.entries(xattrs)) {
      if (!XATTR_NAMESPACES.some((ns) => name.startsWith(ns))) {
        stats.xattrsSkipped++;
        continue;
      }
      const s = syscalls();
      if (!s) throw new KilnError(`cannot set xattr ${name}: needs kiln's native addon or Deno with --allow-ffi`);
      s.lsetxattr(host, name, value);
    }
  }

  function makeNode(host: string, type: "char" | "block" | "fifo", mode: number, major: number, minor: number): void {
    const s = syscalls();
    if (s) {
      s.mknod(host, S_IF[type] | mode, major, minor);
      return;
    }
    const kind = type === "char" ? "c" : type === "block" ? "b" : "p";
    const args = ["-m", mode.toString(8), host, kind, ...(type === "fifo" ? [] : [String(major), String(minor)])];
    const r = spawnSync("mknod", args, { encoding: "utf8" });
    if (r.error || r.status !== 0) {
      throw new KilnError(`cannot create ${type} node: ${r.error?.message ?? r.stderr.trim()}`);
    }
  }
}

/** True if `rel` or something below it was written by the current layer (kept by an opaque whiteout). */
function keptByLayer(created: Set<string>, rel: string): boolean {
  if (created.has(rel)) return true;
  const prefix = rel + "/";
  for (const c of created) if (c.startsWith(prefix)) return true;
  return false;
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code && err.syscall) return `${err.syscall}: ${err.code}${err.message ? ` (${err.message})` : ""}`;
  return err?.message ?? String(e);
}
