/**
 * Private: extracts a (possibly compressed) tar stream into a directory while it downloads, with the same
 * path confinement as layer extraction (lib/fs/extract.ts) and compression detected by magic bytes
 * (lib/compress). Errors become one-line {@linkcode ContextError}s: a failing download is reported as such,
 * anything the decoders reject as "not a valid … archive".
 *
 * @module
 */
import { autoDecompress } from "../compress/mod.ts";
import { extractLayer } from "../fs/mod.ts";
import { TarError } from "../tar/mod.ts";
import { isKilnError } from "../util/mod.ts";
import { progressStream } from "./_progress.ts";
import { ContextError, describeError } from "./errors.ts";
import type { ContextFetchOptions } from "./types.ts";

/** Options for {@linkcode extractArchive}. */
export interface ExtractArchiveOptions extends ContextFetchOptions {
  /** The source, for messages. */
  source: string;
  /** Expected compressed size, for progress. */
  total?: number;
}

/** Marks an error raised by the source stream itself (network, file read), not by the decoders. */
class SourceReadError extends Error {
  constructor(cause: unknown) {
    super(describeError(cause), { cause });
    this.name = "SourceReadError";
  }
}

/**
 * Passes `stream` through unchanged; an error from reading it is handed to `mapError`, and what that returns is thrown
 * in its place.
 */
function mapReadErrors(
  stream: ReadableStream<Uint8Array>,
  mapError: (e: unknown) => unknown,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        throw mapError(e);
      }
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * Extracts `stream` (plain, gzip or zstd tar; bzip2/xz too when those programs exist) into `destDir`.
 *
 * @param stream The archive bytes as they arrive.
 * @param destDir Existing empty directory.
 * @param options Source name, expected size, progress, cancellation.
 */
export async function extractArchive(
  stream: ReadableStream<Uint8Array>,
  destDir: string,
  options: ExtractArchiveOptions,
): Promise<void> {
  let bytes = 0;
  const counted = mapReadErrors(stream, (e) => new SourceReadError(e)).pipeThrough(progressStream((p) => {
    bytes = p.bytes;
    options.onProgress?.(p);
  }, options.total));
  const signal = options.signal;
  // An error in the input (download or decompression) must fail the extraction even if the tar reader is
  // waiting inside an entry body: watch the stream, abort the extractor and stop waiting for it.
  const inner = new AbortController();
  const onAbort = () => inner.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  let rejectInput!: (e: unknown) => void;
  const inputFailed = new Promise<never>((_, reject) => (rejectInput = reject));
  inputFailed.catch(() => {});
  let compression = "none";
  let inputError: unknown;
  try {
    const d = await autoDecompress(counted, { signal: inner.signal });
    compression = d.compression;
    const watched = mapReadErrors(d.stream, (e) => {
      inputError ??= e;
      rejectInput(e);
      inner.abort(e);
      return e;
    });
    // Context files belong to the user running kiln (as with a git checkout), whoever owned them in the archive.
    const extracting = extractLayer(watched, destDir, {
      whiteouts: false,
      ownership: false,
      xattrs: false,
      signal: inner.signal,
    });
    await Promise.race([extracting, inputFailed]);
  } catch (e) {
    if (signal?.aborted) throw e;
    if (e instanceof SourceReadError) {
      throw new ContextError(options.source, `download failed after ${bytes} bytes: ${e.message}`, { cause: e });
    }
    if (e instanceof ContextError) throw e;
    const what = compression === "none"
      ? "tar archive (nor gzip or zstd compressed)"
      : `${compression}-compressed tar archive`;
    if (bytes === 0) throw new ContextError(options.source, "not a valid tar archive: it is empty", { cause: e });
    const err = inputError ?? e;
    const detail = isKilnError(err) ? err.message : describeError(err);
    if (inputError === undefined && !(e instanceof TarError) && isKilnError(e)) {
      // the archive was readable but an entry could not be unpacked (e.g. it climbs out of the context)
      throw new ContextError(options.source, `cannot unpack the archive: ${detail}`, { cause: e });
    }
    throw new ContextError(options.source, `not a valid ${what}: ${detail}`, { cause: e });
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  if (bytes === 0) throw new ContextError(options.source, "not a valid tar archive: it is empty");
}
