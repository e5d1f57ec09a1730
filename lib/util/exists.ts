/**
 * Whether a path exists.
 *
 * @module
 */
import { stat } from "node:fs/promises";

/**
 * True if `path` exists (symlinks followed: a dangling link does not exist). Any error, permission errors
 * included, counts as "does not exist".
 *
 * @param path Any host path.
 * @returns Whether `stat(path)` succeeds.
 *
 * @example Usage
 * ```ts
 * import { exists } from "./exists.ts";
 * console.assert(await exists("/"));
 * console.assert(!(await exists("/no/such/path")));
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
