/**
 * `--chmod` for COPY and ADD: octal (`0755`, `644`) or symbolic (`u=rwX,go=rX`, `a+x`, `g-w`) modes, applied the
 * way BuildKit applies them: to every copied file and directory (not to parent directories it creates), octal
 * replacing the permission bits, symbolic computed from each entry's own source mode like chmod(1) (`X` adds
 * execute only to directories and to files that already have an execute bit).
 *
 * @module
 */
import { KilnError } from "../util/mod.ts";

/** A parsed `--chmod`: maps an entry's source mode (`0o7777` bits) to the mode to set. */
export interface ChmodSpec {
  /** The spec as written. */
  readonly text: string;
  /** True for octal specs (they ignore the source mode). */
  readonly octal: boolean;
  /** Computes the new permission bits for an entry. */
  apply(mode: number, isDir: boolean): number;
}

const CLAUSE = /^([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)$/;

/**
 * Parses a `--chmod` value. Throws a {@linkcode KilnError} naming the value when it is neither octal nor a valid
 * symbolic mode.
 *
 * @param text The flag value, e.g. `0644` or `u=rwX,go=rX`.
 * @returns The parsed spec.
 *
 * @example Usage
 * ```ts
 * import { parseChmod } from "./chmod.ts";
 * const s = parseChmod("u=rwX,go=rX");
 * console.assert(s.apply(0o600, true) === 0o755);
 * console.assert(s.apply(0o600, false) === 0o644);
 * console.assert(parseChmod("640").apply(0o777, false) === 0o640);
 * ```
 */
export function parseChmod(text: string): ChmodSpec {
  if (/^[0-7]{1,4}$/.test(text)) {
    const m = parseInt(text, 8);
    return { text, octal: true, apply: () => m };
  }
  const clauses = text.split(",");
  const parsed: { who: number; ops: { op: string; perm: string }[] }[] = [];
  for (const c of clauses) {
    const m = CLAUSE.exec(c);
    if (!m) throw new KilnError(`Invalid --chmod value ${JSON.stringify(text)}: expected octal or symbolic mode`);
    const whoText = m[1]!;
    let who = 0;
    if (whoText === "") who = 0o7777; // "a", umask not applied (BuildKit does not apply one)
    for (const w of whoText) {
      if (w === "u") who |= 0o4700;
      if (w === "g") who |= 0o2070;
      if (w === "o") who |= 0o1007;
      if (w === "a") who |= 0o7777;
    }
    const ops: { op: string; perm: string }[] = [];
    const re = /([-+=])([ugo]|[rwxXst]*)/g;
    for (const o of m[2]!.matchAll(re)) ops.push({ op: o[1]!, perm: o[2]! });
    parsed.push({ who, ops });
  }
  return {
    text,
    octal: false,
    apply(mode: number, isDir: boolean): number {
      let cur = mode & 0o7777;
      for (const { who, ops } of parsed) {
        for (const { op, perm } of ops) {
          let bits = 0;
          if (perm === "u" || perm === "g" || perm === "o") {
            const shift = perm === "u" ? 6 : perm === "g" ? 3 : 0;
            const v = (cur >> shift) & 7;
            bits = (v << 6) | (v << 3) | v;
          } else {
            for (const p of perm) {
              if (p === "r") bits |= 0o444;
              if (p === "w") bits |= 0o222;
              if (p === "x") bits |= 0o111;
              if (p === "X" && (isDir || (cur & 0o111) !== 0)) bits |= 0o111;
              if (p === "s") bits |= 0o6000;
              if (p === "t") bits |= 0o1000;
            }
          }
          bits &= who;
          if (op === "+") cur |= bits;
          else if (op === "-") cur &= ~bits;
          else {
            // "=": clear the who bits (setuid/setgid are kept for directories, like GNU chmod).
            const clear = isDir ? who & 0o1777 : who;
            cur = (cur & ~clear) | bits;
          }
        }
      }
      return cur;
    },
  };
}
