/**
 * `.dockerignore` with Docker's rules (moby/patternmatcher and the dockerignore reader): comments, `**`, `!`
 * exceptions (last match wins), a leading `/` meaning the context root, paths cleaned, a pattern matching a parent
 * directory ignoring everything below it, and `<Dockerfile>.dockerignore` taking precedence over
 * `<context>/.dockerignore`.
 *
 * @module
 */
import { readFile, realpath } from "node:fs/promises";
import { resolve } from "node:path";
import { KilnError } from "../util/mod.ts";
import { contextPath, fileKind, relativeToContext } from "./_in_context.ts";

/** A compiled ignore list; see {@linkcode createIgnoreMatcher}. */
export interface IgnoreMatcher {
  /** The patterns, as cleaned (exclusions keep their `!`). */
  readonly patterns: readonly string[];
  /** Whether any pattern is an exception (`!`). */
  readonly hasExceptions: boolean;
  /**
   * Whether `relPath` (context-relative, `/`-separated) is ignored: the last pattern that matches it or one of its
   * parent directories decides.
   */
  ignores(relPath: string, isDir?: boolean): boolean;
  /**
   * Whether a walker may skip the whole directory `relPath`: it is ignored and no exception could re-include
   * anything below it.
   */
  canSkipDir(relPath: string): boolean;
}

/** Go's `path.Clean` for `/`-separated paths. */
function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const s = (rooted ? "/" : "") + out.join("/");
  return s === "" ? "." : s;
}

/**
 * Reads a `.dockerignore` text into patterns as Docker's `ReadAll` does: `#` in column 0 starts a comment; lines are
 * trimmed; `!` marks an exception; each pattern is cleaned and a leading `/` removed.
 *
 * @param text File contents.
 * @returns Patterns for {@linkcode createIgnoreMatcher}.
 *
 * @example Usage
 * ```ts
 * import { parseDockerignore } from "./dockerignore.ts";
 * console.assert(parseDockerignore("# c\n/node_modules/\n! keep/./x\n\n").join("|") === "node_modules|!keep/x");
 * ```
 */
export function parseDockerignore(text: string): string[] {
  const out: string[] = [];
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  lines.forEach((raw, i) => {
    let line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (i === 0 && line.startsWith("\uFEFF")) line = line.slice(1);
    if (line.startsWith("#")) return;
    let p = line.trim();
    if (p === "") return;
    const invert = p.startsWith("!");
    if (invert) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith("/")) p = p.slice(1);
    }
    out.push(invert ? "!" + p : p);
  });
  return out;
}

type MatchKind = "exact" | "prefix" | "suffix" | "regexp";

interface Compiled {
  exclusion: boolean;
  text: string;
  dirs: string[];
  kind: MatchKind;
  re?: RegExp;
}

const REGEX_SPECIAL = new Set([".", "+", "(", ")", "|", "{", "}", "$", "^"]);

function compilePattern(pattern: string): { kind: MatchKind; re?: RegExp } {
  let re = "^";
  let kind: MatchKind = "exact";
  const chars = Array.from(pattern);
  for (let i = 0, n = 0; i < chars.length; i++, n++) {
    const ch = chars[i]!;
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        i++;
        if (chars[i + 1] === "/") i++;
        if (i + 1 >= chars.length) {
          if (kind === "exact") kind = "prefix";
          else {
            re += ".*";
            kind = "regexp";
          }
        } else {
          re += "(.*/)?";
          kind = "regexp";
        }
        if (n === 0) kind = "suffix";
      } else {
        re += "[^/]*";
        kind = "regexp";
      }
    } else if (ch === "?") {
      re += "[^/]";
      kind = "regexp";
    } else if (REGEX_SPECIAL.has(ch)) re += "\\" + ch;
    else if (ch === "\\") {
      if (i + 1 < chars.length) {
        i++;
        re += "\\" + chars[i];
        kind = "regexp";
      } else re += "\\\\";
    } else if (ch === "[" || ch === "]") {
      re += ch;
      kind = "regexp";
    } else re += ch;
  }
  re += "$";
  if (kind !== "regexp") return { kind };
  try {
    return { kind, re: new RegExp(re, "u") };
  } catch (e) {
    throw new KilnError(`Invalid .dockerignore pattern "${pattern}": syntax error in pattern`, { cause: e });
  }
}

function matchOne(p: Compiled, path: string): boolean {
  switch (p.kind) {
    case "exact":
      return path === p.text;
    case "prefix":
      return path.startsWith(p.text.slice(0, -2));
    case "suffix": {
      const suffix = p.text.slice(2);
      if (path.endsWith(suffix)) return true;
      return suffix.startsWith("/") && path === suffix.slice(1);
    }
    default:
      return p.re!.test(path);
  }
}

/** Per-component glob test used by canSkipDir (`*`, `?`, classes, escapes). */
function componentMatches(glob: string, name: string): boolean {
  let re = "^";
  const chars = Array.from(glob);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "\\" && i + 1 < chars.length) re += "\\" + chars[++i];
    else if (ch === "[" || ch === "]") re += ch;
    else re += /[.+()|{}$^\\\-]/.test(ch) ? "\\" + ch : ch;
  }
  try {
    return new RegExp(re + "$", "u").test(name);
  } catch {
    return true;
  }
}

/**
 * Compiles `.dockerignore` patterns (from {@linkcode parseDockerignore}, or raw: they are trimmed and cleaned
 * again, as Docker's pattern matcher does, and a leading `/` is dropped).
 *
 * @param patterns Patterns; `!` marks an exception.
 * @returns The matcher.
 * @throws {KilnError} For `!` alone or a malformed pattern.
 *
 * @example Usage
 * ```ts
 * import { createIgnoreMatcher } from "./dockerignore.ts";
 * const m = createIgnoreMatcher(["**\/*.log", "build", "!build/keep.txt"]);
 * console.assert(m.ignores("a/b/x.log") && m.ignores("build/out.o") && !m.ignores("build/keep.txt"));
 * console.assert(!m.canSkipDir("build") && m.canSkipDir("a.log"));
 * ```
 */
export function createIgnoreMatcher(patterns: readonly string[]): IgnoreMatcher {
  const compiled: Compiled[] = [];
  for (let p of patterns) {
    p = p.trim();
    if (p === "") continue;
    p = cleanPath(p);
    let exclusion = false;
    if (p.startsWith("!")) {
      if (p.length === 1) throw new KilnError('Invalid .dockerignore pattern: illegal exclusion pattern: "!"');
      exclusion = true;
      p = p.slice(1);
    }
    // Relative to the context root, as the reader makes them (patterns may also come from elsewhere).
    if (p.length > 1 && p.startsWith("/")) p = cleanPath(p).slice(1) || ".";
    compiled.push({ exclusion, text: p, dirs: p.split("/"), ...compilePattern(p) });
  }
  const hasExceptions = compiled.some((c) => c.exclusion);
  const normalize = (rel: string): string => {
    let r = cleanPath(rel.replace(/\\/g, "/"));
    while (r.startsWith("/")) r = r.slice(1);
    return r === "" ? "." : r;
  };
  const ignores = (rel: string): boolean => {
    const file = normalize(rel);
    const slash = file.lastIndexOf("/");
    const parent = slash < 0 ? "." : file.slice(0, slash);
    const parentDirs = parent.split("/");
    let matched = false;
    for (const p of compiled) {
      if (p.exclusion !== matched) continue;
      let m = matchOne(p, file);
      if (!m && parent !== ".") {
        for (let i = 0; i < parentDirs.length && !m; i++) m = matchOne(p, parentDirs.slice(0, i + 1).join("/"));
      }
      if (m) matched = !p.exclusion;
    }
    return matched;
  };
  return {
    patterns: compiled.map((c) => (c.exclusion ? "!" : "") + c.text),
    hasExceptions,
    ignores: (rel) => ignores(rel),
    canSkipDir(rel) {
      if (!ignores(rel)) return false;
      if (!hasExceptions) return true;
      const dirs = normalize(rel).split("/");
      for (const p of compiled) {
        if (!p.exclusion) continue;
        let could = true;
        for (let i = 0; i < dirs.length; i++) {
          const comp = p.dirs[i];
          if (comp === undefined) break; // the exception matches a parent: it re-includes this dir
          if (comp.includes("**")) break;
          if (!componentMatches(comp, dirs[i]!)) {
            could = false;
            break;
          }
        }
        if (could) return false;
      }
      return true;
    },
  };
}

/**
 * The ignore files to try, in order: `<dockerfile>.dockerignore` next to the Dockerfile, then
 * `<context>/.dockerignore`. The first that exists is used; the others are not read.
 *
 * @param contextDir The build context directory.
 * @param dockerfilePath The Dockerfile's path (absolute, or relative to the current directory), if it is a file.
 * @returns Candidate paths.
 *
 * @example Usage
 * ```ts
 * import { dockerignoreCandidates } from "./dockerignore.ts";
 * const c = dockerignoreCandidates("/ctx", "/ctx/build/app.Dockerfile");
 * console.assert(c.join(" ") === "/ctx/build/app.Dockerfile.dockerignore /ctx/.dockerignore");
 * ```
 */
export function dockerignoreCandidates(contextDir: string, dockerfilePath?: string): string[] {
  const out: string[] = [];
  if (dockerfilePath) out.push(`${dockerfilePath}.dockerignore`);
  out.push(`${contextDir.replace(/\/+$/, "") || "/"}/.dockerignore`.replace(/^\/\//, "/"));
  return out;
}

/**
 * Reads the effective ignore file (see {@linkcode dockerignoreCandidates}) and compiles it. A candidate inside
 * the context is read like a COPY source: its symlinks are followed only within the context, as if it were `/`
 * (so a `.dockerignore -> /etc/shadow` in a downloaded context reads `<context>/etc/shadow`, which is missing).
 * Messages name such files relative to the context, never by their host path. With `workDir`, kiln's work
 * directory is left out of the context when it is inside it (see {@linkcode LoadDockerignoreOptions}).
 *
 * @param contextDir The build context directory.
 * @param options The Dockerfile path, kiln's work directory.
 * @returns The matcher (empty when no ignore file exists) and the file used (its host path).
 * @throws {KilnError} When an ignore file exists but cannot be read or has a bad pattern.
 *
 * @example Usage
 * ```ts ignore
 * import { loadDockerignore } from "./dockerignore.ts";
 * const { matcher, file } = await loadDockerignore("/ctx", { dockerfilePath: "/ctx/Dockerfile" });
 * ```
 */
export async function loadDockerignore(
  contextDir: string,
  options: LoadDockerignoreOptions = {},
): Promise<{ matcher: IgnoreMatcher; file?: string }> {
  const found = await readDockerignore(contextDir, options);
  if (options.workDir === undefined) return found;
  const kiln = await kilnPathsInContext(contextDir, options.workDir);
  return kiln.length ? { ...found, matcher: withKilnExcluded(found.matcher, kiln) } : found;
}

/** Options for {@linkcode loadDockerignore}. */
export interface LoadDockerignoreOptions {
  /** The Dockerfile's path: `<Dockerfile>.dockerignore` comes first. */
  dockerfilePath?: string;
  /**
   * kiln's work directory (`--work-dir`). When it is inside the context, it is left out of it as if ignored (a
   * `COPY . /x/` would otherwise copy the build's own rootfs into itself); when it is the context itself, the
   * entries kiln makes there (`kiln-build-*`, `kiln-run-cache`) are. `!` exceptions cannot bring them back.
   */
  workDir?: string;
}

/** The entries kiln's build creates directly in its work directory (lib/build/build.ts). */
const KILN_WORK_ENTRIES = ["kiln-build-*", "kiln-run-cache"];

/**
 * Context-relative patterns for kiln's own files in the context: the work directory when it is strictly inside
 * the context, or its entries when it is the context.
 */
async function kilnPathsInContext(contextDir: string, workDir: string): Promise<string[]> {
  const real = (p: string) => realpath(p).catch(() => resolve(p));
  const rel = relativeToContext(await real(contextDir), await real(workDir));
  if (rel === undefined) return [];
  if (rel === "") return KILN_WORK_ENTRIES;
  return [rel.replace(/[\\*?[\]]/g, "\\$&")];
}

/** `matcher`, with `kiln` (patterns, always excluded, no exception brings them back) added. */
function withKilnExcluded(matcher: IgnoreMatcher, kiln: readonly string[]): IgnoreMatcher {
  const own = createIgnoreMatcher(kiln);
  return {
    patterns: [...matcher.patterns, ...own.patterns],
    hasExceptions: matcher.hasExceptions,
    ignores: (rel, isDir) => own.ignores(rel) || matcher.ignores(rel, isDir),
    canSkipDir: (rel) => own.ignores(rel) || matcher.canSkipDir(rel),
  };
}

async function readDockerignore(
  contextDir: string,
  options: LoadDockerignoreOptions,
): Promise<{ matcher: IgnoreMatcher; file?: string }> {
  for (const candidate of dockerignoreCandidates(contextDir, options.dockerfilePath)) {
    const rel = relativeToContext(contextDir, candidate);
    const shown = rel === undefined ? candidate : `${rel} in the build context`;
    let text: string;
    let file: string;
    try {
      file = contextPath(contextDir, candidate).host;
      const kind = await fileKind(file);
      if (kind === undefined) continue;
      if (kind !== "file") throw new Error(kind === "dir" ? "is a directory" : "not a regular file");
      text = await readFile(file, "utf8");
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      throw new KilnError(`Cannot read ${shown}: ${reasonOf(e)}`, { cause: e });
    }
    try {
      return { matcher: createIgnoreMatcher(parseDockerignore(text)), file };
    } catch (e) {
      if (e instanceof KilnError) throw new KilnError(`${shown}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return { matcher: createIgnoreMatcher([]) };
}

/** An error's reason without the host path node puts after a comma (`EACCES: permission denied, open '…'`). */
function reasonOf(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (msg.includes("too many levels of symbolic links")) return "too many levels of symbolic links";
  const m = /^[A-Z0-9]+: ([^,]+)/.exec(msg);
  return (m ? m[1]! : msg).replace(/\s+/g, " ").trim();
}
