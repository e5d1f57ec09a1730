/**
 * createIgnoreMatcher() indexes its patterns (exact text, `dir/**`, `**\/name`, first component, extension) and caches
 * each directory's result: its answers must stay those of Docker's plain algorithm — every pattern tried on the path
 * and on each parent directory, the last matching pattern deciding — on tricky patterns and on random ones.
 */
import { assertEquals } from "../../assert.ts";
import { createIgnoreMatcher } from "../../../lib/context/dockerignore.ts";

// ---- the reference: moby/patternmatcher's MatchesOrParentMatches, one pattern and one candidate at a time -------

type Kind = "exact" | "prefix" | "suffix" | "regexp";
interface RefPattern {
  exclusion: boolean;
  text: string;
  kind: Kind;
  re?: RegExp;
}

function clean(p: string): string {
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

function refCompile(text: string): { kind: Kind; re?: RegExp } {
  let re = "^";
  let kind: Kind = "exact";
  const chars = Array.from(text);
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
    } else if (".+()|{}$^".includes(ch)) re += "\\" + ch;
    else if (ch === "\\") {
      if (i + 1 < chars.length) {
        re += "\\" + chars[++i];
        kind = "regexp";
      } else re += "\\\\";
    } else if (ch === "[" || ch === "]") {
      re += ch;
      kind = "regexp";
    } else re += ch;
  }
  return kind === "regexp" ? { kind, re: new RegExp(re + "$", "u") } : { kind };
}

function refMatchOne(p: RefPattern, path: string): boolean {
  if (p.kind === "exact") return path === p.text;
  if (p.kind === "prefix") return path.startsWith(p.text.slice(0, -2));
  if (p.kind === "suffix") {
    const suffix = p.text.slice(2);
    return path.endsWith(suffix) || (suffix.startsWith("/") && path === suffix.slice(1));
  }
  return p.re!.test(path);
}

function referenceMatcher(patterns: readonly string[]): (rel: string) => boolean {
  const compiled: RefPattern[] = [];
  for (let p of patterns) {
    p = p.trim();
    if (p === "") continue;
    p = clean(p);
    const exclusion = p.startsWith("!");
    if (exclusion) p = p.slice(1);
    if (p.length > 1 && p.startsWith("/")) p = clean(p).slice(1) || ".";
    compiled.push({ exclusion, text: p, ...refCompile(p) });
  }
  return (rel) => {
    let file = clean(rel.replace(/\\/g, "/"));
    while (file.startsWith("/")) file = file.slice(1);
    if (file === "") file = ".";
    const slash = file.lastIndexOf("/");
    const parentDirs = slash < 0 ? [] : file.slice(0, slash).split("/");
    let matched = false;
    for (const p of compiled) {
      if (p.exclusion !== matched) continue;
      let m = refMatchOne(p, file);
      for (let i = 0; i < parentDirs.length && !m; i++) m = refMatchOne(p, parentDirs.slice(0, i + 1).join("/"));
      if (m) matched = !p.exclusion;
    }
    return matched;
  };
}

// ---- inputs --------------------------------------------------------------------------------------------------------

const NAMES = [
  "a",
  "b",
  "x",
  "cache",
  "keep",
  "foo",
  "afoo",
  "foobar",
  "f.log",
  "a.txt",
  "b.tar.gz",
  "*.txt",
  "README.md",
  "node_modules",
  ".git",
  "temp",
  "temporary",
  "ü1",
  "ß",
  "a b",
  "a.(b)+",
  "s5",
  "d3",
];

/** A small deterministic PRNG (xorshift32), so a failure can be replayed. */
function rng(seed: number): (n: number) => number {
  let x = seed | 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

function paths(count: number, seed: number): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const depth = 1 + r(5);
    const comps = Array.from({ length: depth }, () => NAMES[r(NAMES.length)]!);
    out.push(comps.join("/"));
  }
  // Forms the matcher normalises, and the odd ones.
  out.push("./a/b", "a//cache/x", "/a", "a/", "a\\b\\f.log", "a/../cache/x", "..", "../x", ".", "");
  return out;
}

const TRICKY: string[][] = [
  ["**/*.log", "d3/", "!d3/s5/**", "a/**/b", "**/cache/**", "!**/cache/keep"],
  ["foo**", "**foo", "!afoo"],
  ["**", "!**/keep", "keep/x"],
  ["*", "!a", "a/b*"],
  ["?", "?/?.txt", "[a-c]/*.txt", "\\*.txt"],
  ["a.(b)+", "**/a.(b)+/**", "a b/*"],
  ["**/x/**/b", "a**b", "x/**", "!x/a/**"],
  ["*/temp*", "**/temp", "!temporary"],
  [".", "a/./b", "..", "../x"],
  ["**/.git", ".git", "**/node_modules/**", "!node_modules/keep/**", "*.md", "!README.md"],
  ["ü*/ß", "**/*.gz", "!**/b.tar.gz", "*.tar.*"],
  ["cache", "!cache", "cache/keep", "!cache/keep/**", "**/cache"],
  ["a", "!a", "a", "!a/x", "**/x"],
  ["a/b/**", "a/b/*.txt", "!a/b/a.txt", "**/a/b"],
];

const TOKENS = [
  "a",
  "b",
  "x",
  "*",
  "?",
  "**",
  "x*",
  "*.log",
  "*.txt",
  "[ab]",
  "cache",
  "keep",
  "\\*",
  "f?.log",
  "a.txt",
  "a**",
  "**foo",
  "**.gz",
  "ü*",
  ".git",
  "temp*",
  "a b",
  "*.(b)+",
];

function randomPatterns(seed: number): string[] {
  const r = rng(seed);
  const out: string[] = [];
  const n = 1 + r(8);
  for (let i = 0; i < n; i++) {
    const parts = Array.from({ length: 1 + r(3) }, () => TOKENS[r(TOKENS.length)]!);
    out.push((r(4) === 0 ? "!" : "") + (r(5) === 0 ? "/" : "") + parts.join("/"));
  }
  return out;
}

function compare(patterns: string[], list: string[]): void {
  const m = createIgnoreMatcher(patterns);
  const ref = referenceMatcher(patterns);
  const got: Record<string, boolean> = {}, want: Record<string, boolean> = {};
  // Twice: the second pass answers from the matcher's per-directory cache.
  for (let pass = 0; pass < 2; pass++) {
    for (const p of list) {
      const g = m.ignores(p), w = ref(p);
      if (g !== w) {
        got[p] = g;
        want[p] = w;
      }
    }
  }
  assertEquals(got, want, `patterns ${JSON.stringify(patterns)}`);
}

Deno.test("createIgnoreMatcher() answers like Docker's pattern-by-pattern algorithm on tricky patterns", () => {
  const list = paths(3000, 7);
  for (const patterns of TRICKY) compare(patterns, list);
});

Deno.test("createIgnoreMatcher() answers like Docker's pattern-by-pattern algorithm on random patterns", () => {
  const list = paths(800, 11);
  for (let seed = 1; seed <= 400; seed++) compare(randomPatterns(seed), list);
});

Deno.test("createIgnoreMatcher() with 200 patterns costs about what one pattern costs per path", () => {
  // Not a benchmark (bench/copy_context.ts is): a guard against going back to a test per pattern and parent.
  const list = paths(20000, 3).filter((p) => p !== "");
  const many = [...TRICKY.flat()];
  for (let k = 0; many.length < 200; k++) many.push(`build${k}/`, `**/*.tmp${k}`, `src${k}/**/*.o`, `!keep${k}`);
  const time = (patterns: string[]) => {
    const m = createIgnoreMatcher(patterns);
    let best = Infinity;
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      for (const p of list) m.ignores(p);
      best = Math.min(best, performance.now() - t);
    }
    return best;
  };
  const one = time(["**/*.log"]), two = time(many);
  // Generous: a pattern-by-pattern matcher is about 30× slower here; the indexed one about 2×.
  if (two > 8 * one + 20) throw new Error(`200 patterns: ${two.toFixed(1)} ms vs 1 pattern: ${one.toFixed(1)} ms`);
});
