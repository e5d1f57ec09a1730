/**
 * Resolving a Dockerfile USER in the image's own /etc/passwd and /etc/group.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { resolveInRoot } from "./_root_path.ts";
import { SandboxError } from "./errors.ts";
import type { ResolvedUser } from "./types.ts";

/** Options of {@linkcode resolveUser}. */
export interface ResolveUserOptions {
  /** Home used when the user has no /etc/passwd entry (default `/`, as Docker). */
  defaultHome?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^[0-9]+$/;

async function readImageFile(rootDir: string, path: string): Promise<string | undefined> {
  const p = await resolveInRoot(rootDir, path);
  if (!p.exists) return undefined;
  try {
    return await readFile(p.hostPath, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EISDIR") return undefined;
    throw new SandboxError(`Cannot read ${path} in the image (${rootDir}): ${(e as Error).message}`, { cause: e });
  }
}

function parseId(s: string | undefined): number | undefined {
  return s !== undefined && NUMERIC.test(s) ? Number(s) : undefined;
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (f[0] === undefined || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? "" });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    const gid = parseId(f[2]);
    if (f[0] === undefined || gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? "").split(",").map((m) => m.trim()).filter((m) => m !== "") });
  }
  return out;
}

/**
 * Resolves a USER value (`name`, `uid`, `name:group`, `uid:gid`, any mix) the way Docker does, reading the
 * image's /etc/passwd and /etc/group inside `rootDir`. Numeric ids need no entry (gid defaults to the passwd
 * entry's, else 0); a name that has no entry is an error naming the user and the file. Supplementary groups
 * are the groups listing the user as a member, only when no group is given explicitly.
 *
 * @param rootDir Host directory holding the image's rootfs.
 * @param userSpec The USER value; empty means root.
 * @param options Default home.
 * @returns uid, gid, supplementary groups and home.
 *
 * @example Usage
 * ```ts ignore
 * import { resolveUser } from "./user.ts";
 * const u = await resolveUser("/tmp/rootfs", "app:staff");
 * console.log(u.uid, u.gid, u.groups, u.home);
 * ```
 */
export async function resolveUser(
  rootDir: string,
  userSpec: string,
  options: ResolveUserOptions = {},
): Promise<ResolvedUser> {
  const defaultHome = options.defaultHome ?? "/";
  const spec = userSpec.trim();
  const colon = spec.indexOf(":");
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? "" : spec.slice(colon + 1);
  if (userPart === "" && groupPart !== "") {
    throw new SandboxError(`Cannot resolve USER "${userSpec}": the user part is empty`);
  }
  const user = userPart === "" ? "0" : userPart;

  const passwdText = await readImageFile(rootDir, "/etc/passwd");
  const passwd = passwdText === undefined ? [] : parsePasswd(passwdText);
  let entry: PasswdEntry | undefined;
  const numericUid = parseId(user);
  if (numericUid !== undefined) {
    entry = passwd.find((e) => e.uid === numericUid);
  } else {
    entry = passwd.find((e) => e.name === user);
    // Docker, kaniko and buildah take `root` as 0:0 on an image without it in /etc/passwd (FROM scratch, distroless).
    if (entry === undefined && user === "root") entry = { name: "root", uid: 0, gid: 0, home: defaultHome };
    if (entry === undefined) {
      const why = passwdText === undefined ? "the image has no /etc/passwd" : "no matching entries in /etc/passwd";
      throw new SandboxError(`Cannot resolve USER "${userSpec}": unable to find user ${user}: ${why}`);
    }
  }
  if (numericUid !== undefined && numericUid > 0xfffffffe) {
    throw new SandboxError(`Cannot resolve USER "${userSpec}": user id ${user} is out of range`);
  }
  const uid = numericUid ?? entry!.uid;
  let gid = entry?.gid ?? 0;
  const home = entry?.home || defaultHome;

  const groupText = groupPart !== "" || entry !== undefined ? await readImageFile(rootDir, "/etc/group") : undefined;
  const groupFile = groupText === undefined ? [] : parseGroup(groupText);
  let groups: number[] = [];
  if (groupPart !== "") {
    const numericGid = parseId(groupPart);
    const g = groupFile.find((e) => e.name === groupPart || (numericGid !== undefined && e.gid === numericGid));
    if (g !== undefined) gid = g.gid;
    else if (numericGid !== undefined && numericGid <= 0xfffffffe) gid = numericGid;
    else if (groupPart === "root") gid = 0;
    else {
      const why = groupText === undefined ? "the image has no /etc/group" : "no matching entries in /etc/group";
      throw new SandboxError(`Cannot resolve USER "${userSpec}": unable to find group ${groupPart}: ${why}`);
    }
  } else if (entry !== undefined) {
    const name = entry.name;
    groups = [...new Set(groupFile.filter((g) => g.members.includes(name)).map((g) => g.gid))];
  }
  return { uid, gid, groups, home };
}
