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

/** Per-component glob test used by canSkipDir (`*`, `?`, classes, escapes); a bad glob matches anything. */
function componentRegExp(glob: string): RegExp {
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
    return new RegExp(re + "$", "u");
  } catch {
    return /(?:)/;
  }
}

/** Characters that make a pattern part non-literal (Docker's regexp translation treats them specially). */
const META = /[*?[\]\\]/;

/**
 * A pattern that needs a test per candidate path, with cheap necessary conditions checked first: the candidate
 * starts with `lit` and ends with `tail` (the literal text before the first and after the last meta character),
 * and has `comps` components when that is fixed (no `**`, classes or escapes).
 */
interface Tested {
  index: number;
  p: Compiled;
  lit: string;
  tail: string;
  comps: number;
}

/** Most recently inherited results kept per matcher (directories: a walk visits each one's files together). */
const INHERITED_CACHE = 16384;

/**
 * The patterns, indexed so that one path costs a few map lookups instead of a test per pattern (and per parent
 * directory). Docker's rule, "the last pattern that matches the path or one of its parent directories decides", is
 * evaluated as the highest-numbered pattern matching any of those candidate paths: {@linkcode own} finds the
 * patterns matching one candidate; a directory's result for its descendants is cached.
 */
function indexPatterns(compiled: readonly Compiled[]): (file: string) => number {
  /** exact text → highest index. */
  const exact = new Map<string, number>();
  /** `dir/**` (a prefix ending in `/`): dir → highest index; matches what is strictly below dir. */
  const under = new Map<string, number>();
  /** `**\/a/b` (a suffix starting with `/`): component count → the last components as text → highest index. */
  const tails = new Map<number, Map<string, number>>();
  /** `**\/a/b/**`: the same, for directories whose descendants match. */
  const underTails = new Map<number, Map<string, number>>();
  /** Others, by the candidate's first component when the pattern's is literal, or by the file extension. */
  const byFirst = new Map<string, Tested[]>();
  const byExt = new Map<string, Tested[]>();
  const rest: Tested[] = [];
  const put = (m: Map<string, number>, k: string, i: number) => m.set(k, Math.max(m.get(k) ?? -1, i));
  const putTail = (sizes: Map<number, Map<string, number>>, lit: string, i: number) => {
    const n = lit.split("/").length;
    let m = sizes.get(n);
    if (!m) sizes.set(n, m = new Map());
    put(m, lit, i);
  };
  const push = (m: Map<string, Tested[]>, k: string, t: Tested) => {
    const list = m.get(k);
    if (list) list.push(t);
    else m.set(k, [t]);
  };
  compiled.forEach((p, index) => {
    const text = p.text;
    if (p.kind === "exact") return put(exact, text, index);
    if (p.kind === "prefix" && text.endsWith("/**")) return put(under, text.slice(0, -3), index);
    if (p.kind === "suffix" && text.startsWith("**/")) return putTail(tails, text.slice(3), index);
    // `**/x/**` is compiled as the regexp ^(.*/)?x/.*$: what is below a directory ending in x
    if (p.kind === "regexp" && /^\*\*\/[^*?[\]\\]+\/\*\*$/.test(text)) {
      return putTail(underTails, text.slice(3, -3), index);
    }
    let first = text.search(META), last = -1;
    if (first < 0) first = text.length;
    for (let k = text.length - 1; k >= 0; k--) {
      if (META.test(text[k]!)) {
        last = k;
        break;
      }
    }
    let tail = p.kind === "prefix" ? "" : text.slice(last + 1);
    // `**/` is compiled as `(.*/)?`: the `/` after a `**` may match nothing
    if (tail.startsWith("/") && text[last] === "*") tail = tail.slice(1);
    const t: Tested = {
      index,
      p,
      lit: p.kind === "suffix" ? "" : text.slice(0, first),
      tail,
      comps: p.kind === "regexp" && !/\*\*|[[\]\\]/.test(text) ? text.split("/").length : -1,
    };
    const slash = t.lit.indexOf("/");
    const dot = t.tail.lastIndexOf(".");
    if (slash >= 0) push(byFirst, t.lit.slice(0, slash), t);
    else if (dot >= 0) push(byExt, t.tail.slice(dot + 1), t);
    else rest.push(t);
  });
  // Highest index first: the first match found in a list decides for that list.
  for (const list of [...byFirst.values(), ...byExt.values(), rest]) list.sort((a, b) => b.index - a.index);
  const tailSizes = [...tails.entries()];
  const underTailSizes = [...underTails.entries()];

  /** The highest index in `sizes` (component count → text of the last components) for `s`, with `comps` ones. */
  function lastComponents(sizes: [number, Map<string, number>][], s: string, comps: number, best: number): number {
    for (const [n, m] of sizes) {
      if (n > comps) continue;
      let start = s.length;
      for (let k = 0; k < n; k++) start = s.lastIndexOf("/", start - 1);
      const v = m.get(start < 0 ? s : s.slice(start + 1));
      if (v !== undefined && v > best) best = v;
    }
    return best;
  }

  function scan(list: readonly Tested[] | undefined, s: string, comps: number, best: number): number {
    if (list === undefined) return best;
    for (const t of list) {
      if (t.index <= best) break;
      if (t.comps >= 0 && t.comps !== comps) continue;
      if (!s.startsWith(t.lit) || !s.endsWith(t.tail)) continue;
      if (matchOne(t.p, s)) return t.index;
    }
    return best;
  }

  /** The highest index of a pattern matching `s` itself (not its parents). */
  function own(s: string): number {
    let best = exact.get(s) ?? -1;
    let comps = 1;
    for (let k = s.indexOf("/"); k >= 0; k = s.indexOf("/", k + 1)) comps++;
    if (tailSizes.length > 0) best = lastComponents(tailSizes, s, comps, best);
    const slash = s.indexOf("/");
    if (slash >= 0) best = scan(byFirst.get(s.slice(0, slash)), s, comps, best);
    const dot = s.lastIndexOf(".");
    if (dot >= 0 && byExt.size > 0) best = scan(byExt.get(s.slice(dot + 1)), s, comps, best);
    return scan(rest, s, comps, best);
  }

  const cache = new Map<string, number>();
  /** The highest index of a pattern matching `dir` or a parent of it, or making everything below `dir` match. */
  function inherited(dir: string): number {
    const hit = cache.get(dir);
    if (hit !== undefined) return hit;
    let best = own(dir);
    const u = under.get(dir);
    if (u !== undefined && u > best) best = u;
    if (underTailSizes.length > 0) best = lastComponents(underTailSizes, dir, dir.split("/").length, best);
    const slash = dir.lastIndexOf("/");
    if (slash >= 0) best = Math.max(best, inherited(dir.slice(0, slash)));
    if (cache.size >= INHERITED_CACHE) cache.clear();
    cache.set(dir, best);
    return best;
  }

  return (file) => {
    const slash = file.lastIndexOf("/");
    const best = own(file);
    return slash < 0 ? best : Math.max(best, inherited(file.slice(0, slash)));
  };
}

/** Paths that {@linkcode createIgnoreMatcher}'s normalisation would change (most paths from a walk are clean). */
const UNCLEAN = /\\|\/\/|^\/|\/$|(?:^|\/)\.\.?(?:\/|$)/;

/**
 * Compiles `.dockerignore` patterns (from {@linkcode parseDockerignore}, or raw: they are trimmed and cleaned
 * again, as Docker's pattern matcher does, and a leading `/` is dropped). Matching a path costs a few lookups
 * whatever the number of patterns (they are indexed by literal text, first component and extension).
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
    if (rel !== "" && !UNCLEAN.test(rel)) return rel;
    let r = cleanPath(rel.replace(/\\/g, "/"));
    while (r.startsWith("/")) r = r.slice(1);
    return r === "" ? "." : r;
  };
  const decide = indexPatterns(compiled);
  const ignores = (rel: string): boolean => {
    if (compiled.length === 0) return false;
    const i = decide(normalize(rel));
    return i >= 0 && !compiled[i]!.exclusion;
  };
  /** Exceptions as per-component regexps (`null` for a `**` component, which could match any depth). */
  const exceptions = compiled.filter((c) => c.exclusion).map((c) =>
    c.dirs.map((comp) => comp.includes("**") ? null : componentRegExp(comp))
  );
  return {
    patterns: compiled.map((c) => (c.exclusion ? "!" : "") + c.text),
    hasExceptions,
    ignores: (rel) => ignores(rel),
    canSkipDir(rel) {
      if (!ignores(rel)) return false;
      if (!hasExceptions) return true;
      const dirs = normalize(rel).split("/");
      for (const comps of exceptions) {
        let could = true;
        for (let i = 0; i < dirs.length; i++) {
          const re = comps[i];
          // past the exception's end (it matches a parent: it re-includes this dir), or a `**`
          if (re === undefined || re === null) break;
          if (!re.test(dirs[i]!)) {
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
