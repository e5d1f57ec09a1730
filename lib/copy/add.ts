/**
 * `addInto`: the ADD instruction — COPY plus local tar auto-extraction, http(s) downloads and git sources.
 *
 * @module
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { createHash } from "node:crypto";
import { autoDecompress } from "../compress/mod.ts";
import { readTar, type TarEntry } from "../tar/mod.ts";
import { AbortedError, describeError, KilnError, readFileStream, redact } from "../util/mod.ts";
import { resolveInRootSync, trySyscalls } from "../fs/mod.ts";
import { cloneGitRef, GitCloneError } from "../git/mod.ts";
import { type Copier, createCopier, setOwner, statOrUndefined } from "./_copier.ts";
import { copyOne, expandSource, parentOf, resolveDest } from "./copy.ts";
import { compilePatterns, hasGlobMeta } from "./glob.ts";
import type { CopyOptions, CopyResult } from "./types.ts";

/** Options of {@linkcode addInto}: COPY's plus ADD's own flags. */
export interface AddOptions extends CopyOptions {
  /** `--checksum`: `sha256:<hex>` for an http(s) source, or a commit SHA (prefix) for a git source. */
  checksum?: string;
  /** `--keep-git-dir`: keep `.git` of a git source. */
  keepGitDir?: boolean;
  /** `--unpack`: extract archives (default: true for local files, false for URLs). */
  unpack?: boolean;
  /** The `fetch` used for http(s) sources (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /**
   * Environment for git sources (kaniko's variables, as for `--context git://…`): `GIT_USERNAME`/`GIT_PASSWORD`,
   * or `GIT_TOKEN` (sent as the user name, or as the password when `GIT_USERNAME` is set). Credentials in the URL
   * (`https://user:token@host/repo.git`) win.
   */
  gitEnv?: Readonly<Record<string, string | undefined>>;
  /** Scratch directory for downloads and clones (default: the directory holding `destRoot`). */
  tmpDir?: string;
  /**
   * The `Authorization` header value for downloads from `host` (`host[:port]`), if any: BuildKit takes it from the
   * secrets `HTTP_AUTH_HEADER_<host>` (whole value) or `HTTP_AUTH_TOKEN_<host>` (sent as `Bearer <token>`).
   */
  authorization?: (host: string) => Promise<string | undefined>;
}

/** True if `s` is an ADD URL source (`http://`, `https://`). */
export function isUrlSource(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/**
 * True if `s` is a git source as BuildKit recognizes it: `git@host:…`, `git://…`, `ssh://…`, or an http(s) URL
 * whose path ends in `.git` (optionally followed by `#ref[:subdir]`).
 */
export function isGitSource(s: string): boolean {
  if (/^(git@|git:\/\/|ssh:\/\/|git\+)/.test(s)) return true;
  const noFrag = s.split("#")[0]!;
  return isUrlSource(s) && /\.git\/?$/.test(noFrag);
}

/**
 * Copies `sources` like {@linkcode copyInto}, with ADD's extras:
 * - a local file that is a tar archive (plain, gzip, bzip2, xz or zstd, detected by content, not name) is
 *   extracted into the destination directory (unless `unpack: false`), streamed, every entry confined to it; entries
 *   keep their owner unless `--chown`;
 * - an `http(s)` URL is downloaded (streamed to disk) to `dest` (or `dest/<name>` for a directory), mode 0600
 *   unless `--chmod`, `Last-Modified` as mtime, verified against `checksum` (`sha256:…`); a non-2xx status is an
 *   error with the status; extracted only with `unpack: true`;
 * - a git URL (`https://host/repo.git#ref[:subdir]`) is cloned and its tree (or subdir) copied by content,
 *   `.git` removed unless `keepGitDir`; `checksum` checks the commit.
 *
 * @param options What to add where.
 * @returns The rootfs paths that changed.
 *
 * @example Usage
 * ```ts ignore
 * import { addInto } from "./add.ts";
 * await addInto({ srcRoot: "/ctx", sources: ["rootfs.tar.xz", "https://example.test/x.bin"], dest: "/opt/",
 *   destRoot: "/work/rootfs", checksum: undefined, location: "Dockerfile:3", instruction: "ADD" });
 * ```
 */
export async function addInto(options: AddOptions): Promise<CopyResult> {
  const opts = { instruction: "ADD", ...options };
  const exclude = opts.exclude?.length ? compilePatterns(opts.exclude) : undefined;
  const c = createCopier(opts, exclude);
  // Downloads and clones are not the context: .dockerignore never applies to them, even when their scratch dir
  // (kiln's work dir) happens to be inside the context.
  const { ignore: _contextIgnore, ...downloadOpts } = opts;
  const fetched = createCopier(downloadOpts, exclude);
  const dest = resolveDest(opts.dest, opts.workdir);
  const remote = opts.sources.filter((s) => isUrlSource(s) || isGitSource(s));
  if (opts.checksum !== undefined && remote.length === 0) {
    c.fail("--checksum can only be used with a URL or git source");
  }
  if (!dest.isDir && opts.sources.length > 1) {
    const st = await statOrUndefined(resolveInRootSync(c.destRoot, dest.path).hostPath);
    if (!st?.isDirectory()) {
      c.fail(`when adding several sources the destination must be a directory and end with a /: ${opts.dest}`);
    }
  }
  let anyMatch = false;
  let firstEmptyGlob: string | undefined;
  for (const s of opts.sources) {
    c.checkAbort();
    if (isGitSource(s)) {
      await addGit(fetched, opts, s, dest);
      anyMatch = true;
    } else if (isUrlSource(s)) {
      await addUrl(fetched, opts, s, dest);
      anyMatch = true;
    } else {
      const found = await expandSource(opts.srcRoot, s, opts.ignore);
      if (found.length === 0) {
        // As COPY: a wildcard may match nothing when another source matches something (BuildKit, kaniko).
        if (hasGlobMeta(s)) {
          firstEmptyGlob ??= s;
          continue;
        }
        c.fail(`source ${JSON.stringify(s)} not found in ${opts.srcDescription ?? "the build context"}`);
      }
      anyMatch = true;
      for (const m of found) {
        if (exclude && m.relToBase !== "" && exclude.matches(m.relToBase)) continue;
        const st = await fsp.stat(m.host);
        if (st.isFile() && opts.unpack !== false && await isTarArchive(m.host, opts.signal)) {
          const dirHost = await c.mkdirAll(dest.path);
          await extractArchive(c, m.host, dirHost, opts);
        } else await copyOne(c, m, dest);
      }
    }
  }
  if (!anyMatch && firstEmptyGlob !== undefined) {
    c.fail(`no source files match ${JSON.stringify(firstEmptyGlob)} in ${opts.srcDescription ?? "the build context"}`);
  }
  return { changedPaths: [...c.changed, ...fetched.changed] };
}

/**
 * True if the file at `path` is a tar archive, possibly compressed (gzip, bzip2, xz, zstd): its first 512
 * decompressed bytes form a tar header with a valid checksum.
 *
 * @param path Host path of the file.
 * @param signal Cancels a spawned decompressor.
 * @returns Whether ADD would extract it.
 */
export async function isTarArchive(path: string, signal?: AbortSignal): Promise<boolean> {
  let stream: ReadableStream<Uint8Array>;
  try {
    stream = (await autoDecompress(readFileStream(path), signal ? { signal } : {})).stream;
  } catch {
    return false;
  }
  const reader = stream.getReader();
  const head = new Uint8Array(512);
  let have = 0;
  try {
    while (have < 512) {
      const r = await reader.read();
      if (r.done) break;
      const n = Math.min(r.value.length, 512 - have);
      head.set(r.value.subarray(0, n), have);
      have += n;
    }
  } catch {
    return false;
  } finally {
    await reader.cancel().catch(() => {});
  }
  return have === 512 && validTarHeader(head);
}

function validTarHeader(h: Uint8Array): boolean {
  if (h.every((b) => b === 0)) return false;
  const field = new TextDecoder().decode(h.subarray(148, 156)).replace(/[\0 ]+$/g, "").trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const want = parseInt(field, 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === want;
}

/**
 * Extracts a (compressed) tar into `dirHost`, every entry confined to it (as Docker's chrooted untar: absolute
 * symlink and hardlink targets start at the destination directory). An entry that cannot be written fails with
 * the phrasing of base-layer extraction (lib/fs/extract.ts): `cannot extract "a/passwd": …`, never a host path.
 */
async function extractArchive(c: Copier, file: string, dirHost: string, opts: AddOptions): Promise<void> {
  const archive = `archive ${file.split("/").pop()}`;
  const { stream } = await autoDecompress(readFileStream(file), opts.signal ? { signal: opts.signal } : {});
  const dirTimes: { p: string; mtime: number }[] = [];
  for await (const e of readTar(stream)) {
    c.checkAbort();
    const h = e.header;
    try {
      await extractEntry(c, e, dirHost, opts, dirTimes, archive);
    } catch (err) {
      await e.body?.cancel().catch(() => {});
      // c.fail() errors are complete; others (a symlink loop from resolveInRootSync…) are completed with the entry.
      if (err instanceof KilnError && err.message.startsWith(c.prefix)) throw err;
      if (err instanceof AbortedError) throw err;
      const why = err instanceof EntryError
        ? err.message
        : err instanceof KilnError
        ? err.message.charAt(0).toLowerCase() + err.message.slice(1)
        : describeFsError(err);
      c.fail(`${archive}: cannot extract ${JSON.stringify(h.path)}: ${why}`, err);
    }
  }
  for (const d of dirTimes.reverse()) await fsp.utimes(d.p, d.mtime, d.mtime);
}

/** Why one archive entry cannot be extracted (the message is completed with the archive and entry names). */
class EntryError extends Error {}

/** A filesystem error without its host paths: `link: ENOENT (no such file or directory)`. */
function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code === "string") {
    const text = (err.message ?? "").replace(/^[A-Z]+: /, "").split(", ")[0]!;
    return `${err.syscall ? `${err.syscall}: ` : ""}${err.code}${text && text !== err.code ? ` (${text})` : ""}`;
  }
  return e instanceof Error ? e.message.replaceAll(/'\/[^']*'/g, "").trim() : String(e);
}

async function extractEntry(
  c: Copier,
  e: TarEntry,
  dirHost: string,
  opts: AddOptions,
  dirTimes: { p: string; mtime: number }[],
  archive: string,
): Promise<void> {
  const h = e.header;
  const parts = h.path.split("/").filter((x) => x !== "" && x !== ".");
  if (parts.includes("..")) {
    await e.body?.cancel();
    c.fail(`${archive}: entry ${JSON.stringify(h.path)} escapes the destination`);
  }
  if (parts.length === 0) {
    // The archive's root entry (`./`) gives the destination directory its owner, mode and time (as Docker's untar).
    await e.body?.cancel();
    if (h.type === "dir") {
      setOwner(dirHost, opts.chown ?? { uid: h.uid, gid: h.gid });
      await fsp.chmod(dirHost, h.mode & 0o7777);
      dirTimes.unshift({ p: dirHost, mtime: h.mtime });
      c.record(dirHost);
    }
    return;
  }
  const rel = parts.join("/");
  const parentHost = resolveInRootSync(dirHost, parts.slice(0, -1).join("/")).hostPath;
  await mkdirpConfined(c, dirHost, parts.slice(0, -1));
  const target = parentHost + "/" + parts[parts.length - 1];
  // Resolve a hardlink target before anything is removed.
  let linkSource: string | undefined;
  if (h.type === "hardlink") {
    const linkParts = (h.linkname ?? "").split("/").filter((x) => x !== "" && x !== ".");
    if (linkParts.includes("..") || linkParts.length === 0) {
      c.fail(`${archive}: hardlink ${rel} points outside the destination`);
    }
    linkSource = resolveInRootSync(dirHost, linkParts.join("/"), { followLast: false }).hostPath;
    const st = await lstatOrUndefined(linkSource);
    if (!st) throw new EntryError(`hardlink target ${JSON.stringify(h.linkname)} does not exist`);
    if (st.isDirectory()) throw new EntryError(`hardlink target ${JSON.stringify(h.linkname)} is a directory`);
  }
  const existing = await lstatOrUndefined(target);
  if (existing && !(existing.isDirectory() && h.type === "dir")) {
    if (linkSource === target) {
      // A hardlink to itself: nothing to do.
      c.record(target);
      return;
    }
    if (existing.isDirectory()) await fsp.rm(target, { recursive: true });
    else await fsp.unlink(target);
  }
  switch (h.type) {
    case "dir":
      if (!existing?.isDirectory()) await fsp.mkdir(target, { mode: 0o700 });
      dirTimes.push({ p: target, mtime: h.mtime });
      break;
    case "file": {
      const out = fs.createWriteStream(target, { mode: 0o600, flags: "wx" });
      const body = e.body ?? new Blob([]).stream();
      await body.pipeTo(
        new WritableStream({
          write: (chunk) => new Promise<void>((res, rej) => out.write(chunk, (err) => err ? rej(err) : res())),
          close: () =>
            new Promise<void>((res, rej) => {
              out.once("error", rej);
              out.end(res);
            }),
          abort: () => void out.destroy(),
        }),
      );
      break;
    }
    case "symlink":
      await fsp.symlink(h.linkname ?? "", target);
      break;
    case "hardlink":
      await fsp.link(linkSource!, target);
      break;
    default:
      await e.body?.cancel();
      c.fail(`${archive}: cannot extract ${h.type} entry ${rel}`);
  }
  setOwner(target, opts.chown ?? { uid: h.uid, gid: h.gid });
  if (h.type !== "symlink" && h.type !== "hardlink") await fsp.chmod(target, h.mode & 0o7777);
  if (h.xattrs && h.type !== "symlink" && h.type !== "hardlink") {
    const sc = trySyscalls();
    if (!sc) c.fail(`${archive}: ${rel} has xattrs but this runtime cannot set them`);
    for (const [name, value] of Object.entries(h.xattrs)) {
      try {
        sc.lsetxattr(target, name, value);
      } catch (err) {
        c.fail(`${archive}: cannot set xattr ${name} on ${rel}: ${describeFsError(err)}`, err);
      }
    }
  }
  if (h.type !== "dir" && h.type !== "hardlink") await fsp.lutimes(target, h.mtime, h.mtime);
  c.record(target);
}

async function lstatOrUndefined(p: string): Promise<fs.Stats | undefined> {
  try {
    return await fsp.lstat(p);
  } catch {
    return undefined;
  }
}

/**
 * Creates the entry's parent directories, each resolved inside `root`; a symlink among them may lead to a deeper
 * missing path (`a -> /x/y`: `x/y` is created, as base-layer extraction does).
 */
async function mkdirpConfined(c: Copier, root: string, parts: string[]): Promise<void> {
  for (let i = 1; i <= parts.length; i++) {
    const host = resolveInRootSync(root, parts.slice(0, i).join("/")).hostPath;
    const st = await statOrUndefined(host);
    if (!st) {
      try {
        await fsp.mkdir(host, { mode: 0o755, recursive: true });
      } catch (e) {
        throw new EntryError(
          `parent ${JSON.stringify(parts.slice(0, i).join("/"))} cannot be created: ${describeFsError(e)}`,
        );
      }
      c.record(host);
    } else if (!st.isDirectory()) c.fail(`cannot extract into ${c.inRoot(host)}: not a directory`);
  }
}

/** The file name BuildKit gives a downloaded source: the URL path's last element, else `__unnamed__`. */
function fileNameFromUrl(url: URL): string {
  let base: string | undefined;
  try {
    base = decodeURIComponent(url.pathname).split("/").filter((x) => x !== "").pop();
  } catch {
    base = url.pathname.split("/").filter((x) => x !== "").pop();
  }
  return base && base !== "." && base !== ".." ? base : "__unnamed__";
}

async function addUrl(
  c: Copier,
  opts: AddOptions,
  source: string,
  dest: { path: string; isDir: boolean },
): Promise<void> {
  const url = new URL(source);
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  let want: string | undefined;
  if (opts.checksum !== undefined) {
    const m = /^sha256:([0-9a-f]{64})$/.exec(opts.checksum);
    if (!m) c.fail(`invalid --checksum ${JSON.stringify(opts.checksum)}: expected sha256:<64 hex digits>`);
    want = m[1];
  }
  const doFetch = opts.fetch ?? globalThis.fetch;
  const auth = opts.authorization ? await opts.authorization(url.host) : undefined;
  let res: Response;
  try {
    res = await doFetch(url, {
      redirect: "follow",
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(auth !== undefined ? { headers: { authorization: auth } } : {}),
    });
  } catch (e) {
    c.fail(`cannot download ${shown}: ${(e as Error).message}`, e);
  }
  if (!res.ok) {
    await res.body?.cancel();
    c.fail(`cannot download ${shown}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  }
  const name = fileNameFromUrl(url);
  const tmpDir = opts.tmpDir ?? parentOf(c.destRoot);
  const tmp = await fsp.mkdtemp(`${tmpDir}/.kiln-add-`);
  try {
    const tmpFile = `${tmp}/${name}`;
    const hash = createHash("sha256");
    const out = fs.createWriteStream(tmpFile, { mode: 0o600 });
    const body = res.body ?? new Blob([]).stream();
    await body.pipeTo(
      new WritableStream({
        write: (chunk) =>
          new Promise<void>((resolve, reject) => {
            hash.update(chunk);
            out.write(chunk, (err) => err ? reject(err) : resolve());
          }),
        close: () => new Promise<void>((resolve) => out.end(resolve)),
        abort: () => void out.destroy(),
      }),
    );
    const got = hash.digest("hex");
    if (want !== undefined && got !== want) {
      c.fail(`checksum mismatch for ${shown}: expected sha256:${want}, got sha256:${got}`);
    }
    const lm = res.headers.get("last-modified");
    const mtime = lm ? Date.parse(lm) / 1000 : NaN;
    const t = Number.isFinite(mtime) ? mtime : 0;
    await fsp.utimes(tmpFile, t, t);
    if (opts.unpack === true && await isTarArchive(tmpFile, opts.signal)) {
      const dirHost = await c.mkdirAll(dest.path);
      await extractArchive(c, tmpFile, dirHost, opts);
      return;
    }
    // Downloaded files are 0600 and root-owned unless --chmod/--chown say otherwise.
    await fsp.chmod(tmpFile, 0o600);
    await copyOne(c, { path: name, host: tmpFile }, dest);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

/** Splits a git source into clone URL, ref and subdir (`url#ref:subdir`). */
export function parseGitSource(s: string): { url: string; ref?: string; subdir?: string } {
  const i = s.indexOf("#");
  if (i < 0) return { url: s };
  const url = s.slice(0, i);
  const frag = s.slice(i + 1);
  const j = frag.indexOf(":");
  const ref = j < 0 ? frag : frag.slice(0, j);
  const subdir = j < 0 ? undefined : frag.slice(j + 1);
  return { url, ...(ref ? { ref } : {}), ...(subdir ? { subdir } : {}) };
}

async function addGit(
  c: Copier,
  opts: AddOptions,
  source: string,
  dest: { path: string; isDir: boolean },
): Promise<void> {
  const g = parseGitSource(source);
  if (!isUrlSource(g.url)) c.fail(`git source ${g.url}: only http(s) git URLs are supported (no ssh)`);
  const shown = redact(g.url);
  const tmpDir = opts.tmpDir ?? parentOf(c.destRoot);
  const tmp = await fsp.mkdtemp(`${tmpDir}/.kiln-git-`);
  try {
    let commit: string;
    try {
      // BuildKit's git source: submodules are always checked out; `.git` is kept only with --keep-git-dir.
      commit = (await cloneGitRef(g.url, tmp, {
        ...(g.ref ? { ref: g.ref } : {}),
        recurseSubmodules: true,
        ...(opts.keepGitDir ? { keepGitDir: true } : {}),
        ...(opts.gitEnv ? { env: opts.gitEnv } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      })).commit;
    } catch (e) {
      c.checkAbort();
      c.fail(
        `cannot clone ${shown}${g.ref ? "#" + g.ref : ""}: ${e instanceof GitCloneError ? e.reason : describeError(e)}`,
        e,
      );
    }
    if (opts.checksum !== undefined && !commit.startsWith(opts.checksum.toLowerCase())) {
      c.fail(`checksum mismatch for ${shown}: expected commit ${opts.checksum}, got ${commit}`);
    }
    const srcHost = g.subdir ? resolveInRootSync(tmp, g.subdir).hostPath : tmp;
    const st = await statOrUndefined(srcHost);
    if (!st) c.fail(`git source ${shown}: subdirectory ${g.subdir} not found`);
    await copyOne(c, { path: g.subdir ?? "", host: srcHost }, st.isDirectory() ? { ...dest, isDir: true } : dest);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}
