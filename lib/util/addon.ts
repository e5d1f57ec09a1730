/**
 * Loading kiln's optional N-API addon (native/, built by `npm install`): shared by the folders that use parts of it
 * (lib/fs: walker, hasher, syscalls; lib/compress: libdeflate gzip). Loading needs `--allow-read` and `--allow-ffi`
 * under Deno; any failure is returned, never thrown.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** Where `npm install` puts the addon. */
export const ADDON_PATH: string = fileURLToPath(
  new URL("../../native/build/Release/kiln_native.node", import.meta.url),
);

/**
 * Loads the addon file `path` if it exports the function `name`.
 *
 * @param path The .node file.
 * @param name An export the caller needs.
 * @param without The reason given when `name` is missing (e.g. "was built without libdeflate").
 * @returns The module, or why it cannot be used.
 *
 * @example Usage
 * ```ts
 * import { ADDON_PATH, requireAddon } from "./addon.ts";
 * const r = requireAddon<{ walk: unknown }>(ADDON_PATH, "walk", "is not kiln's addon");
 * console.log(r.ok ? "native" : r.reason);
 * ```
 */
export function requireAddon<T>(
  path: string,
  name: string,
  without: string,
): { ok: true; module: T } | { ok: false; reason: string } {
  try {
    if (!existsSync(path)) return { ok: false, reason: `${path} not built (run npm install with a C++ compiler)` };
    const module = createRequire(import.meta.url)(path) as Record<string, unknown>;
    if (typeof module[name] !== "function") return { ok: false, reason: `${path} ${without}` };
    return { ok: true, module: module as T };
  } catch (e) {
    return { ok: false, reason: `cannot load ${path}: ${(e as Error).message ?? e}` };
  }
}
