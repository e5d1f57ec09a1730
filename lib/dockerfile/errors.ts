/**
 * Errors of the Dockerfile front end.
 *
 * @module
 */
import { KilnError } from "../util/errors.ts";

/** Where a {@linkcode DockerfileError} happened. */
export interface DockerfileErrorOptions {
  /** The Dockerfile's name as the user gave it (default `Dockerfile`). */
  file?: string;
  /** 1-based first line of the offending instruction (0 when the file is empty). */
  line?: number;
  /** 1-based last line, when known. */
  endLine?: number;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * A user error in a Dockerfile: its message is already `FILE:LINE: what`, the form the CLI prints as is.
 *
 * @example Usage
 * ```ts
 * import { DockerfileError } from "./errors.ts";
 * const e = new DockerfileError("unknown instruction: FOO", { file: "Dockerfile", line: 3 });
 * console.assert(e.message === "Dockerfile:3: unknown instruction: FOO");
 * console.assert(e.detail === "unknown instruction: FOO" && e.line === 3);
 * ```
 */
export class DockerfileError extends KilnError {
  /** The file name used in the message. */
  readonly file: string;
  /** 1-based line of the problem. */
  readonly line: number;
  /** 1-based last line of the instruction. */
  readonly endLine: number;
  /** The message without the `FILE:LINE: ` prefix. */
  readonly detail: string;
  /**
   * Creates a located Dockerfile error.
   *
   * @param detail What is wrong, without location.
   * @param options File, line and cause.
   */
  constructor(detail: string, options: DockerfileErrorOptions = {}) {
    const file = options.file ?? "Dockerfile";
    const line = options.line ?? 0;
    super(`${file}:${line}: ${detail}`, options.cause === undefined ? {} : { cause: options.cause });
    this.name = "DockerfileError";
    this.file = file;
    this.line = line;
    this.endLine = options.endLine ?? line;
    this.detail = detail;
  }
}

/**
 * An error from shell-word expansion (`${v:?msg}`, a missing `}`, a bad pattern...). It has no location of its own;
 * {@linkcode expandInstruction} rethrows it as a {@linkcode DockerfileError} at the instruction's line.
 *
 * @example Usage
 * ```ts
 * import { ShellExpansionError } from "./errors.ts";
 * console.assert(new ShellExpansionError("syntax error: missing '}'").exitCode === 1);
 * ```
 */
export class ShellExpansionError extends KilnError {
  /**
   * Creates an expansion error.
   *
   * @param message What failed.
   */
  constructor(message: string) {
    super(message);
    this.name = "ShellExpansionError";
  }
}
