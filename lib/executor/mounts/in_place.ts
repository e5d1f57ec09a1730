/**
 * `RUN --mount` in place, without mount privileges (an unprivileged container has none): each mount's source is put
 * at its target on `/` for the step and everything is put back afterwards, as the kaniko fork does. What was at a
 * target is moved aside (renamed into kiln's work dir) and restored exactly; a writable source (a cache directory, the
 * throw-away copy of a `rw` bind) is renamed into place and back, so a cache keeps what the step wrote; a read-only
 * source (the context, a stage, a secret file) is copied in and removed after, so the step cannot change it.
 * Directories created on the way to a target are removed again and their parent's times restored (with the helper,
 * to the nanosecond), and the targets are left out of the step's snapshot by the caller.
 *
 * @module
 */
import { lstat, mkdir, rename, rm, rmdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { copyInto } from "../../copy/mod.ts";
import { resolveInRootSync } from "../../fs/mod.ts";
import type { MountSpec } from "../../sandbox/mod.ts";
import { KilnError } from "../../util/mod.ts";

/** What {@linkcode placeMountsInPlace} returns. */
export interface PlacedMounts {
  /** Puts everything back; call it whatever the step did. */
  restore(): Promise<void>;
  /**
   * Directories (relative to the root) whose times were restored after kiln changed their entries: their ctime
   * changed, nothing else (the step's snapshot disregards that).
   */
  restoredDirs: string[];
}

/** Options for {@linkcode placeMountsInPlace}. */
export interface PlaceInPlaceOptions {
  /** A directory of this step in kiln's work dir, on the same filesystem as `/` where possible. */
  stashDir: string;
  /** Restores a directory's times exactly (lib/sandbox `Sandbox.setTimes`). */
  setTimes(hostPath: string, atimeNs: bigint, mtimeNs: bigint): Promise<boolean>;
  /** Reads a directory's times exactly (lib/sandbox `Sandbox.getTimes`; node:fs under Deno rounds to ms). */
  getTimes(hostPath: string): Promise<{ atimeNs: bigint; mtimeNs: bigint } | undefined>;
  /** `Dockerfile:LINE` for messages. */
  location: string;
  /** The root (`/` in place; a directory in tests). */
  root?: string;
  /** Cancels copying. */
  signal?: AbortSignal;
}

function isExdev(e: unknown): boolean {
  return (e as { code?: string }).code === "EXDEV";
}

/**
 * Puts `mounts` in place on the root; the returned function puts everything back (call it whatever the step did).
 *
 * @param mounts The step's mounts (lib/executor/mounts/prepare.ts), in order.
 * @param options Stash dir, time restorer, location.
 * @returns The restore function.
 * @throws {KilnError} when a target is the root, or is a mount point (on another filesystem) kiln cannot move.
 *
 * @example Usage
 * ```ts ignore
 * const restore = await placeMountsInPlace(prepared.mounts, { stashDir, setTimes: sb.setTimes, location });
 * try { await sb.run(step); } finally { await restore(); }
 * ```
 */
export async function placeMountsInPlace(
  mounts: readonly MountSpec[],
  options: PlaceInPlaceOptions,
): Promise<PlacedMounts> {
  const root = (options.root ?? "/").replace(/\/+$/, "") || "/";
  const undo: (() => Promise<void>)[] = [];
  const restoredDirs: string[] = [];
  const parents = new Map<string, Parent>();
  const restore = async () => {
    let first: unknown;
    // A parent the step itself changed keeps its new times; the others get theirs back once all is undone.
    const untouched: Parent[] = [];
    for (const p of parents.values()) {
      const now = (await options.getTimes(p.path))?.mtimeNs;
      if (now !== undefined && now === p.placedNs) untouched.push(p);
    }
    for (const u of undo.splice(0).reverse()) await u().catch((e) => first ??= e);
    for (const p of untouched.reverse()) {
      if (await options.setTimes(p.path, p.atimeNs, p.mtimeNs)) {
        const rel = p.path.slice(root === "/" ? 1 : root.length + 1);
        if (rel !== "") restoredDirs.push(rel);
      }
    }
    if (first !== undefined) {
      throw new KilnError(`${options.location}: cannot put back what RUN --mount moved: ${(first as Error).message}`, {
        cause: first,
      });
    }
  };
  await mkdir(options.stashDir, { recursive: true, mode: 0o700 });
  try {
    for (const [i, m] of mounts.entries()) {
      const host = resolveInRootSync(root, m.target, { followLast: false }).hostPath.replace(/\/+$/, "") || "/";
      if (host === root || host === "/") {
        throw new KilnError(`${options.location}: RUN --mount target ${m.target}: cannot mount over the root`);
      }
      await makeParents(host, root, undo, parents, options.getTimes);
      const existing = await lstat(host).catch(() => undefined);
      if (existing) {
        const stash = join(options.stashDir, `target-${i}`);
        await rename(host, stash).catch((e) => {
          throw new KilnError(
            isExdev(e)
              ? `${options.location}: RUN --mount target ${m.target} is a mount point of the container: in place kiln cannot mount over it`
              : `${options.location}: RUN --mount target ${m.target}: cannot move it aside: ${(e as Error).message}`,
            { cause: e },
          );
        });
        undo.push(async () => {
          await rm(host, { recursive: true, force: true });
          await rename(stash, host);
        });
      } else undo.push(() => rm(host, { recursive: true, force: true }));
      if (m.type === "tmpfs") {
        await mkdir(host, { mode: 0o1777 });
        continue;
      }
      if (!m.readonly) {
        // A writable source is kiln's own (a cache dir, a rw copy): move it in, and back afterwards.
        const moved = await rename(m.source, host).then(() => true, (e) => {
          if (isExdev(e)) return false;
          throw e;
        });
        if (moved) {
          undo.push(async () => {
            if (await lstat(host).catch(() => undefined)) await rename(host, m.source);
            else await mkdir(m.source, { recursive: true });
          });
          continue;
        }
        // Another filesystem (a --run-cache-dir volume): copy in, and the step's result back.
        await copyTo(m.source, host, root, options);
        undo.push(async () => {
          if (!(await lstat(host).catch(() => undefined))) return;
          const back = `${m.source}.kiln-back`;
          await rm(back, { recursive: true, force: true });
          await copyTo(host, back, "/", options);
          await rm(m.source, { recursive: true, force: true });
          await rename(back, m.source);
        });
        continue;
      }
      await copyTo(m.source, host, root, options);
    }
  } catch (e) {
    await restore().catch(() => {});
    throw e;
  }
  for (const p of parents.values()) {
    const ns = (await options.getTimes(p.path))?.mtimeNs;
    if (ns !== undefined) p.placedNs = ns;
  }
  return { restore, restoredDirs };
}

/** Copies `source` (a file or directory on the host) to `dest` (a host path below `root`), owners kept. */
async function copyTo(source: string, dest: string, root: string, options: PlaceInPlaceOptions): Promise<void> {
  const rel = root === "/" ? dest : dest.slice(root.length) || "/";
  await copyInto({
    srcRoot: dirname(source),
    sources: [basename(source)],
    dest: rel,
    destRoot: root,
    keepOwnership: true,
    instruction: "RUN --mount",
    location: options.location,
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** A directory whose entries kiln changes, with its times before. */
interface Parent {
  path: string;
  atimeNs: bigint;
  mtimeNs: bigint;
  /** Its mtime once every mount is in place (the step changed it when it differs after the step). */
  placedNs?: bigint;
}

/** Creates the missing directories above `host` (removed again by `undo`); records the parent whose entries change. */
async function makeParents(
  host: string,
  root: string,
  undo: (() => Promise<void>)[],
  parents: Map<string, Parent>,
  getTimes: PlaceInPlaceOptions["getTimes"],
): Promise<void> {
  const missing: string[] = [];
  let dir = dirname(host);
  while (dir !== root && dir !== "/" && !(await lstat(dir).catch(() => undefined))) {
    missing.unshift(dir);
    dir = dirname(dir);
  }
  // The directory whose entries change (a new child, or the target moved out and in): its times are put back.
  const parent = missing.length > 0 ? dirname(missing[0]!) : dirname(host);
  if (!parents.has(parent)) {
    const t = await getTimes(parent);
    if (t) parents.set(parent, { path: parent, ...t });
  }
  for (const d of missing) {
    await mkdir(d, { mode: 0o755 });
    undo.push(() => rmdir(d).catch(() => {}));
  }
}
