/**
 * A local directory context: a plain path or `dir://PATH`.
 *
 * @module
 */
import { cp, stat } from "node:fs/promises";
import { ContextError } from "./errors.ts";
import type { ContextFetchOptions, ContextSource } from "./types.ts";

/** A context that is already a directory on this machine. */
export interface DirContextSource extends ContextSource {
  /** The directory itself; {@linkcode resolveContext} uses it in place instead of copying. */
  readonly localDir: string;
}

/**
 * Creates the source for a local directory. `fetch` copies it (resolveContext does not: it uses `localDir`).
 *
 * @param path The directory (absolute, or relative to the process's working directory).
 * @param description The spec as the user wrote it, for messages.
 * @returns The source.
 *
 * @example Usage
 * ```ts
 * import { dirSource } from "./dir.ts";
 * const src = dirSource("/workspace");
 * console.assert(src.localDir === "/workspace");
 * ```
 */
export function dirSource(path: string, description: string = path): DirContextSource {
  return {
    kind: "dir",
    description,
    localDir: path,
    async fetch(destDir: string, _options: ContextFetchOptions = {}): Promise<void> {
      await checkDir(path, description);
      await cp(path, destDir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    },
  };
}

/**
 * Throws a {@linkcode ContextError} unless `path` is an existing directory.
 *
 * @param path Directory to check.
 * @param description The spec, for the message.
 */
export async function checkDir(path: string, description: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such directory" : code === "EACCES" ? "permission denied" : String(code);
    throw new ContextError(description, `${why}: ${path}`, { cause: e });
  }
  if (!st.isDirectory()) throw new ContextError(description, `not a directory: ${path}`);
}
