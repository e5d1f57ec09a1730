/**
 * The shape of a kiln subcommand and the I/O it is given. Subcommands never touch process globals:
 * main.ts passes argv, env, stdio and a signal in.
 *
 * @module
 */
import type { FlagSpec } from "./flags.ts";

/** What a subcommand may use from the outside world. */
export interface CliIO {
  /** Writes text or bytes to standard output. */
  stdout(data: string | Uint8Array): Promise<void>;
  /** Writes text to standard error. */
  stderr(data: string): Promise<void>;
  /** Standard input as a stream. */
  stdin(): ReadableStream<Uint8Array>;
  /** Process environment. */
  env: Readonly<Record<string, string | undefined>>;
  /** Current directory. */
  cwd: string;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** Whether standard error is a terminal (colours by default only then). */
  stderrIsTTY?: boolean;
  /** The terminal's size when standard error is one (for the live display). */
  stderrSize?: () => { columns?: number | undefined; rows?: number | undefined };
}

/** One `kiln <name>` subcommand. */
export interface CliCommand {
  /** Subcommand name. */
  name: string;
  /** One-line summary for `kiln --help`. */
  summary: string;
  /** Usage line(s), e.g. `kiln parse [flags] FILE`. */
  usage: string;
  /** Declared flags (for help and parsing). */
  flags: readonly FlagSpec[];
  /** Runs the command; resolves to the exit status. Throws KilnError for user errors. */
  run(args: readonly string[], io: CliIO): Promise<number>;
}
