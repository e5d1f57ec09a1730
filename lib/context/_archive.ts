/**
 * Private: extracts a (possibly compressed) tar stream into a directory with path confinement.
 * PLACEHOLDER until lib/fs/extract.ts and lib/compress autodetection land.
 *
 * @module
 */
import { ContextError } from "./errors.ts";
import type { ContextFetchOptions } from "./types.ts";

/** Options for {@linkcode extractArchive}. */
export interface ExtractArchiveOptions extends ContextFetchOptions {
  /** The source, for messages. */
  source: string;
  /** Expected compressed size, for progress. */
  total?: number;
}

/**
 * Extracts `stream` (plain, gzip or zstd tar, detected by magic) into `destDir`.
 *
 * @param stream The archive bytes.
 * @param destDir Existing empty directory.
 * @param options Source name, progress, cancellation.
 */
export async function extractArchive(
  stream: ReadableStream<Uint8Array>,
  _destDir: string,
  options: ExtractArchiveOptions,
): Promise<void> {
  await stream.cancel();
  throw new ContextError(options.source, "archive extraction not available yet");
}
