/**
 * Resolving image paths inside a rootfs directory as if it were `/` (symlinks are followed within it).
 *
 * @module
 */
import { lstat, readlink } from "node:fs/promises";
import { SandboxError } from "./errors.ts";

/** Result of {@linkcode resolveInRoot}. */
export interface RootPath {
  /** Host path inside the rootfs, with every existing symlink resolved. */
  hostPath: string;
  /** The same path relative to the rootfs, absolute (`/a/b`). */
  imagePath: string;
  /** Whether the final path exists. */
  exists: boolean;
  /** The first missing component's image path, when `exists` is false. */
  firstMissing?: string;
}

const MAX_LINKS = 40;

/**
 * Resolves `path` (absolute in the image) inside `rootDir`: `..` stops at the root and absolute symlink
 * targets restart from the root, so the result never leaves `rootDir`.
 *
 * @param rootDir Host directory holding the rootfs.
 * @param path Path in the image.
 * @returns Resolved host and image paths.
 */
export async function resolveInRoot(rootDir: string, path: string): Promise<RootPath> {
  const root = rootDir.replace(/\/+$/, "");
  const todo = path.split("/").filter((c) => c !== "" && c !== ".");
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const comp = todo.shift()!;
    if (comp === "..") {
      done.pop();
      continue;
    }
    const host = `${root}/${[...done, comp].join("/")}`;
    let st;
    try {
      st = await lstat(host);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT" && (e as NodeJS.ErrnoException).code !== "ENOTDIR") throw e;
      const firstMissing = "/" + [...done, comp].join("/");
      const rest = [...done, comp];
      for (const c of todo) {
        if (c === "..") rest.pop();
        else rest.push(c);
      }
      return { hostPath: `${root}/${rest.join("/")}`, imagePath: "/" + rest.join("/"), exists: false, firstMissing };
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new SandboxError(`Cannot resolve ${path} in ${rootDir}: too many symbolic links`);
      const target = await readlink(host);
      if (target.startsWith("/")) done.length = 0;
      todo.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
      continue;
    }
    done.push(comp);
  }
  return {
    hostPath: done.length ? `${root}/${done.join("/")}` : root || "/",
    imagePath: "/" + done.join("/"),
    exists: true,
  };
}
