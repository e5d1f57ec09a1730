/**
 * Errors raised while reading or writing tar archives.
 *
 * @module
 */
import { KilnError } from "../util/mod.ts";

/** Options for {@linkcode TarError}. */
export interface TarErrorOptions {
  /** Byte offset in the archive where the problem was found, if known. */
  offset?: number;
  /** Archive path of the entry concerned, if known. */
  path?: string;
  /** Underlying error. */
  cause?: unknown;
}

/**
 * A malformed archive (bad checksum, truncation, bad PAX record) or an entry that cannot be written
 * (body length differs from `header.size`). The message is one line: `Cannot read tar archive: <what> at offset N`
 * or `Cannot write tar entry "<path>": <what>`.
 *
 * @example Usage
 * ```ts
 * import { TarError } from "./errors.ts";
 * const e = new TarError("Cannot read tar archive: invalid header checksum at offset 512", { offset: 512 });
 * console.assert(e.offset === 512);
 * ```
 */
export class TarError extends KilnError {
  /** Byte offset in the archive, if known. */
  readonly offset: number | undefined;
  /** Entry path, if known. */
  readonly path: string | undefined;
  /**
   * Creates a tar error.
   *
   * @param message One-line description.
   * @param options Offset, path and cause.
   */
  constructor(message: string, options: TarErrorOptions = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = "TarError";
    this.offset = options.offset;
    this.path = options.path;
  }
}
