/**
 * The error a RUN step's setup raises.
 *
 * @module
 */
import { KilnError } from "../util/mod.ts";

/**
 * A RUN step could not be set up or started (unknown user, missing working directory, no root, missing helper,
 * command not found). The message is one line saying what and where.
 *
 * @example Usage
 * ```ts
 * import { SandboxError } from "./errors.ts";
 * const err = new SandboxError("Cannot run step: working directory /app does not exist in the image");
 * console.assert(err.exitCode === 1);
 * ```
 */
export class SandboxError extends KilnError {
  /**
   * Creates a sandbox error.
   *
   * @param message One line saying what is wrong.
   * @param options Optional cause.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "SandboxError";
  }
}
