/**
 * Lexical handling of `/`-separated paths (image paths, archive names, patterns): splitting into components and
 * cleaning like Go's `path.Clean`. Nothing here touches the file system; for symlink-aware resolution inside a
 * rootfs see lib/fs/root_path.ts.
 *
 * @module
 */

/**
 * Splits a `/`-path into its components, dropping empty and `.` ones (`..` is kept).
 *
 * @param path Any `/`-separated path, absolute or relative.
 * @returns The components.
 *
 * @example Usage
 * ```ts
 * import { splitPath } from "./path.ts";
 * console.assert(splitPath("/usr//./bin/../lib/").join() === "usr,bin,..,lib");
 * ```
 */
export function splitPath(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}

/**
 * Cleans a path lexically, like Go's `path.Clean("/" + path)`: the result is absolute, has no empty, `.` or `..`
 * components and no trailing `/`; `..` stops at the root. Drop the first character for the relative form.
 *
 * @param path Any `/`-separated path, absolute or relative.
 * @returns The clean absolute path (`/` for the root).
 *
 * @example Usage
 * ```ts
 * import { cleanPath } from "./path.ts";
 * console.assert(cleanPath("a/./b/../../../c/") === "/c");
 * console.assert(cleanPath("") === "/");
 * ```
 */
export function cleanPath(path: string): string {
  const out: string[] = [];
  for (const c of splitPath(path)) {
    if (c === "..") out.pop();
    else out.push(c);
  }
  return "/" + out.join("/");
}
