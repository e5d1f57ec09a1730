/**
 * Private: lib/fs's root-confined resolution (lib/fs/root_path.ts) for RUN steps, with a symlink loop reported as
 * a {@linkcode SandboxError}.
 *
 * @module
 */
import { resolveInRoot as resolveInFsRoot, type RootPath, SymlinkLoopError } from "../fs/mod.ts";
import { SandboxError } from "./errors.ts";

export type { RootPath };

/**
 * Resolves `path` (absolute in the image) inside `rootDir`: `..` stops at the root and absolute symlink
 * targets restart from the root, so the result never leaves `rootDir`.
 *
 * @param rootDir Host directory holding the rootfs.
 * @param path Path in the image.
 * @returns Resolved host and image paths.
 */
export async function resolveInRoot(rootDir: string, path: string): Promise<RootPath> {
  try {
    return await resolveInFsRoot(rootDir, path);
  } catch (e) {
    if (!(e instanceof SymlinkLoopError)) throw e;
    throw new SandboxError(`Cannot resolve ${path} in ${rootDir}: too many symbolic links`, { cause: e });
  }
}
