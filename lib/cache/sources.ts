/**
 * The content hash of what a COPY reads, for layer-cache keys: the sources expanded exactly as lib/copy expands them
 * (globs, `.dockerignore`, `--exclude`), every entry below them walked in sorted order, and each entry framed as
 * (relative path, type, permission bits with setuid/setgid/sticky, size, content sha256 or link target or device
 * numbers[, uid, gid]) — so `a/bc` and `ab/c`, a rename, a mode or a type change all differ. Not hashed: mtimes,
 * inode numbers, and the owners of context files (COPY makes them 0:0); owners are hashed when `keepOwnership` (a
 * `COPY --from` of a stage or image keeps them).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { compilePatterns, expandSource, type PathMatcher } from "../copy/mod.ts";
import { AbortedError, type Digest } from "../util/mod.ts";

/** Options of {@linkcode hashSources}. */
export interface HashSourcesOptions {
  /** The context's `.dockerignore` (context sources only). */
  ignore?: PathMatcher;
  /** `--exclude` patterns. */
  exclude?: readonly string[];
  /** `--parents` (the matched path's parents are part of the destination: already in the relative paths). */
  parents?: boolean;
  /** Hash uid/gid too (`COPY --from`: ownership is kept). */
  keepOwnership?: boolean;
  /** Cancels the walk. */
  signal?: AbortSignal;
}

function fileHash(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path).on("data", (c) => h.update(c)).on("error", reject).on("end", () => resolve(h.digest("hex")));
  });
}

/**
 * Hashes the files `sources` name under `root`, as a COPY would read them.
 *
 * @param root The source root (context, named context, stage rootfs).
 * @param sources The sources as written (after variable expansion).
 * @param options Ignore matcher, excludes, ownership, signal.
 * @returns A digest; sources that match nothing are part of it as such (COPY then reports them).
 *
 * @example Usage
 * ```ts ignore
 * import { hashSources } from "./sources.ts";
 * const d = await hashSources("/ctx", ["src/", "*.json"]);
 * ```
 */
export async function hashSources(
  root: string,
  sources: readonly string[],
  options: HashSourcesOptions = {},
): Promise<Digest> {
  const h = createHash("sha256");
  const frame = (...fields: (string | number)[]) => {
    for (const f of fields) {
      const b = new TextEncoder().encode(String(f));
      h.update(`${b.byteLength}:`);
      h.update(b);
    }
    h.update(";");
  };
  const exclude = options.exclude?.length ? compilePatterns(options.exclude) : undefined;
  const base = root.replace(/\/+$/, "");
  for (const source of sources) {
    frame("source", source);
    const found = await expandSource(root, source, options.ignore);
    if (found.length === 0) frame("missing");
    for (const m of found) {
      if (exclude && m.relToBase !== "" && exclude.matches(m.relToBase)) continue;
      await walk(m.host, m.path, m.relToBase);
    }
  }
  return `sha256:${h.digest("hex")}`;

  async function walk(host: string, rel: string, relToBase: string): Promise<void> {
    if (options.signal?.aborted) throw new AbortedError("Cancelled while hashing COPY sources");
    const st = await lstat(host, { bigint: true });
    const perm = Number(st.mode & 0o7777n);
    const owner = options.keepOwnership ? [Number(st.uid), Number(st.gid)] : [];
    if (st.isDirectory()) {
      frame("dir", rel, perm, ...owner);
      for (const name of (await readdir(host)).sort()) {
        const childRel = rel === "" || rel === "." ? name : `${rel}/${name}`;
        const childBase = relToBase === "" ? name : `${relToBase}/${name}`;
        const ctxRel = host.startsWith(base + "/") ? `${host.slice(base.length + 1)}/${name}` : undefined;
        if (ctxRel !== undefined && options.ignore?.matches(ctxRel)) continue;
        if (exclude?.matches(childBase)) continue;
        await walk(`${host}/${name}`, childRel, childBase);
      }
    } else if (st.isSymbolicLink()) {
      frame("link", rel, perm, await readlink(host), ...owner);
    } else if (st.isFile()) {
      frame("file", rel, perm, String(st.size), await fileHash(host), ...owner);
    } else {
      frame("special", rel, Number(st.mode), String(st.rdev), ...owner);
    }
  }
}
