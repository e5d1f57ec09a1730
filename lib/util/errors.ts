/**
 * Error conventions shared by every kiln module.
 *
 * An error a user can fix (bad input, bad flags, a registry refusing us) is a
 * {@linkcode KilnError}: the CLI prints its one-line message and exits with its
 * `exitCode`, never a stack trace. Anything else is a bug in kiln and is
 * printed with its stack.
 *
 * @module
 */

/** Options shared by kiln errors. */
export interface KilnErrorOptions {
  /** The underlying error, kept for debugging (`--verbosity=debug` prints it). */
  cause?: unknown;
  /**
   * Process exit status the CLI uses: 1 for build/runtime errors (default), 2 for usage errors; a failed RUN step
   * carries the step's own status (1–255), as kaniko exits.
   */
  exitCode?: number;
  /** Where in the Dockerfile the error happened (`Dockerfile:LINE`), when it is about a step. */
  location?: string;
}

/**
 * Base class of every error whose message is meant for the user.
 *
 * @example Usage
 * ```ts
 * import { KilnError } from "./errors.ts";
 * const err = new KilnError("Cannot read Dockerfile: no such file");
 * console.assert(err.exitCode === 1);
 * ```
 */
export class KilnError extends Error {
  /** Exit status the CLI uses for this error. */
  readonly exitCode: number;
  /**
   * Where in the Dockerfile it happened (`Dockerfile:LINE`), when it is about a step: set by the executor on any
   * error a step raises (BuildKit's `WithLocation`), so that registry, context, sandbox and tar errors keep their
   * class and fields and still name their line.
   */
  location?: string;
  /**
   * Creates a user-facing error.
   *
   * @param message One line saying what is wrong and where.
   * @param options Cause, exit code and location.
   */
  constructor(message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "KilnError";
    const code = options.exitCode ?? 1;
    this.exitCode = Number.isInteger(code) && code >= 1 && code <= 255 ? code : 1;
    if (options.location !== undefined) this.location = options.location;
  }
}

/**
 * A command-line usage error (unknown flag, missing argument); exit status 2.
 *
 * @example Usage
 * ```ts
 * import { UsageError } from "./errors.ts";
 * console.assert(new UsageError("Unknown flag --bogus").exitCode === 2);
 * ```
 */
export class UsageError extends KilnError {
  /**
   * Creates a usage error.
   *
   * @param message What is wrong with the command line.
   * @param options Optional cause.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, exitCode: 2 });
    this.name = "UsageError";
  }
}

/**
 * Thrown when an operation is cancelled through its AbortSignal.
 *
 * @example Usage
 * ```ts
 * import { AbortedError } from "./errors.ts";
 * console.assert(new AbortedError().message === "Operation aborted");
 * ```
 */
export class AbortedError extends KilnError {
  /**
   * Creates an abort error.
   *
   * @param message Optional message.
   */
  constructor(message = "Operation aborted") {
    super(message);
    this.name = "AbortedError";
  }
}

/**
 * True if `err` is a user-facing kiln error.
 *
 * @param err Any thrown value.
 * @returns Whether it is a {@linkcode KilnError}.
 *
 * @example Usage
 * ```ts
 * import { isKilnError, KilnError } from "./errors.ts";
 * console.assert(isKilnError(new KilnError("x")));
 * ```
 */
export function isKilnError(err: unknown): err is KilnError {
  return err instanceof KilnError;
}
