/**
 * The untyped Dockerfile syntax tree produced by {@linkcode parseDockerfile} (BuildKit's `parser.Node`, flattened).
 *
 * @module
 */

/** A here-document attached to a RUN/COPY/ADD line (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`). */
export interface Heredoc {
  /** The delimiter word with quotes removed (`EOF`). */
  name: string;
  /** The body exactly as written: every line with its `\n`, without the terminator line. Not chomped. */
  content: string;
  /** `<<-`: leading tabs are stripped from body lines (see {@linkcode chompHeredoc}) and the terminator. */
  chomp: boolean;
  /** False when any part of the delimiter was quoted: the body must not get build-time `$var` expansion. */
  expand: boolean;
  /** File descriptor prefix (`3<<EOF` → 3); 0 when absent. */
  fileDescriptor: number;
}

/** One parser directive from the top of the file. */
export interface Directive {
  /** Lower-cased key: `syntax`, `escape` or `check`. */
  name: string;
  /** The value as written (trailing blanks trimmed). */
  value: string;
  /** 1-based line. */
  line: number;
}

/** A non-fatal finding of the parser (BuildKit's `parser.Warning`). */
export interface ParseWarning {
  /** One-line description. */
  message: string;
  /** Lint rule URL, when there is one. */
  url?: string;
  /** 1-based line. */
  line: number;
}

/** One instruction as written, before typing (BuildKit `parser.Node`). */
export interface Node {
  /** Lower-cased keyword, e.g. `run`; unknown keywords are kept (lower-cased). */
  keyword: string;
  /** The keyword as written. */
  keywordOriginal: string;
  /** The whole logical line (continuations joined, comments removed), as BuildKit's `Original`. */
  original: string;
  /** Leading `--flags`, whole, after quote and escape removal (e.g. `--from=build`). */
  flags: string[];
  /**
   * The argument strings in BuildKit's node chain (see FORMAT.md): e.g. RUN shell form → one string; JSON form →
   * the elements; ENV/LABEL → key, value, separator triples; HEALTHCHECK → type then command. Empty for ONBUILD.
   */
  args: string[];
  /** For ONBUILD: the trigger instruction, parsed as a line of its own. */
  child?: Node;
  /** True when the arguments were a JSON array (exec form). */
  json: boolean;
  /** Here-documents whose bodies follow this line, in order. */
  heredocs: Heredoc[];
  /** 1-based first physical line. */
  startLine: number;
  /** 1-based last physical line (continuations and heredoc bodies included). */
  endLine: number;
  /** Comment lines directly above the instruction (without `#`). */
  comments: string[];
}

/** What {@linkcode parseDockerfile} returns. */
export interface ParseResult {
  /** Top-level instructions in source order. */
  nodes: Node[];
  /** The escape token in force (`\` or backtick). */
  escapeToken: "\\" | "`";
  /** Parser directives found at the top. */
  directives: Directive[];
  /** Warnings (e.g. empty continuation lines). */
  warnings: ParseWarning[];
  /** The file name used in messages. */
  filename: string;
}

/**
 * Strips leading tabs from every line of a heredoc body (what `<<-` means), as BuildKit's `ChompHeredocContent`.
 *
 * @param content Body text.
 * @returns The body without leading tabs on any line.
 *
 * @example Usage
 * ```ts
 * import { chompHeredoc } from "./ast.ts";
 * console.assert(chompHeredoc("\t\ta\n\tb\n") === "a\nb\n");
 * ```
 */
export function chompHeredoc(content: string): string {
  return content.replace(/(^|\n)\t+/g, "$1");
}
