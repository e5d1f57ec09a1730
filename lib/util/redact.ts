/**
 * One-line, credential-free descriptions for messages: URLs lose their user info, errors become one line.
 *
 * @module
 */

/**
 * Removes user info (tokens, passwords) from URLs inside `s`.
 *
 * @param s A spec or message.
 * @returns `s` with `scheme://user:secret@` rewritten to `scheme://***@`.
 *
 * @example Usage
 * ```ts
 * import { redact } from "./redact.ts";
 * console.assert(redact("https://tok@github.com/a/b.git") === "https://***@github.com/a/b.git");
 * ```
 */
export function redact(s: string): string {
  return s.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, "$1***@");
}

/**
 * A short, one-line description of any thrown value, for the `reason` of an error that names its source.
 *
 * @param err Anything thrown.
 * @returns Its message on one line, credentials redacted.
 *
 * @example Usage
 * ```ts
 * import { describeError } from "./redact.ts";
 * console.assert(describeError(new Error("a\nb")) === "a b");
 * ```
 */
export function describeError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return redact(msg.replace(/\s+/g, " ").trim()) || (err instanceof Error ? err.name : "unknown error");
}
