/**
 * Go `path/filepath.Match` semantics for COPY/ADD sources, and the pattern matcher BuildKit uses for
 * `--exclude` and `.dockerignore` (`**` across directories, `!` exceptions, parent-directory matches).
 *
 * @module
 */
import { cleanPath, KilnError } from "../util/mod.ts";

/**
 * True if `s` contains a glob metacharacter (`*`, `?`, `[`) that is not escaped with `\`.
 *
 * @param s A path or path component.
 * @returns Whether `s` is a pattern.
 *
 * @example Usage
 * ```ts
 * import { hasGlobMeta } from "./glob.ts";
 * console.assert(hasGlobMeta("*.txt") && !hasGlobMeta("a\\*b"));
 * ```
 */
export function hasGlobMeta(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") i++;
    else if (c === "*" || c === "?" || c === "[") return true;
  }
  return false;
}

/**
 * Removes `\` escapes from a pattern component without metacharacters (`a\*b` → `a*b`).
 *
 * @param s A literal pattern component.
 * @returns The literal name.
 */
export function unescapeGlob(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

/** Thrown for a malformed pattern (Go's `ErrBadPattern`). */
export class BadPatternError extends KilnError {
  /**
   * Creates the error.
   *
   * @param pattern The pattern.
   */
  constructor(pattern: string) {
    super(`Invalid glob pattern ${JSON.stringify(pattern)}: syntax error in pattern`);
    this.name = "BadPatternError";
  }
}

/**
 * Matches `name` against `pattern` exactly like Go's `filepath.Match` on Linux: `*` matches any run of
 * non-`/` characters, `?` one non-`/` character, `[...]` a class (`^` negates, ranges `a-z`), `\` escapes.
 * Throws {@linkcode BadPatternError} for a malformed pattern.
 *
 * @param pattern The glob.
 * @param name The path to test (`/`-separated).
 * @returns Whether the whole `name` matches.
 *
 * @example Usage
 * ```ts
 * import { matchGlob } from "./glob.ts";
 * console.assert(matchGlob("*.go", "main.go"));
 * console.assert(!matchGlob("*.go", "cmd/main.go"));
 * console.assert(matchGlob("[[]x]", "[x]"));
 * ```
 */
export function matchGlob(pattern: string, name: string): boolean {
  const r = matchAt(pattern, 0, name, 0);
  if (r === "bad") throw new BadPatternError(pattern);
  // Go reports ErrBadPattern even when a mismatch is found early; validate the whole pattern.
  if (!r) validatePattern(pattern);
  return r;
}

function validatePattern(p: string): void {
  let i = 0;
  while (i < p.length) {
    const c = p[i]!;
    if (c === "\\") {
      if (i + 1 >= p.length) throw new BadPatternError(p);
      i += 2;
    } else if (c === "[") {
      const end = parseClass(p, i, "\0");
      if (end === "bad") throw new BadPatternError(p);
      i = end.next;
    } else i++;
  }
}

/** Parses a class starting at `p[i] === "["`; returns whether `ch` matches and the index after `]`. */
function parseClass(p: string, i: number, ch: string): { next: number; matched: boolean } | "bad" {
  i++;
  let negated = false;
  if (p[i] === "^") {
    negated = true;
    i++;
  }
  let matched = false;
  let n = 0;
  for (;;) {
    if (i >= p.length) return "bad";
    if (p[i] === "]" && n > 0) {
      i++;
      break;
    }
    let lo: string;
    [lo, i] = classChar(p, i) ?? ["", -1];
    if (i < 0) return "bad";
    let hi = lo;
    if (p[i] === "-") {
      const r = classChar(p, i + 1);
      if (r === undefined) return "bad";
      [hi, i] = r;
    }
    if (lo <= ch && ch <= hi) matched = true;
    n++;
  }
  return { next: i, matched: matched !== negated };
}

function classChar(p: string, i: number): [string, number] | undefined {
  const c = p[i];
  if (c === undefined || c === "-" || c === "]") return undefined;
  if (c === "\\") {
    const e = p[i + 1];
    if (e === undefined) return undefined;
    return [e, i + 2];
  }
  // Code-point aware: take a full surrogate pair.
  const cp = p.codePointAt(i)!;
  const s = String.fromCodePoint(cp);
  return [s, i + s.length];
}

function matchAt(p: string, pi: number, s: string, si: number): boolean | "bad" {
  while (pi < p.length) {
    const c = p[pi]!;
    if (c === "*") {
      while (p[pi] === "*") pi++;
      if (pi === p.length) return s.indexOf("/", si) < 0;
      for (let k = si; k <= s.length; k++) {
        const r = matchAt(p, pi, s, k);
        if (r === "bad") return r;
        if (r) return true;
        if (s[k] === "/") break;
      }
      return false;
    }
    if (si >= s.length) return false;
    const cp = s.codePointAt(si)!;
    const ch = String.fromCodePoint(cp);
    if (c === "?") {
      if (ch === "/") return false;
      pi++;
      si += ch.length;
    } else if (c === "[") {
      if (ch === "/") {
        const v = parseClass(p, pi, ch);
        if (v === "bad") return v;
        return false;
      }
      const r = parseClass(p, pi, ch);
      if (r === "bad") return r;
      if (!r.matched) return false;
      pi = r.next;
      si += ch.length;
    } else if (c === "\\") {
      if (pi + 1 >= p.length) return "bad";
      if (p[pi + 1] !== s[si]) return false;
      pi += 2;
      si++;
    } else {
      if (c !== s[si]) return false;
      pi++;
      si++;
    }
  }
  return si === s.length;
}

/** One compiled `.dockerignore`/`--exclude` pattern. */
interface CompiledPattern {
  re: RegExp;
  exclusion: boolean;
  /** Pattern text without `!`, cleaned. */
  text: string;
}

/** A `.dockerignore`-style matcher (moby/patternmatcher semantics). */
export interface PatternMatcher {
  /** True if `path` (relative, `/`-separated) is excluded: the last matching pattern decides; `!` re-includes. */
  matches(path: string): boolean;
  /** True if any pattern is a `!` exception (directories must then be walked even when excluded). */
  readonly hasExceptions: boolean;
  /** Whether some exception pattern could re-include something under directory `dir`. */
  mayIncludeUnder(dir: string): boolean;
}

/** A pattern cleaned like Go's `filepath.Clean`, relative (`..` stops at the start). */
function cleanPattern(p: string): string {
  return cleanPath(p).slice(1);
}

function patternToRegExp(p: string): RegExp {
  let re = "^";
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === "*") {
      if (p[i + 1] === "*") {
        i++;
        // `**/` matches zero or more directories; a trailing `**` anything.
        if (p[i + 1] === "/") {
          i++;
          re += "(.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = p.indexOf("]", i + 2);
      if (end < 0) throw new BadPatternError(p);
      let cls = p.slice(i + 1, end);
      if (cls.startsWith("^")) cls = "^" + cls.slice(1).replace(/[\\\]]/g, "\\$&");
      else cls = cls.replace(/[\\\]^]/g, "\\$&");
      re += `[${cls}]`;
      i = end;
    } else if (c === "\\") {
      const n = p[i + 1];
      if (n === undefined) throw new BadPatternError(p);
      re += n.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      i++;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(re + "$", "s");
}

/**
 * Compiles `.dockerignore` / `--exclude` patterns. A path is matched if a pattern matches it or one of its parent
 * directories; `!pattern` re-includes; the last matching pattern wins.
 *
 * @param patterns Patterns as written (leading `/` and `./` are ignored).
 * @returns A matcher.
 *
 * @example Usage
 * ```ts
 * import { compilePatterns } from "./glob.ts";
 * const m = compilePatterns(["*.txt", "!keep.txt", "build/**"]);
 * console.assert(m.matches("a.txt") && !m.matches("keep.txt") && m.matches("build/x/y"));
 * ```
 */
export function compilePatterns(patterns: readonly string[]): PatternMatcher {
  const compiled: CompiledPattern[] = [];
  for (let raw of patterns) {
    raw = raw.trim();
    if (raw === "") continue;
    let exclusion = false;
    if (raw.startsWith("!")) {
      exclusion = true;
      raw = raw.slice(1);
    }
    const text = cleanPattern(raw);
    if (text === "") continue;
    compiled.push({ re: patternToRegExp(text), exclusion, text });
  }
  const hasExceptions = compiled.some((c) => c.exclusion);
  return {
    hasExceptions,
    matches(path: string): boolean {
      const parts = path.split("/").filter((s) => s !== "" && s !== ".");
      const parents: string[] = [];
      for (let i = 1; i < parts.length; i++) parents.push(parts.slice(0, i).join("/"));
      const full = parts.join("/");
      let matched = false;
      for (const c of compiled) {
        if (c.exclusion !== matched) continue; // only patterns that can change the outcome
        let m = c.re.test(full);
        if (!m) m = parents.some((p) => c.re.test(p));
        if (m) matched = !c.exclusion;
      }
      return matched;
    },
    mayIncludeUnder(dir: string): boolean {
      const d = cleanPattern(dir) + "/";
      return compiled.some((c) => c.exclusion && (c.text.startsWith(d) || c.text.includes("*") || c.text === d));
    },
  };
}
