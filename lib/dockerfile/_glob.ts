/**
 * The glob patterns of `${v#p}`, `${v%p}` and `${v/p/r}` (`*`, `?`, `\*`, `\?`, `\\`; `\}` and `\/` drop the
 * backslash), matched in linear time per start position with an NFA instead of a backtracking regex (BuildKit uses
 * Go's RE2, which cannot blow up either). `*` and `?` never match a newline, like Go's `.`.
 *
 * @module
 */
import { ShellExpansionError } from "./errors.ts";

/** A compiled glob: code points to match literally, ANY (`?`) or STAR (`*`). */
export type Glob = number[];

const ANY = -1;
const STAR = -2;
const NL = 0x0a;

/**
 * Compiles a glob, with BuildKit's escape rules.
 *
 * @param pattern The pattern text.
 * @returns Atoms.
 * @throws {ShellExpansionError} On an escape other than `\*`, `\?`, `\\`, `\}`, `\/`.
 */
export function compileGlob(pattern: string): Glob {
  const cps = Array.from(pattern, (c) => c.codePointAt(0)!);
  const out: Glob = [];
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c === 0x2a) {
      if (out[out.length - 1] !== STAR) out.push(STAR); // `**` matches what `*` matches
    } else if (c === 0x3f) out.push(ANY);
    else if (c === 0x5c) {
      const next = cps[i + 1];
      if (next === 0x7d || next === 0x2f) continue; // the next character is then taken literally
      i++;
      if (next !== 0x2a && next !== 0x3f && next !== 0x5c) {
        const shown = next === undefined ? "" : String.fromCodePoint(next);
        throw new ShellExpansionError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${shown}'`);
      }
      out.push(next);
    } else out.push(c);
  }
  return out;
}

/** Adds state `k` and the states reachable from it without input (past STARs). */
function addState(set: Set<number>, g: Glob, k: number): void {
  while (!set.has(k)) {
    set.add(k);
    if (g[k] !== STAR) return;
    k++;
  }
}

function step(g: Glob, k: number, c: number): number | undefined {
  const a = g[k];
  if (a === undefined) return undefined;
  if (a === STAR) return c === NL ? undefined : k;
  if (a === ANY) return c === NL ? undefined : k + 1;
  return a === c ? k + 1 : undefined;
}

/**
 * Ends of the matches of `g` anchored at the start of `s` (ascending).
 *
 * @param g Compiled glob.
 * @param s Code points.
 * @returns Match ends.
 */
export function prefixMatchEnds(g: Glob, s: readonly number[]): number[] {
  const m = g.length;
  let cur = new Set<number>();
  addState(cur, g, 0);
  const ends: number[] = [];
  if (cur.has(m)) ends.push(0);
  for (let i = 0; i < s.length && cur.size > 0; i++) {
    const next = new Set<number>();
    for (const k of cur) {
      const n = step(g, k, s[i]!);
      if (n !== undefined) addState(next, g, n);
    }
    cur = next;
    if (cur.has(m)) ends.push(i + 1);
  }
  return ends;
}

/**
 * The leftmost match of `g` in `s` at or after `from`, the longest one from that start (what Go's leftmost-first
 * regexp gives for these patterns with greedy `*`).
 *
 * @param g Compiled glob.
 * @param s Code points.
 * @param from First start position to consider.
 * @returns `[start, end]` or undefined.
 */
export function findMatch(g: Glob, s: readonly number[], from: number): [number, number] | undefined {
  const m = g.length;
  let threads = new Map<number, number>(); // state → earliest start
  let best: [number, number] | undefined;
  const add = (map: Map<number, number>, k: number, start: number) => {
    for (;;) {
      const prev = map.get(k);
      if (prev !== undefined && prev <= start) return;
      map.set(k, start);
      if (g[k] !== STAR) return;
      k++;
    }
  };
  for (let i = from; i <= s.length; i++) {
    if (!best) add(threads, 0, i);
    const acc = threads.get(m);
    if (acc !== undefined && (!best || acc < best[0] || (acc === best[0] && i > best[1]))) best = [acc, i];
    if (i === s.length) break;
    const next = new Map<number, number>();
    for (const [k, start] of threads) {
      if (best && start > best[0]) continue;
      const n = step(g, k, s[i]!);
      if (n !== undefined) add(next, n, start);
    }
    threads = next;
    if (best && threads.size === 0) break;
  }
  return best;
}
