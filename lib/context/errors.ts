/**
 * The error every context source throws for a problem the user can fix.
 *
 * @module
 */
import { KilnError } from "../util/mod.ts";

/**
 * A build context could not be fetched or unpacked. The message is one line naming the source (credentials
 * redacted) and the cause, e.g. `Cannot fetch build context s3://b/ctx.tar.gz: no such object "ctx.tar.gz" in bucket "b"`.
 *
 * @example Usage
 * ```ts
 * import { ContextError } from "./errors.ts";
 * const e = new ContextError("gs://b/x.tar.gz", "no such bucket \"b\"");
 * console.assert(e.message === 'Cannot fetch build context gs://b/x.tar.gz: no such bucket "b"');
 * ```
 */
export class ContextError extends KilnError {
  /** The source, credentials redacted. */
  readonly source: string;
  /** The cause, without the source prefix. */
  readonly reason: string;
  /**
   * Creates a context error.
   *
   * @param source The context spec (already redacted).
   * @param reason What went wrong, one line.
   * @param options Underlying cause; `exitCode` 2 for a malformed spec.
   */
  constructor(source: string, reason: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(`Cannot fetch build context ${source}: ${reason}`, options);
    this.name = "ContextError";
    this.source = source;
    this.reason = reason;
  }
}

/**
 * Removes user info (tokens, passwords) from URLs inside `s`.
 *
 * @deprecated Use `redact` from lib/util/redact.ts (the same function).
 */
export { redact } from "../util/mod.ts";

/**
 * A short, one-line description of any thrown value.
 *
 * @deprecated Use `describeError` from lib/util/redact.ts (the same function).
 */
export { describeError } from "../util/mod.ts";
