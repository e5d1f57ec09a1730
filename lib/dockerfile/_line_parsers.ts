/**
 * BuildKit's keyword → line-parser table (frontend/dockerfile/parser/line_parsers.go): each parser turns the text
 * after the keyword and flags into the node's argument strings.
 *
 * @module
 */
import { goQuote, goTrimLeft, goTrimSpace, isGoSpace } from "./_go.ts";

/** What a line parser produces. */
export interface LineParse {
  /** Argument strings. */
  args: string[];
  /** Exec (JSON) form. */
  json: boolean;
  /** ONBUILD: the rest of the line, to be parsed as an instruction. */
  sub?: string;
}

/** A parse failure inside a line (the caller adds the location). */
export class LineError extends Error {
  /**
   * Creates a line error.
   *
   * @param message Detail.
   */
  constructor(message: string) {
    super(message);
    this.name = "LineError";
  }
}

const NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only";
const RE_WS = /[\t\v\f\r ]+/;

/**
 * Splits on runs of `[\t\v\f\r ]` like Go's `regexp.Split(s, -1)` (or at most `n` parts).
 *
 * @param s Input.
 * @param n Maximum number of parts, or -1.
 * @returns The parts.
 */
export function splitWs(s: string, n = -1): string[] {
  if (n === 2) {
    const m = RE_WS.exec(s);
    return m ? [s.slice(0, m.index), s.slice(m.index + m[0].length)] : [s];
  }
  return s.split(/[\t\v\f\r ]+/);
}

function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\uFFFD");
}

/** Returns the JSON array elements, `undefined` when `rest` is not a JSON array, or throws for non-strings. */
function parseJSON(rest: string): string[] | undefined {
  const r = goTrimLeft(rest);
  if (!r.startsWith("[")) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(r);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  const out: string[] = [];
  for (const e of v) {
    if (typeof e !== "string") throw new LineError(NOT_STRING_ARRAY);
    out.push(wellFormed(e));
  }
  return out;
}

function parseMaybeJSON(rest: string): LineParse {
  if (rest === "") return { args: [], json: false };
  const j = parseJSON(rest);
  if (j) return { args: j, json: true };
  return { args: [rest], json: false };
}

function parseMaybeJSONToList(rest: string): LineParse {
  const j = parseJSON(rest);
  if (j) return { args: j, json: true };
  return parseStringsWhitespaceDelimited(rest);
}

function parseStringsWhitespaceDelimited(rest: string): LineParse {
  if (rest === "") return { args: [], json: false };
  return { args: splitWs(rest), json: false };
}

function parseString(rest: string): LineParse {
  return { args: rest === "" ? [] : [rest], json: false };
}

/**
 * BuildKit's `parseWords`: splits on Unicode white space, keeping quotes and escapes in the words.
 *
 * @param rest Input.
 * @param escapeToken Escape character.
 * @returns The words.
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const cps = Array.from(rest);
  const words: string[] = [];
  const IN_SPACES = 0, IN_WORD = 1, IN_QUOTE = 2;
  let phase = IN_SPACES;
  let word = "";
  let quote = "";
  let blankOK = false;
  let ch = "";
  const n = cps.length;
  for (let pos = 0; pos <= n; pos++) {
    if (pos !== n) ch = cps[pos]!;
    if (phase === IN_SPACES) {
      if (pos === n) break;
      if (isGoSpace(ch.codePointAt(0)!)) continue;
      phase = IN_WORD;
    }
    if ((phase === IN_WORD || phase === IN_QUOTE) && pos === n) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === IN_WORD) {
      if (isGoSpace(ch.codePointAt(0)!)) {
        phase = IN_SPACES;
        if (blankOK || word.length > 0) words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
      }
      if (ch === escapeToken) {
        if (pos + 1 === n) continue;
        word += ch;
        pos++;
        ch = cps[pos]!;
      }
      word += ch;
      continue;
    }
    if (phase === IN_QUOTE) {
      if (ch === quote) phase = IN_WORD;
      if (ch === escapeToken && quote !== "'") {
        if (pos + 1 === n) {
          phase = IN_WORD;
          continue;
        }
        pos++;
        word += ch;
        ch = cps[pos]!;
      }
      word += ch;
    }
  }
  return words;
}

function parseNameVal(rest: string, key: string, escapeToken: string): LineParse {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return { args: [], json: false };
  if (!words[0]!.includes("=")) {
    const parts = splitWs(rest, 2);
    if (parts.length < 2) throw new LineError(`${key} must have two arguments`);
    return { args: [parts[0]!, parts[1]!, ""], json: false };
  }
  const args: string[] = [];
  for (const w of words) {
    const i = w.indexOf("=");
    if (i < 0) {
      throw new LineError(`Syntax error - can't find = in ${goQuote(w)}. Must be of the form: name=value`);
    }
    args.push(w.slice(0, i), w.slice(i + 1), "=");
  }
  return { args, json: false };
}

function parseHealthConfig(rest: string): LineParse {
  let sep = 0;
  while (sep < rest.length && !isGoSpace(rest.charCodeAt(sep))) sep++;
  let next = sep;
  while (next < rest.length && isGoSpace(rest.charCodeAt(next))) next++;
  if (sep === 0) return { args: [], json: false };
  const cmd = parseMaybeJSON(rest.slice(next));
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
}

/**
 * Runs the line parser for `keyword` (lower-case) on `rest`.
 *
 * @param keyword Lower-cased keyword.
 * @param rest Arguments after flags, trimmed.
 * @param escapeToken Escape character.
 * @returns Arguments.
 */
export function parseLine(keyword: string, rest: string, escapeToken: string): LineParse {
  switch (keyword) {
    case "add":
    case "copy":
    case "volume":
      return parseMaybeJSONToList(rest);
    case "arg":
      return { args: parseWords(rest, escapeToken), json: false };
    case "cmd":
    case "entrypoint":
    case "run":
    case "shell":
      return parseMaybeJSON(rest);
    case "env":
      return parseNameVal(rest, "ENV", escapeToken);
    case "label":
      return parseNameVal(rest, "LABEL", escapeToken);
    case "expose":
    case "from":
      return parseStringsWhitespaceDelimited(rest);
    case "healthcheck":
      return parseHealthConfig(rest);
    case "maintainer":
    case "stopsignal":
    case "user":
    case "workdir":
      return parseString(rest);
    case "onbuild":
      return rest === "" ? { args: [], json: false } : { args: [], json: false, sub: rest };
    default:
      return { args: [""], json: false };
  }
}

/**
 * BuildKit's `extractBuilderFlags`: takes the leading `--flag` words off `line`.
 *
 * @param line Text after the keyword.
 * @param escapeToken Escape character.
 * @returns Remaining text and the flags.
 */
export function extractFlags(line: string, escapeToken: string): { rest: string; flags: string[] } {
  const words: string[] = [];
  const IN_SPACES = 0, IN_WORD = 1, IN_QUOTE = 2;
  let phase = IN_SPACES;
  let word = "";
  let quote = "";
  let blankOK = false;
  let ch = "";
  const n = line.length;
  // Works on UTF-16 units: all characters it looks at are ASCII, and others are copied through whole.
  for (let pos = 0; pos <= n; pos++) {
    if (pos !== n) ch = line[pos]!;
    if (phase === IN_SPACES) {
      if (pos === n) break;
      if (isGoSpace(ch.charCodeAt(0))) continue;
      if (ch !== "-" || pos + 1 === n || line[pos + 1] !== "-") return { rest: line.slice(pos), flags: words };
      phase = IN_WORD;
    }
    if ((phase === IN_WORD || phase === IN_QUOTE) && pos === n) {
      if (word !== "--" && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === IN_WORD) {
      if (isGoSpace(ch.charCodeAt(0))) {
        phase = IN_SPACES;
        if (word === "--") return { rest: line.slice(pos), flags: words };
        if (blankOK || word.length > 0) words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = IN_QUOTE;
        continue;
      }
      if (ch === escapeToken) {
        if (pos + 1 === n) continue;
        pos++;
        ch = line[pos]!;
      }
      word += ch;
      continue;
    }
    if (phase === IN_QUOTE) {
      if (ch === quote) {
        phase = IN_WORD;
        continue;
      }
      if (ch === escapeToken) {
        if (pos + 1 === n) {
          phase = IN_WORD;
          continue;
        }
        pos++;
        ch = line[pos]!;
      }
      word += ch;
    }
  }
  return { rest: "", flags: words };
}

/**
 * BuildKit's `splitCommand`: keyword, flags and trimmed arguments of a logical line.
 *
 * @param line The logical line.
 * @param escapeToken Escape character.
 * @returns Parts.
 */
export function splitCommand(line: string, escapeToken: string): { cmd: string; flags: string[]; rest: string } {
  const parts = splitWs(goTrimSpace(line), 2);
  let rest = "";
  let flags: string[] = [];
  if (parts.length === 2) ({ rest, flags } = extractFlags(parts[1]!, escapeToken));
  return { cmd: parts[0]!, flags, rest: goTrimSpace(rest) };
}
