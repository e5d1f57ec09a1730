/**
 * Tar archive contexts: `tar://PATH` (plain, gzip or zstd tar, detected by content) and `tar://stdin`.
 *
 * @module
 */
import { open } from "node:fs/promises";
import { extractArchive } from "./_archive.ts";
import { ContextError } from "./errors.ts";
import type { ContextFetchOptions, ContextSource } from "./types.ts";

/**
 * Creates the source for a tar archive file (`.tar`, `.tar.gz`, `.tar.zst`; the compression is detected from
 * the first bytes, not the name). It is streamed and extracted with path confinement.
 *
 * @param path Archive path.
 * @param description The spec, for messages.
 * @returns The source.
 *
 * @example Usage
 * ```ts
 * import { tarFileSource } from "./tar.ts";
 * const src = tarFileSource("/tmp/context.tar.gz", "tar:///tmp/context.tar.gz");
 * console.assert(src.kind === "tar");
 * ```
 */
export function tarFileSource(path: string, description: string = `tar://${path}`): ContextSource {
  return {
    kind: "tar",
    description,
    async fetch(destDir: string, options: ContextFetchOptions = {}): Promise<void> {
      let fh;
      try {
        fh = await open(path, "r");
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String(code);
        throw new ContextError(description, `${why}: ${path}`, { cause: e });
      }
      try {
        const st = await fh.stat();
        if (st.isDirectory()) throw new ContextError(description, `is a directory, not an archive: ${path}`);
        const stream = fh.readableWebStream() as ReadableStream<Uint8Array>;
        await extractArchive(stream, destDir, { ...options, source: description, total: st.size });
      } finally {
        await fh.close().catch(() => {});
      }
    },
  };
}

/**
 * Creates the source for `tar://stdin`: a (usually gzip-compressed) tar archive read from standard input.
 *
 * @param openStdin Returns the standard-input stream; called once, by `fetch`.
 * @returns The source.
 *
 * @example Usage
 * ```ts
 * import { stdinSource } from "./tar.ts";
 * const src = stdinSource(() => new Blob([]).stream());
 * console.assert(src.kind === "stdin");
 * ```
 */
export function stdinSource(openStdin: () => ReadableStream<Uint8Array>): ContextSource {
  const description = "tar://stdin";
  return {
    kind: "stdin",
    description,
    async fetch(destDir: string, options: ContextFetchOptions = {}): Promise<void> {
      await extractArchive(openStdin(), destDir, { ...options, source: description });
    },
  };
}
