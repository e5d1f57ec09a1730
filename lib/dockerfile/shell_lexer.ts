/**
 * The Dockerfile shell-word lexer: variable expansion, quote and escape removal and word splitting, with the
 * semantics of BuildKit's `shell.Lex` (frontend/dockerfile/shell/lex.go).
 *
 * @module
 */
import { ShellExpansionError } from "./errors.ts";
import { goQuote, isGoSpace } from "./_go.ts";
import { compileGlob, findMatch, prefixMatchEnds } from "./_glob.ts";

/** Something variables can be read from: a plain record, a Map, or an object with `get`. */
export type ShellEnv =
  | Readonly<Record<string, string>>
  | ReadonlyMap<string, string>
  | { get(name: string): string | undefined };

/** Options that change how a {@linkcode ShellLexer} treats its input (all default to false). */
export interface ShellLexerOptions {
  /** Keep quote characters in the output (BuildKit `RawQuotes`). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output (BuildKit `RawEscapes`). */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written instead of expanding them to "" (`SkipUnsetEnv`). */
  skipUnsetEnv?: boolean;
  /** Treat quotes as ordinary characters (`SkipProcessQuotes`; used for heredoc bodies). */
  skipProcessQuotes?: boolean;
  /** Match variable names case-insensitively, as BuildKit does for Windows images. */
  caseInsensitiveEnv?: boolean;
  /**
   * Most UTF-16 units substitutions may add to a word, beyond its length as written (default
   * {@linkcode DEFAULT_MAX_EXPANSION}, 1 MiB); past it expansion fails with a {@linkcode ShellExpansionError}.
   */
  maxExpansion?: number;
}

/** Default of {@linkcode ShellLexerOptions.maxExpansion}: 1 MiB. */
export const DEFAULT_MAX_EXPANSION = 1024 * 1024;

/** Result of {@linkcode ShellLexer.processWord}. */
export interface ProcessWordResult {
  /** The expanded word (white space kept, no splitting). */
  value: string;
  /** Names of variables that were referenced and set, in first-use order. */
  usedVars: string[];
  /** Names of variables that were referenced but not set, in first-use order. */
  unsetVars: string[];
}

/** Result of {@linkcode ShellLexer.processWords}. */
export interface ProcessWordsResult {
  /** The expanded words; unquoted white space (also from unquoted expansions) separates words, empty words dropped. */
  words: string[];
  /** Names of variables that were referenced and set, in first-use order. */
  usedVars: string[];
  /** Names of variables that were referenced but not set, in first-use order. */
  unsetVars: string[];
}

/** A lexer bound to one escape token; see {@linkcode createShellLexer}. */
export interface ShellLexer {
  /** The escape character (`\` or backtick). */
  readonly escapeToken: string;
  /** Most UTF-16 units substitutions may add to one word ({@linkcode ShellLexerOptions.maxExpansion}). */
  readonly maxExpansion: number;
  /**
   * Expands one word: `$v ${v} ${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?w} ${v?w} ${v#p} ${v##p} ${v%p} ${v%%p}
   * ${v/p/r} ${v//p/r}`, quotes and escapes. Throws {@linkcode ShellExpansionError} on bad syntax.
   */
  processWord(word: string, env: ShellEnv): ProcessWordResult;
  /** Like `processWord`, then splits into words on unquoted white space. */
  processWords(word: string, env: ShellEnv): ProcessWordsResult;
}

const EOF = -1;
/** Deepest `${...${...}}` nesting accepted (BuildKit has no limit; this keeps the JS stack safe). */
const MAX_DEPTH = 256;
const CH_DOLLAR = 0x24, CH_SQUOTE = 0x27, CH_DQUOTE = 0x22, CH_LBRACE = 0x7b, CH_RBRACE = 0x7d, CH_COLON = 0x3a;
const CH_SLASH = 0x2f;
const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

function lookupFn(env: ShellEnv, caseInsensitive: boolean): (name: string) => string | undefined {
  if (caseInsensitive) {
    if (env instanceof Map || typeof (env as { get?: unknown }).get !== "function") {
      const entries = env instanceof Map ? [...env] : Object.entries(env as Readonly<Record<string, string>>);
      const upper = new Map<string, string>();
      for (const [k, v] of entries) upper.set(k.toUpperCase(), v);
      return (n) => upper.get(n.toUpperCase());
    }
    const g = env as { get(name: string): string | undefined };
    return (n) => g.get(n) ?? g.get(n.toUpperCase());
  }
  if (env instanceof Map) return (n) => env.get(n);
  if (typeof (env as { get?: unknown }).get === "function") {
    const g = env as { get(name: string): string | undefined };
    return (n) => g.get(n);
  }
  const rec = env as Readonly<Record<string, string>>;
  return (n) => (Object.hasOwn(rec, n) ? rec[n] : undefined);
}

function formatLimit(n: number): string {
  return n >= 1024 * 1024
    ? `${+(n / 1024 / 1024).toFixed(1)} MiB`
    : n >= 1024
    ? `${+(n / 1024).toFixed(1)} KiB`
    : `${n} B`;
}

function isLetter(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return LETTER.test(String.fromCodePoint(cp));
}

function isDigit(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x30 && cp <= 0x39;
  return DIGIT.test(String.fromCodePoint(cp));
}

function isSpecialParam(cp: number): boolean {
  // @ * # ? - $ ! 0
  return cp === 0x40 || cp === 0x2a || cp === 0x23 || cp === 0x3f || cp === 0x2d || cp === 0x24 || cp === 0x21 ||
    cp === 0x30;
}

function chr(cp: number): string {
  return cp === EOF ? "\uFFFD" : String.fromCodePoint(cp);
}

class Words {
  buf = "";
  words: string[] = [];
  inWord = false;
  addChar(cp: number): void {
    const sp = isGoSpace(cp);
    if (sp && this.inWord) {
      if (this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = "";
        this.inWord = false;
      }
    } else if (!sp) this.addRaw(chr(cp));
  }
  addRaw(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch.codePointAt(0)!);
  }
  get(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = "";
      this.inWord = false;
    }
    return this.words;
  }
}

function reversePattern(pattern: string): string {
  const cps = Array.from(pattern);
  const out: string[] = new Array(cps.length);
  const last = cps.length - 1;
  for (let i = 0; i <= last;) {
    const tok = cps[i]!;
    const o = last - i;
    if (tok === "\\" && i !== last) {
      out[o - 1] = tok;
      out[o] = cps[i + 1]!;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join("");
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join("");
}

function cps(s: string): number[] {
  return Array.from(s, (c) => c.codePointAt(0)!);
}

function fromCps(a: readonly number[], start: number, end = a.length): string {
  let out = "";
  for (let i = start; i < end; i += 4096) out += String.fromCodePoint(...a.slice(i, Math.min(end, i + 4096)));
  return out;
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const v = cps(value);
  const ends = prefixMatchEnds(compileGlob(pattern), v);
  if (ends.length === 0) return value;
  return fromCps(v, greedy ? ends[ends.length - 1]! : ends[0]!);
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/** Go's Regexp.Expand on a template for a regex without capture groups: `$$` → `$`, `$name`/`${name}` → "". */
function goExpandTemplate(template: string): string {
  let out = "";
  let t = template;
  for (;;) {
    const i = t.indexOf("$");
    if (i < 0) break;
    out += t.slice(0, i);
    t = t.slice(i);
    if (t.length > 1 && t[1] === "$") {
      out += "$";
      t = t.slice(2);
      continue;
    }
    const m = /^\$(?:\{([\p{L}\p{Nd}_]+)\}|([\p{L}\p{Nd}_]+))/u.exec(t);
    if (!m) {
      out += "$";
      t = t.slice(1);
      continue;
    }
    t = t.slice(m[0].length);
  }
  return out + t;
}

/**
 * `${v/p/r}` and `${v//p/r}` with Go's regexp replacement loop (empty matches, at least one step forward);
 * `bounded` checks the result as it grows (`${v//?/$v}` squares a value's length).
 */
function replaceGlob(
  pattern: string,
  value: string,
  repl: string,
  all: boolean,
  bounded: (s: string) => string,
): string {
  const g = compileGlob(pattern);
  const src = cps(value);
  if (!all) {
    const m = findMatch(g, src, 0);
    return m ? fromCps(src, 0, m[0]) + repl + fromCps(src, m[1]) : value;
  }
  let out = "";
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    const m = findMatch(g, src, searchPos);
    if (!m) break;
    const [a0, a1] = m;
    out += fromCps(src, lastMatchEnd, a0);
    if (a1 > lastMatchEnd || a0 === 0) out = bounded(out + repl);
    lastMatchEnd = a1;
    const width = searchPos < src.length ? 1 : 0;
    if (searchPos + width > a1) searchPos += width;
    else if (searchPos + 1 > a1) searchPos++;
    else searchPos = a1;
  }
  return out + fromCps(src, lastMatchEnd);
}

/**
 * Creates a shell-word lexer for a Dockerfile's escape token.
 *
 * @param escapeToken `\` (default) or a backtick, from the Dockerfile's `# escape=` directive.
 * @param options Raw-quote/raw-escape/skip-unset modes (BuildKit's internal modes; normally leave unset).
 * @returns The lexer.
 *
 * @example Expand a word and split words
 * ```ts
 * import { createShellLexer } from "./shell_lexer.ts";
 * const lex = createShellLexer("\\");
 * const env = { NAME: "kiln", FILE: "tool.tar.gz" };
 * console.assert(lex.processWord("${NAME:-x}-${FILE%%.*}", env).value === "kiln-tool");
 * console.assert(lex.processWords('a "b c" $NAME', env).words.join("|") === "a|b c|kiln");
 * ```
 */
export function createShellLexer(escapeToken = "\\", options: ShellLexerOptions = {}): ShellLexer {
  if (escapeToken !== "\\" && escapeToken !== "`") {
    throw new ShellExpansionError(`invalid escape token '${escapeToken}' does not match \` or \\`);
  }
  const esc = escapeToken.codePointAt(0)!;
  const rawQuotes = options.rawQuotes ?? false;
  const skipUnsetEnv = options.skipUnsetEnv ?? false;
  const skipProcessQuotes = options.skipProcessQuotes ?? false;

  const maxExpansion = options.maxExpansion ?? DEFAULT_MAX_EXPANSION;

  /**
   * Expands `word`. `wantWords` false (processWord) skips the word splitting, and copies runs of literal text as
   * slices: a 10 MB heredoc body then costs about its size, not a rope of one string per character.
   */
  function run(
    word: string,
    env: ShellEnv,
    wantWords: boolean,
  ): { value: string; words: string[]; used: string[]; unset: string[] } {
    const get = lookupFn(env, options.caseInsensitiveEnv ?? false);
    const used = new Set<string>();
    const unset = new Set<string>();
    // The word is read in place, by code point (no array of its code points).
    const len = word.length;
    let pos = 0;
    let rawEscapes = options.rawEscapes ?? false;
    let depth = 0;
    // Substitutions may add at most maxExpansion to what is written (ARG a=${a}${a} doubles a value each time).
    const limit = len + maxExpansion;
    const peek = (): number => pos < len ? word.codePointAt(pos)! : EOF;
    const next = (): number => {
      if (pos >= len) return EOF;
      const cp = word.codePointAt(pos)!;
      pos += cp > 0xffff ? 2 : 1;
      return cp;
    };
    /** Throws when a (partial) result has grown past the limit. */
    const bounded = (s: string): string => {
      if (s.length > limit) {
        throw new ShellExpansionError(
          `the expanded value is larger than ${formatLimit(maxExpansion)}, the most substitutions may add to a word`,
        );
      }
      return s;
    };
    /** Length of the run of plain characters at `pos` (no `$`, quote, escape or `stop`), in UTF-16 units. */
    const plainRun = (stop: number): number => {
      let i = pos;
      while (i < len) {
        const c = word.charCodeAt(i);
        if (c === CH_DOLLAR || c === esc || c === stop) break;
        if (!skipProcessQuotes && (c === CH_SQUOTE || c === CH_DQUOTE)) break;
        // A surrogate pair is never one of those: both halves are plain.
        i++;
      }
      return i - pos;
    };

    function getEnv(name: string): [string, boolean] {
      const v = get(name);
      if (v !== undefined) {
        used.add(name);
        return [v, true];
      }
      unset.add(name);
      return ["", false];
    }

    function processStopOn(stop: number, raw: boolean): { result: string; words: string[] } {
      let result = "";
      const words = new Words();
      const saved = rawEscapes;
      rawEscapes = raw;
      const add = (s: string) => {
        result = bounded(result + s);
      };
      try {
        while (peek() !== EOF) {
          let ch = peek();
          if (stop !== EOF && ch === stop) {
            next();
            return { result, words: words.get() };
          }
          if (ch === CH_DOLLAR) {
            const tmp = processDollar();
            add(tmp);
            if (wantWords) words.addString(tmp);
          } else if (!skipProcessQuotes && (ch === CH_SQUOTE || ch === CH_DQUOTE)) {
            const tmp = ch === CH_SQUOTE ? processSingleQuote() : processDoubleQuote();
            add(tmp);
            if (wantWords) words.addRaw(tmp);
          } else if (!wantWords && plainRun(stop) > 1) {
            const n = plainRun(stop);
            result += word.slice(pos, pos + n);
            pos += n;
          } else {
            ch = next();
            if (ch === esc) {
              if (rawEscapes) {
                if (wantWords) words.addRaw(chr(ch));
                result += chr(ch);
              }
              ch = next();
              if (ch === EOF) break;
              if (wantWords) words.addRaw(chr(ch));
            } else if (wantWords) words.addChar(ch);
            result += chr(ch);
          }
        }
        if (stop !== EOF) {
          throw new ShellExpansionError(`unexpected end of statement while looking for matching ${chr(stop)}`);
        }
        return { result, words: words.get() };
      } finally {
        rawEscapes = saved;
      }
    }

    function processSingleQuote(): string {
      let result = "";
      let ch = next();
      if (rawQuotes) result += chr(ch);
      for (;;) {
        ch = next();
        if (ch === EOF) {
          throw new ShellExpansionError("unexpected end of statement while looking for matching single-quote");
        }
        if (ch === CH_SQUOTE) {
          if (rawQuotes) result += chr(ch);
          return result;
        }
        result += chr(ch);
      }
    }

    function processDoubleQuote(): string {
      let result = "";
      const open = next();
      if (rawQuotes) result += chr(open);
      for (;;) {
        const p = peek();
        if (p === EOF) {
          throw new ShellExpansionError("unexpected end of statement while looking for matching double-quote");
        }
        if (p === CH_DQUOTE) {
          next();
          if (rawQuotes) result += '"';
          return result;
        }
        if (p === CH_DOLLAR) {
          result = bounded(result + processDollar());
          continue;
        }
        let ch = next();
        if (ch === esc) {
          if (rawEscapes) result += chr(ch);
          const q = peek();
          if (q === EOF) continue;
          if (q === CH_DQUOTE || q === CH_DOLLAR || q === esc) ch = next();
        }
        result += chr(ch);
      }
    }

    function processName(): string {
      let name = "";
      while (peek() !== EOF) {
        let ch = peek();
        if (name.length === 0 && isDigit(ch)) {
          while (peek() !== EOF && isDigit(peek())) name += chr(next());
          return name;
        }
        if (name.length === 0 && isSpecialParam(ch)) {
          ch = next();
          return chr(ch);
        }
        if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
        name += chr(next());
      }
      return name;
    }

    /** At end of input, BuildKit reports a missing delimiter (reusing one error object through nested levels). */
    function atEOF(e: unknown, message: string): unknown {
      if (peek() !== EOF) return e;
      return e instanceof ShellExpansionError && e.message === message ? e : new ShellExpansionError(message);
    }

    function processDollar(): string {
      if (++depth > MAX_DEPTH) {
        throw new ShellExpansionError(`substitutions nested more than ${MAX_DEPTH} levels deep`);
      }
      try {
        return dollar();
      } finally {
        depth--;
      }
    }

    function dollar(): string {
      next();
      if (peek() !== CH_LBRACE) {
        const name = processName();
        if (name === "") return "$";
        const [value, found] = getEnv(name);
        if (!found && skipUnsetEnv) return "$" + name;
        return value;
      }
      next();
      const p = peek();
      if (p === EOF) throw new ShellExpansionError("syntax error: missing '}'");
      if (p === CH_LBRACE || p === CH_RBRACE || p === CH_COLON) {
        throw new ShellExpansionError("syntax error: bad substitution");
      }
      const name = processName();
      let ch = next();
      let chs = chr(ch);
      let nullIsUnset = false;
      if (ch === CH_RBRACE) {
        const [value, set] = getEnv(name);
        if (!set && skipUnsetEnv) return "${" + name + "}";
        return value;
      }
      if (ch === CH_SLASH) {
        const replaceAll = peek() === CH_SLASH;
        if (replaceAll) next();
        let pattern: string;
        try {
          pattern = processStopOn(CH_SLASH, true).result;
        } catch (e) {
          throw atEOF(e, "syntax error: missing '/' in ${}");
        }
        let replacement: string;
        try {
          replacement = processStopOn(CH_RBRACE, true).result;
        } catch (e) {
          throw atEOF(e, "syntax error: missing '}'");
        }
        const [value, set] = getEnv(name);
        if (skipUnsetEnv && !set) return "${" + name + "/" + pattern + "/" + replacement + "}";
        return replaceGlob(
          pattern,
          value,
          replaceAll ? goExpandTemplate(replacement) : replacement,
          replaceAll,
          bounded,
        );
      }
      if (ch === CH_COLON) {
        nullIsUnset = true;
        ch = next();
        chs += chr(ch);
      } else if (ch !== 0x2b && ch !== 0x2d && ch !== 0x3f && ch !== 0x23 && ch !== 0x25) {
        throw new ShellExpansionError(`unsupported modifier (${chs}) in substitution`);
      }
      const rawEsc = ch === 0x23 || ch === 0x25;
      if (nullIsUnset && rawEsc) throw new ShellExpansionError(`unsupported modifier (${chs}) in substitution`);
      let word: string;
      try {
        word = processStopOn(CH_RBRACE, rawEsc).result;
      } catch (e) {
        throw atEOF(e, "syntax error: missing '}'");
      }
      const [value, set] = getEnv(name);
      if (skipUnsetEnv && !set) return "${" + name + chs + word + "}";
      switch (ch) {
        case 0x2d: // -
          return !set || (nullIsUnset && value === "") ? word : value;
        case 0x2b: // +
          return !set || (nullIsUnset && value === "") ? "" : word;
        case 0x3f: // ?
          if (!set) throw new ShellExpansionError(`${name}: ${word !== "" ? word : "is not allowed to be unset"}`);
          if (nullIsUnset && value === "") {
            throw new ShellExpansionError(`${name}: ${word !== "" ? word : "is not allowed to be empty"}`);
          }
          return value;
        case 0x23: // #
        case 0x25: { // %
          let greedy = false;
          if (word.length > 0 && word.codePointAt(0) === ch) {
            greedy = true;
            word = word.slice(1);
          }
          return ch === 0x25 ? trimSuffix(word, value, greedy) : trimPrefix(word, value, greedy);
        }
        default:
          throw new ShellExpansionError(`unsupported modifier (${chs}) in substitution`);
      }
    }

    const { result, words } = processStopOn(EOF, rawEscapes);
    return { value: bounded(result), words, used: [...used], unset: [...unset] };
  }

  function wrap<T>(word: string, fn: () => T): T {
    const shown = () => goQuote(word.length > 200 ? word.slice(0, 200) + "..." : word);
    try {
      return fn();
    } catch (e) {
      if (e instanceof ShellExpansionError) {
        throw new ShellExpansionError(`failed to process ${shown()}: ${e.message}`);
      }
      if (e instanceof RangeError) {
        throw new ShellExpansionError(`failed to process ${shown()}: expression too deeply nested`);
      }
      throw e;
    }
  }

  return {
    escapeToken,
    maxExpansion,
    processWord(word, env) {
      return wrap(word, () => {
        const r = run(word, env, false);
        return { value: r.value, usedVars: r.used, unsetVars: r.unset };
      });
    },
    processWords(word, env) {
      return wrap(word, () => {
        const r = run(word, env, true);
        return { words: r.words, usedVars: r.used, unsetVars: r.unset };
      });
    },
  };
}
