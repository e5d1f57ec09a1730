/**
 * The Dockerfile parser: text → {@linkcode ParseResult} (BuildKit `parser.Parse`).
 *
 * @module
 */
import type { Directive, Heredoc, Node, ParseResult, ParseWarning } from "./ast.ts";
import { DockerfileError, ShellExpansionError } from "./errors.ts";
import { LineError, parseLine, splitCommand } from "./_line_parsers.ts";
import { createShellLexer } from "./shell_lexer.ts";
import { decodeUtf8Lossless, goTrimLeft, goTrimSpace, utf8Length } from "./_go.ts";

/** Options of {@linkcode parseDockerfile}. */
export interface ParseOptions {
  /** Name used in error messages (`FILE:LINE: ...`); default `Dockerfile`. */
  filename?: string;
}

/** Longest physical line BuildKit accepts, in bytes. */
const MAX_LINE = 65535;
const VALID_DIRECTIVES = new Set(["syntax", "escape", "check"]);
// BuildKit: ^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$, matched in two linear steps
// (see directiveMatch).
const RE_DIRECTIVE_TRIMMED = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*([^\n]+)$/;
const RE_DIRECTIVE_BLANK_VALUE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]+$/;
const RE_HEREDOC = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

function trimNewline(s: string): string {
  let j = s.length;
  while (j > 0 && (s.charCodeAt(j - 1) === 10 || s.charCodeAt(j - 1) === 13)) j--;
  return j === s.length ? s : s.slice(0, j);
}

function isComment(line: string): boolean {
  return goTrimLeft(line).startsWith("#");
}

/** BuildKit's directive regex, without its quadratic backtracking: returns [key, value] or undefined. */
function directiveMatch(line: string): [string, string] | undefined {
  let end = line.length;
  while (end > 0 && (line[end - 1] === " " || line[end - 1] === "\t")) end--;
  const m = RE_DIRECTIVE_TRIMMED.exec(line.slice(0, end));
  if (m) return [m[1]!, m[2]!];
  // Only blanks after "=": Go's lazy (.+?) then takes the last blank as the value.
  const b = RE_DIRECTIVE_BLANK_VALUE.exec(line);
  return b ? [b[1]!, line[line.length - 1]!] : undefined;
}

/**
 * BuildKit's continuation regex `([^E])E[ \t]*$|^E[ \t]*$`, replaced by `$1`: returns the line without the escape
 * token and trailing blanks, or undefined when the line does not continue.
 */
function stripContinuation(line: string, escape: string): string | undefined {
  let end = line.length;
  while (end > 0 && (line[end - 1] === " " || line[end - 1] === "\t")) end--;
  if (end === 0 || line[end - 1] !== escape) return undefined;
  if (end === 1) return "";
  if (line[end - 2] === escape) return undefined;
  return line.slice(0, end - 1);
}

/** Splits like Go's bufio.Scanner with BuildKit's scanLines: each line keeps its `\n`; no empty last token. */
/**
 * Where each line of `text` starts (each line keeps its newline), plus one entry for the end. Lines are sliced
 * from `text` only when read: a 10 MB heredoc is then not 160,000 strings kept alive for the whole parse.
 */
function lineStarts(text: string): number[] {
  const starts: number[] = [];
  let start = 0;
  while (start < text.length) {
    starts.push(start);
    const i = text.indexOf("\n", start);
    start = i < 0 ? text.length : i + 1;
  }
  starts.push(start);
  return starts;
}

function tooLong(text: string, start: number, end: number): boolean {
  if ((end - start) * 3 <= MAX_LINE) return false;
  const line = text.slice(start, end);
  const content = line.endsWith("\n") ? line.slice(0, -1) : line;
  return content.length * 3 > MAX_LINE && utf8Length(content) > MAX_LINE;
}

/**
 * Recognises a heredoc word (`<<EOF`, `<<-"EOF"`, `3<<EOF`) as BuildKit's `ParseHeredoc` does.
 *
 * @param word One shell word.
 * @returns The heredoc (with empty content), or undefined if `word` is not one.
 */
export function parseHeredocWord(word: string): Heredoc | undefined {
  const m = RE_HEREDOC.exec(word);
  if (!m) return undefined;
  const fd = m[1] === "" ? 0 : Number(m[1]);
  const chomp = m[2] === "-";
  const rest = m[3]!;
  if (rest.length === 0) return undefined;
  const words = createShellLexer("\\", { skipUnsetEnv: true }).processWords(rest, {}).words;
  if (words.length !== 1) return undefined;
  const raw = createShellLexer("\\", { skipUnsetEnv: true, rawQuotes: true }).processWords(rest, {}).words;
  if (raw.length !== words.length) {
    throw new LineError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const count = (s: string) => s.split(/['"]/).length - 1;
  return {
    name: words[0]!,
    content: "",
    chomp,
    expand: count(words[0]!) === count(raw[0]!),
    fileDescriptor: Number.isSafeInteger(fd) ? fd : 0,
  };
}

function heredocsFromLine(line: string): Heredoc[] {
  let words: string[];
  try {
    words = createShellLexer("\\", { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).processWords(line, {})
      .words;
  } catch (e) {
    if (e instanceof ShellExpansionError) return [];
    throw e;
  }
  const docs: Heredoc[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) docs.push(h);
  }
  return docs;
}

function canContainHeredoc(node: Node): boolean {
  const n = node.keyword === "onbuild" && node.child ? node.child : node;
  return (n.keyword === "add" || n.keyword === "copy" || n.keyword === "run") && !n.json;
}

/**
 * Parses one logical line into a node (used for top-level lines and ONBUILD triggers).
 *
 * @param line Logical line.
 * @param escapeToken Escape character.
 * @param lines Start and end line.
 * @returns The node.
 */
function nodeFromLine(line: string, escapeToken: string, lines: [number, number], comments: string[]): Node {
  let root: Node | undefined;
  let parent: Node | undefined;
  // Iterative over ONBUILD nesting, so a long `ONBUILD ONBUILD ...` chain cannot overflow the stack.
  for (let text: string | undefined = line; text !== undefined;) {
    const { cmd, flags, rest } = splitCommand(text, escapeToken);
    const keyword = cmd.toLowerCase();
    const parsed = parseLine(keyword, rest, escapeToken);
    const node: Node = {
      keyword,
      keywordOriginal: cmd,
      original: text,
      flags,
      args: parsed.args,
      json: parsed.json,
      heredocs: [],
      startLine: lines[0],
      endLine: lines[1],
      comments: root ? [] : comments,
    };
    if (parent) parent.child = node;
    else root = node;
    parent = node;
    text = parsed.sub;
  }
  return root!;
}

/**
 * Parses a Dockerfile exactly as BuildKit's parser does: directives, comments, continuations, flags, JSON and shell
 * forms, heredocs and ONBUILD nesting. It does not validate instructions (see {@linkcode toStages}).
 *
 * @param input The Dockerfile as text or bytes (bytes keep invalid UTF-8 visible in dumps).
 * @param options File name for messages.
 * @returns Nodes, escape token, directives and warnings.
 * @throws {DockerfileError} `FILE:LINE: message` for malformed input.
 *
 * @example Parse and inspect
 * ```ts
 * import { parseDockerfile } from "./parser.ts";
 * const r = parseDockerfile("FROM alpine AS base\nRUN --mount=type=cache,target=/c echo hi\n");
 * console.assert(r.nodes.length === 2);
 * console.assert(r.nodes[1]!.keyword === "run" && r.nodes[1]!.flags[0] === "--mount=type=cache,target=/c");
 * console.assert(r.nodes[1]!.args[0] === "echo hi" && r.nodes[1]!.startLine === 2);
 * ```
 */
export function parseDockerfile(input: string | Uint8Array, options: ParseOptions = {}): ParseResult {
  const filename = options.filename ?? "Dockerfile";
  const text = typeof input === "string" ? input : decodeUtf8Lossless(input);
  const starts = lineStarts(text);
  /** Number of lines parsed (those before a line that is too long). */
  let lineCount = starts.length - 1;
  let tooLongAt = -1;
  for (let i = 0; i < lineCount; i++) {
    if (tooLong(text, starts[i]!, starts[i + 1]!)) {
      tooLongAt = i + 1;
      lineCount = i;
      break;
    }
  }
  const lineAt = (i: number): string => text.slice(starts[i]!, starts[i + 1]!);
  const fail = (msg: string, line: number, endLine?: number, cause?: unknown): never => {
    const o: { file: string; line: number; endLine?: number; cause?: unknown } = { file: filename, line };
    if (endLine !== undefined) o.endLine = endLine;
    if (cause !== undefined) o.cause = cause;
    throw new DockerfileError(msg, o);
  };

  let escapeToken: "\\" | "`" = "\\";
  const directives: Directive[] = [];
  const seen = new Set<string>();
  let directivesDone = false;
  const warnings: ParseWarning[] = [];
  const nodes: Node[] = [];
  let comments: string[] = [];
  let li = 0;
  let currentLine = 0;

  /** Directive detection; returns true when `line` was a directive. */
  const possibleDirective = (line: string, lineNo: number): boolean => {
    if (directivesDone) return false;
    const m = directiveMatch(line);
    if (!m) {
      directivesDone = true;
      return false;
    }
    const k = m[0].toLowerCase();
    if (!VALID_DIRECTIVES.has(k)) {
      directivesDone = true;
      return false;
    }
    if (seen.has(k)) fail(`only one ${k} parser directive can be used`, lineNo);
    seen.add(k);
    const value = m[1];
    directives.push({ name: k, value, line: lineNo });
    if (k === "escape") {
      if (value !== "\\" && value !== "`") fail(`invalid escape token '${value}' does not match \` or \\`, lineNo);
      escapeToken = value as "\\" | "`";
    }
    return true;
  };
  const processLine = (raw: string, stripLeft: boolean, lineNo: number): { line: string; directive: boolean } => {
    let t = trimNewline(raw);
    if (stripLeft) t = goTrimLeft(t);
    const directive = possibleDirective(t, lineNo);
    return { line: isComment(t) ? "" : t, directive };
  };
  const trimContinuation = (line: string): { line: string; end: boolean } => {
    const stripped = stripContinuation(line, escapeToken);
    return stripped === undefined ? { line, end: true } : { line: stripped, end: false };
  };

  while (li < lineCount) {
    let raw = lineAt(li++);
    if (currentLine === 0 && raw.startsWith("\uFEFF")) raw = raw.slice(1);
    if (isComment(raw)) {
      const c = goTrimSpace(trimNewline(goTrimLeft(raw)).slice(1));
      if (c === "") comments = [];
      else comments.push(c);
    }
    const first = processLine(raw, true, currentLine + 1);
    if (first.directive) comments.pop();
    currentLine++;
    const startLine = currentLine;
    let { line: buf, end } = trimContinuation(first.line);
    if (end && buf.length === 0) continue;
    let emptyContinuation = false;
    while (!end && li < lineCount) {
      const r = lineAt(li++);
      const p = processLine(r, false, currentLine + 1);
      currentLine++;
      if (isComment(r)) continue;
      if (goTrimLeft(trimNewline(p.line)).length === 0) {
        emptyContinuation = true;
        continue;
      }
      const t = trimContinuation(p.line);
      buf += t.line;
      end = t.end;
    }
    const line = buf;
    if (emptyContinuation) {
      warnings.push({
        message: "Empty continuation line found in: " + line,
        url: "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/",
        line: currentLine,
      });
    }
    let child: Node;
    try {
      child = nodeFromLine(line, escapeToken, [startLine, currentLine], comments);
    } catch (e) {
      if (e instanceof LineError) return fail(e.message, startLine, currentLine);
      throw e;
    }
    if (canContainHeredoc(child) && line.includes("<<")) {
      let docs: Heredoc[];
      try {
        docs = heredocsFromLine(line);
      } catch (e) {
        if (e instanceof LineError || e instanceof ShellExpansionError) return fail(e.message, startLine, currentLine);
        throw e;
      }
      for (const doc of docs) {
        let terminated = false;
        const first = li;
        let last = li;
        while (li < lineCount) {
          const r = lineAt(li++);
          currentLine++;
          let term = trimNewline(r);
          if (doc.chomp) term = term.replace(/^\t+/, "");
          if (term === doc.name) {
            terminated = true;
            break;
          }
          last = li;
        }
        if (!terminated) fail("unterminated heredoc", startLine, currentLine);
        // One slice of the text, not its lines joined again: a 10 MB body shares the Dockerfile's memory.
        doc.content = text.slice(starts[first]!, starts[last]!);
        child.heredocs.push(doc);
      }
      child.endLine = currentLine;
      if (child.child) child.child.endLine = currentLine;
    }
    nodes.push(child);
    comments = [];
  }
  if (nodes.length === 0) fail("file with no instructions", Math.max(currentLine, tooLongAt, 1));
  if (tooLongAt > 0) fail(`dockerfile line greater than max allowed size of ${MAX_LINE}`, tooLongAt);
  return { nodes, escapeToken, directives, warnings, filename };
}
