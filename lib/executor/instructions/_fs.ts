/**
 * Directory creation inside a rootfs, symlink-safe, for WORKDIR and RUN.
 *
 * @module
 */
import { chmod, chown, mkdir } from "node:fs/promises";
import process from "node:process";
import { resolveInRoot } from "../../copy/mod.ts";
import { KilnError } from "../../util/mod.ts";

/**
 * Creates `path` (absolute in the image) inside `root` when missing, each new component 0755 owned by `owner`.
 *
 * @param root Rootfs directory.
 * @param path Image path.
 * @param owner Owner of created directories.
 */
export async function ensureDir(root: string, path: string, owner: { uid: number; gid: number }): Promise<void> {
  const comps = path.split("/").filter((c) => c !== "");
  let cur = "";
  for (const c of comps) {
    cur += "/" + c;
    const host = resolveInRoot(root, cur);
    try {
      await mkdir(host, { mode: 0o755 });
      // Not root: the directory keeps the builder's owner (build() warned), as files from COPY and archives do.
      await chown(host, owner.uid, owner.gid).catch((e) => {
        if ((e as { code?: string }).code !== "EPERM" || process.getuid?.() === 0) throw e;
      });
      await chmod(host, 0o755);
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") {
        throw new KilnError(`Cannot create directory ${cur} in the rootfs: ${(e as Error).message}`, { cause: e });
      }
    }
  }
}
