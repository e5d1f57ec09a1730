/**
 * `copyInto`: the COPY instruction's file semantics, as BuildKit implements them.
 *
 * @module
 */
import type * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { type Copier, createCopier, statOrUndefined } from "./_copier.ts";
import { compilePatterns, hasGlobMeta, matchGlob, type PatternMatcher, unescapeGlob } from "./glob.ts";
import { resolveInRootSync } from "../fs/mod.ts";
import { cleanPath, splitPath } from "../util/mod.ts";
import type { CopyOptions, CopyResult, PathMatcher } from "./types.ts";

/** One source after glob expansion. */
export interface ResolvedSource {
  /** Path relative to the source root (as matched, before following a symlink). */
  path: string;
  /** Host path, with symlinks followed inside the source root. */
  host: string;
  /** Path relative to the glob's literal base, used for `--exclude` on top-level matches. */
  relToBase: string;
}

/**
 * The rootfs-absolute destination and whether it names a directory (trailing `/`, `.`, or an empty dest).
 *
 * @param dest The destination as written.
 * @param workdir The WORKDIR (default `/`).
 * @returns `{path, isDir}`.
 *
 * @example Usage
 * ```ts
 * import { resolveDest } from "./copy.ts";
 * console.assert(resolveDest("app/", "/srv").path === "/srv/app" && resolveDest("app/", "/srv").isDir);
 * ```
 */
export function resolveDest(dest: string, workdir = "/"): { path: string; isDir: boolean } {
  const isDir = dest === "" || dest === "." || dest.endsWith("/") || dest.endsWith("/.");
  const abs = dest.startsWith("/") ? dest : (workdir.startsWith("/") ? workdir : "/" + workdir) + "/" + dest;
  return { path: cleanPath(abs), isDir };
}

/**
 * Expands one source (a path or a Go `filepath.Match` glob, relative to `srcRoot`) to the existing paths it names.
 * Ignored paths (`.dockerignore`) are invisible. Returns an empty list when nothing matches.
 *
 * @param srcRoot Host path of the source root.
 * @param source The source as written.
 * @param ignore Optional `.dockerignore` matcher.
 * @returns Matches, sorted.
 *
 * @example Usage
 * ```ts ignore
 * import { expandSource } from "./copy.ts";
 * const m = await expandSource("/ctx", "src/*.ts");
 * ```
 */
export async function expandSource(srcRoot: string, source: string, ignore?: PathMatcher): Promise<ResolvedSource[]> {
  const root = srcRoot.replace(/\/+$/, "");
  const comps = splitPath(source);
  const firstGlob = comps.findIndex((c) => hasGlobMeta(c));
  if (firstGlob < 0) {
    const rel = resolveDots(comps.map(unescapeGlob));
    if (rel !== "" && ignore?.matches(rel)) return [];
    const host = resolveInRootSync(root, rel).hostPath;
    if (!(await statOrUndefined(host))) return [];
    return [{ path: rel, host, relToBase: rel.split("/").pop() ?? "" }];
  }
  const base = resolveDots(comps.slice(0, firstGlob).map(unescapeGlob));
  const pattern = comps.slice(firstGlob).join("/");
  const depth = comps.length - firstGlob;
  const baseHost = resolveInRootSync(root, base).hostPath;
  const out: ResolvedSource[] = [];
  async function walk(dirHost: string, relToBase: string, level: number): Promise<void> {
    let names: string[];
    try {
      names = await fsp.readdir(dirHost);
    } catch {
      return;
    }
    names.sort();
    for (const n of names) {
      const r = relToBase === "" ? n : relToBase + "/" + n;
      const full = base === "" ? r : base + "/" + r;
      if (matchGlob(pattern, r)) {
        if (ignore?.matches(full)) continue;
        const host = resolveInRootSync(root, full).hostPath;
        if (await statOrUndefined(host)) out.push({ path: full, host, relToBase: r });
        continue;
      }
      if (level + 1 < depth) {
        // An ignored directory no `!` exception reaches holds nothing visible: do not read it.
        if (ignore?.matches(full) && ignore.canSkipDir?.(full)) continue;
        const st = await statOrUndefined(dirHost + "/" + n);
        if (st?.isDirectory()) await walk(resolveInRootSync(root, full).hostPath, r, level + 1);
      }
    }
  }
  await walk(baseHost, "", 0);
  return out;
}

function resolveDots(comps: string[]): string {
  const out: string[] = [];
  for (const c of comps) {
    if (c === "..") out.pop();
    else if (c !== ".") out.push(c);
  }
  return out.join("/");
}

/**
 * Copies `sources` from `srcRoot` into the rootfs `destRoot` with BuildKit's COPY semantics:
 * - sources are Go `filepath.Match` globs; a glob matching nothing, or a missing path, is an error naming the
 *   source and `location`; `.dockerignore`d paths (`ignore`) are invisible; `--exclude` patterns are matched
 *   relative to each source (and to the glob's base for top-level matches);
 * - a symlink named as a source is followed (within `srcRoot`); symlinks inside copied directories are copied as
 *   symlinks; a directory is copied by content; hardlinked files stay hardlinked; xattrs are copied when the
 *   runtime can (FFI or native addon); fifos and devices are recreated;
 * - the destination is relative to `workdir`; a trailing `/` makes it a directory; several sources need a
 *   directory; missing parents are created 0755 with the `--chown` owner; an existing destination symlink is
 *   followed inside `destRoot`, never outside; an existing destination directory keeps its own metadata;
 * - ownership is `chown`, else 0:0 (or the source owner with `keepOwnership`); modes come from the source unless
 *   `--chmod` (octal, or symbolic relative to each source mode) is given, applied to files and copied directories;
 *   mtimes are kept from the source;
 * - `parents`: each match keeps its path from the source root, or from the last `./` pivot in the source, and `**`
 *   matches any number of directories; the kept parent directories take the source directories' metadata.
 *
 * @param options What to copy where.
 * @returns The rootfs paths that changed.
 *
 * @example Copy a directory into the rootfs
 * ```ts ignore
 * import { copyInto } from "./copy.ts";
 * const { changedPaths } = await copyInto({
 *   srcRoot: "/ctx", sources: ["src", "*.json"], dest: "app/", workdir: "/srv", destRoot: "/work/rootfs",
 *   chown: { uid: 1000, gid: 1000 }, chmod: "u=rwX,go=rX", location: "Dockerfile:4",
 * });
 * ```
 */
export async function copyInto(options: CopyOptions): Promise<CopyResult> {
  const exclude = options.exclude?.length ? compilePatterns(options.exclude) : undefined;
  const c = createCopier(options, exclude);
  const dest = resolveDest(options.dest, options.workdir);
  if (options.parents) {
    await copyParents(c, options, dest, exclude);
    return { changedPaths: c.changed };
  }
  const matches: ResolvedSource[] = [];
  let firstEmptyGlob: string | undefined;
  for (const s of options.sources) {
    c.checkAbort();
    const found = await expandSource(options.srcRoot, s, options.ignore);
    const kept = found.filter((m) => !(exclude && m.relToBase !== "" && exclude.matches(m.relToBase)));
    if (found.length === 0) {
      // A literal source must exist; a wildcard may match nothing when another source matches something
      // (BuildKit's AllowEmptyWildcard, kaniko): only a source list that matches nothing at all is an error.
      if (!hasGlobMeta(s)) c.fail(notFound(s, options));
      firstEmptyGlob ??= s;
    }
    matches.push(...kept);
  }
  if (firstEmptyGlob !== undefined && matches.length === 0) c.fail(notFound(firstEmptyGlob, options));
  if (!dest.isDir && (options.sources.length > 1 || matches.length > 1)) {
    const st = await statOrUndefined(resolveInRootSync(c.destRoot, dest.path).hostPath);
    if (!st?.isDirectory()) {
      c.fail(`when copying several sources the destination must be a directory and end with a /: ${options.dest}`);
    }
  }
  for (const m of matches) await copyOne(c, m, dest);
  return { changedPaths: c.changed };
}

function notFound(source: string, options: CopyOptions): string {
  const where = options.srcDescription ?? "the build context";
  return hasGlobMeta(source)
    ? `no source files match ${JSON.stringify(source)} in ${where}`
    : `source ${JSON.stringify(source)} not found in ${where}`;
}

/** Copies one resolved source to the destination (fsutil `Copy` with CopyDirContents). */
export async function copyOne(
  c: Copier,
  m: { path: string; host: string },
  dest: { path: string; isDir: boolean },
): Promise<void> {
  const srcSt = await fsp.stat(m.host);
  await c.mkdirAll(dest.isDir ? dest.path : parentOf(dest.path));
  const destHost = resolveInRootSync(c.destRoot, dest.path).hostPath;
  const destSt = await statOrUndefined(destHost);
  let target = destHost;
  if (srcSt.isDirectory()) {
    if (!destSt) {
      target = await c.mkdirAll(dest.path);
      // The destination directory stands for the source directory: --chmod applies to it like to copied dirs.
      if (c.chmod) await fsp.chmod(target, c.chmod.apply(srcSt.mode & 0o7777, true));
    }
  } else if (destSt?.isDirectory()) {
    const base = m.path.split("/").pop() || "file";
    target = resolveInRootSync(c.destRoot, dest.path + "/" + base, { followLast: false }).hostPath;
  } else if (target !== c.destRoot) {
    // The destination may be a (dangling) symlink: BuildKit writes at its target, creating the missing parents.
    await c.mkdirAll(c.inRoot(parentOf(target)));
  }
  await c.copyEntry(m.host, target, "", false);
}

/** Parent of a rootfs-absolute path. */
export function parentOf(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

/** Splits a `--parents` source at its first `/./` pivot (as BuildKit's `strings.Cut`): `[base, pattern]`. */
export function splitPivot(source: string): [string, string] {
  let s = source.replace(/^\/+/, "");
  while (s.startsWith("./")) s = s.slice(2);
  const i = s.indexOf("/./");
  if (i < 0) return ["", s];
  return [s.slice(0, i), s.slice(i + 3)];
}

/** Matches a relative path against a pattern where `**` spans any number of components. */
export function matchDoubleStar(pattern: string[], path: string[]): boolean {
  if (pattern.length === 0) return path.length === 0;
  const [p, ...rest] = pattern;
  if (p === "**") {
    for (let k = 0; k <= path.length; k++) if (matchDoubleStar(rest, path.slice(k))) return true;
    return false;
  }
  if (path.length === 0) return false;
  return matchGlob(p!, path[0]!) && matchDoubleStar(rest, path.slice(1));
}

async function copyParents(
  c: Copier,
  options: CopyOptions,
  dest: { path: string; isDir: boolean },
  exclude: PatternMatcher | undefined,
): Promise<void> {
  const root = options.srcRoot.replace(/\/+$/, "");
  const jobs: { rel: string; host: string; ctx: string }[] = [];
  for (const s of options.sources) {
    c.checkAbort();
    const [base, pattern] = splitPivot(s);
    const pat = splitPath(pattern).map((x) => hasGlobMeta(x) || x === "**" ? x : unescapeGlob(x));
    const baseHost = resolveInRootSync(root, base).hostPath;
    const found: { rel: string; host: string; ctx: string }[] = [];
    const literal = !pat.some((x) => hasGlobMeta(x) || x === "**");
    if (literal) {
      const rel = resolveDots(pat);
      const ctx = base === "" ? rel : base + "/" + rel;
      const host = resolveInRootSync(root, ctx).hostPath;
      if (!options.ignore?.matches(ctx) && await statOrUndefined(host)) found.push({ rel, host, ctx });
    } else {
      const walk = async (dirHost: string, rel: string[]): Promise<void> => {
        let names: string[];
        try {
          names = (await fsp.readdir(dirHost)).sort();
        } catch {
          return;
        }
        for (const n of names) {
          const r = [...rel, n];
          const relS = r.join("/");
          const ctx = base === "" ? relS : base + "/" + relS;
          if (options.ignore?.matches(ctx)) continue;
          const host = dirHost + "/" + n;
          let st: fs.Stats | undefined;
          try {
            st = await fsp.lstat(host);
          } catch {
            continue;
          }
          if (matchDoubleStar(pat, r)) {
            found.push({ rel: relS, host, ctx });
            if (st.isDirectory()) continue;
          }
          if (st.isDirectory()) await walk(host, r);
        }
      };
      await walk(baseHost, []);
    }
    if (found.length === 0) c.fail(notFound(s, options));
    for (const f of found) if (!(exclude && exclude.matches(f.rel))) jobs.push(f);
  }
  const destDir = dest.path;
  await c.mkdirAll(destDir);
  // Drop matches nested in another match: the outer directory copy includes them.
  jobs.sort((a, b) => a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0);
  const kept: typeof jobs = [];
  for (const j of jobs) {
    const last = kept[kept.length - 1];
    if (last && (j.rel === last.rel || j.rel.startsWith(last.rel + "/"))) continue;
    kept.push(j);
  }
  for (const j of kept) {
    const comps = j.rel.split("/");
    const ctxComps = j.ctx.split("/");
    const skip = ctxComps.length - comps.length;
    // Recreate the kept parent directories with the source directories' metadata.
    for (let i = 1; i < comps.length; i++) {
      const relDir = comps.slice(0, i).join("/");
      const targetDir = resolveInRootSync(c.destRoot, destDir + "/" + relDir).hostPath;
      if (!(await statOrUndefined(targetDir))) {
        const srcDir = resolveInRootSync(root, ctxComps.slice(0, skip + i).join("/")).hostPath;
        const st = await fsp.stat(srcDir);
        await fsp.mkdir(targetDir, { mode: 0o700 });
        c.applyMeta(targetDir, st, srcDir);
        c.record(targetDir);
      }
    }
    const target = resolveInRootSync(c.destRoot, destDir + "/" + j.rel, { followLast: false }).hostPath;
    await c.copyEntry(j.host, target, "", false);
  }
}
