/**
 * Directory creation inside a rootfs, symlink-safe, for WORKDIR and RUN.
 *
 * @module
 */
import { chmod, chown, lstat, mkdir } from "node:fs/promises";
import process from "node:process";
import { resolveInRootSync } from "../../fs/mod.ts";
import { KilnError, splitPath } from "../../util/mod.ts";

/**
 * Creates `path` (absolute in the image) inside `root` when missing, each new component 0755 owned by `owner`.
 * Symlinks on the way are followed inside the root, a dangling one included: `WORKDIR /w` with `/w -> /t/deep`
 * creates `/t/deep` in the rootfs, as BuildKit does.
 *
 * @param root Rootfs directory.
 * @param path Image path.
 * @param owner Owner of created directories.
 * @throws {KilnError} Naming the image path (never a host path) when a component cannot be made.
 */
export async function ensureDir(root: string, path: string, owner: { uid: number; gid: number }): Promise<void> {
  let cur = "";
  for (const c of splitPath(path)) {
    cur += "/" + c;
    const r = resolveInRootSync(root, cur);
    if (r.exists) continue;
    await makeResolved(root, r.imagePath, owner, cur);
  }
}

/** Makes every missing directory of `imagePath` (resolved: no symlink in it) inside `root`. */
async function makeResolved(
  root: string,
  imagePath: string,
  owner: { uid: number; gid: number },
  what: string,
): Promise<void> {
  let p = "";
  for (const c of splitPath(imagePath)) {
    p += "/" + c;
    const host = root + p;
    try {
      await mkdir(host, { mode: 0o755 });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "EEXIST" && (await lstat(host)).isDirectory()) continue;
      const why = code === "EEXIST" || code === "ENOTDIR" ? `${p} is not a directory` : code ?? String(e);
      throw new KilnError(`Cannot create directory ${what} in the rootfs: ${why}`, { cause: e });
    }
    // Not root: the directory keeps the builder's owner (build() warned), as files from COPY and archives do.
    await chown(host, owner.uid, owner.gid).catch((e) => {
      if ((e as { code?: string }).code !== "EPERM" || process.getuid?.() === 0) throw e;
    });
    await chmod(host, 0o755);
  }
}
