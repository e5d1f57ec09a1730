/**
 * Path resolution confined to a root directory (a rootfs, a build context), like containerd's `fs.RootPath`:
 * the path is walked one component at a time and every symlink met on the way is followed *as if the root were
 * `/`*: an absolute target restarts at the root and `..` stops at the root, so the result never leaves it. This is
 * a security boundary (COPY/ADD destinations, layer extraction, RUN mounts and users, the Dockerfile and
 * `.dockerignore` of a context) and this module is its only implementation.
 *
 * Three forms share one walk: {@linkcode resolveInRoot} (async) and {@linkcode resolveInRootSync} return a
 * {@linkcode RootPath}; {@linkcode createRootResolver} returns rootfs-relative paths and caches directory
 * resolutions, for extracting many entries into one tree.
 *
 * A component that cannot be looked up (missing, under a non-directory, not searchable) is taken as missing: it
 * is kept as it is and so is everything below it (lexically, `..` included), since nothing there can be a
 * symlink this process could follow. A `..` that climbs back above it resumes the walk.
 *
 * @module
 */
import { lstatSync, readlinkSync } from "node:fs";
import { lstat, readlink } from "node:fs/promises";
import { KilnError, splitPath } from "../util/mod.ts";

/** Options for {@linkcode resolveInRoot}, {@linkcode resolveInRootSync} and {@linkcode RootResolver.resolve}. */
export interface ResolveInRootOptions {
  /** Also follow a symlink in the last component (default true); false resolves the link itself. */
  followLast?: boolean;
}

/** A path resolved inside a root. */
export interface RootPath {
  /** Host path: the root followed by the resolved components (the root itself for `/`). */
  hostPath: string;
  /** The same path seen from inside the root, absolute and clean (`/a/b`, `/` for the root). */
  imagePath: string;
  /** Whether the resolved path exists (with `followLast: false`, whether the last component exists). */
  exists: boolean;
  /** The image path of the first missing component, when `exists` is false. */
  firstMissing?: string;
}

/**
 * More than {@linkcode MAX_LINKS} symlinks were followed for one path (a loop such as `a -> /a`).
 *
 * @example Usage
 * ```ts
 * import { SymlinkLoopError } from "./root_path.ts";
 * const e = new SymlinkLoopError("etc/passwd");
 * console.assert(e.message === "Cannot resolve etc/passwd: too many levels of symbolic links");
 * ```
 */
export class SymlinkLoopError extends KilnError {
  /** The path that was being resolved, as given. */
  readonly path: string;
  /**
   * Creates the error.
   *
   * @param path The path that was being resolved.
   */
  constructor(path: string) {
    super(`Cannot resolve ${path}: too many levels of symbolic links`);
    this.name = "SymlinkLoopError";
    this.path = path;
  }
}

/** Most symlinks followed while resolving one path. */
export const MAX_LINKS = 255;

/** What a look-up found at one host path. */
type Probe = { kind: "missing" } | { kind: "present" } | { kind: "link"; target: string };

/** A finished walk: resolved components, the first missing one, and whether any look-up found nothing. */
interface Walked {
  comps: string[];
  firstMissing: string | undefined;
  sawMissing: boolean;
}

/**
 * The walk itself, shared by the sync and async forms: it yields each rootfs-relative path to look up and is
 * sent back what is there. `resolved` is a starting point (a cached resolution of the first `skip` components).
 */
function* walk(
  path: string,
  followLast: boolean,
  start: { resolved: string[]; skip: number } = { resolved: [], skip: 0 },
): Generator<string, Walked, Probe> {
  const queue = splitPath(path).slice(start.skip);
  let resolved = start.resolved;
  let links = 0;
  // While > 0: resolved[missingDepth - 1] does not exist, so nothing below it is looked up.
  let missingDepth = 0;
  let firstMissing: string | undefined;
  let sawMissing = false;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === "..") {
      resolved.pop();
      if (resolved.length < missingDepth) {
        missingDepth = 0;
        firstMissing = undefined;
      }
      continue;
    }
    if (missingDepth > 0) {
      resolved.push(c);
      continue;
    }
    const last = queue.length === 0;
    const probe: Probe = yield resolved.length === 0 ? c : `${resolved.join("/")}/${c}`;
    if (probe.kind === "missing") {
      resolved.push(c);
      sawMissing = true;
      missingDepth = resolved.length;
      firstMissing = "/" + resolved.join("/");
      continue;
    }
    if (probe.kind === "present" || (last && !followLast)) {
      resolved.push(c);
      continue;
    }
    if (++links > MAX_LINKS) throw new SymlinkLoopError(path);
    if (probe.target.startsWith("/")) resolved = [];
    queue.unshift(...splitPath(probe.target));
  }
  return { comps: resolved, firstMissing, sawMissing };
}

function probeSync(host: string): Probe {
  try {
    if (!lstatSync(host).isSymbolicLink()) return { kind: "present" };
    return { kind: "link", target: readlinkSync(host) };
  } catch {
    return { kind: "missing" };
  }
}

async function probeAsync(host: string): Promise<Probe> {
  try {
    if (!(await lstat(host)).isSymbolicLink()) return { kind: "present" };
    return { kind: "link", target: await readlink(host) };
  } catch {
    return { kind: "missing" };
  }
}

function trimRoot(root: string): string {
  return root.replace(/\/+$/, "");
}

function hostOf(root: string, rel: string): string {
  return rel === "" ? root || "/" : `${root}/${rel}`;
}

function rootPath(root: string, w: Walked): RootPath {
  const rel = w.comps.join("/");
  const out: RootPath = { hostPath: hostOf(root, rel), imagePath: "/" + rel, exists: w.firstMissing === undefined };
  if (w.firstMissing !== undefined) out.firstMissing = w.firstMissing;
  return out;
}

function runSync(root: string, gen: Generator<string, Walked, Probe>): Walked {
  let step = gen.next();
  while (!step.done) step = gen.next(probeSync(hostOf(root, step.value)));
  return step.value;
}

/**
 * Resolves `path` (absolute or relative, interpreted inside `root`) to a host path under `root`, following
 * symlinks within the root; missing components are kept as they are.
 *
 * @param root Absolute host path of the root (trailing `/` ignored).
 * @param path Path inside the root.
 * @param options Whether to follow a symlink in the last component.
 * @returns The host path (always `root` or below it) and the path as seen inside the root.
 * @throws {SymlinkLoopError} after {@linkcode MAX_LINKS} symlinks.
 *
 * @example Usage
 * ```ts
 * import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { resolveInRootSync } from "./root_path.ts";
 * const root = mkdtempSync(`${tmpdir()}/kiln-doc-`);
 * symlinkSync("../../../etc", `${root}/etc-link`);
 * const p = resolveInRootSync(root, "/etc-link/passwd");
 * console.assert(p.hostPath === `${root}/etc/passwd` && p.firstMissing === "/etc");
 * rmSync(root, { recursive: true });
 * ```
 */
export function resolveInRootSync(root: string, path: string, options: ResolveInRootOptions = {}): RootPath {
  const r = trimRoot(root);
  return rootPath(r, runSync(r, walk(path, options.followLast ?? true)));
}

/**
 * Resolves `path` inside `root` like {@linkcode resolveInRootSync}, with asynchronous look-ups.
 *
 * @param root Absolute host path of the root (trailing `/` ignored).
 * @param path Path inside the root.
 * @param options Whether to follow a symlink in the last component.
 * @returns The host path (always `root` or below it) and the path as seen inside the root.
 * @throws {SymlinkLoopError} after {@linkcode MAX_LINKS} symlinks.
 *
 * @example Usage
 * ```ts
 * import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { resolveInRoot } from "./root_path.ts";
 * const root = mkdtempSync(`${tmpdir()}/kiln-doc-`);
 * symlinkSync("/", `${root}/up`);
 * console.assert((await resolveInRoot(root, "up/up/..")).hostPath === root);
 * rmSync(root, { recursive: true });
 * ```
 */
export async function resolveInRoot(root: string, path: string, options: ResolveInRootOptions = {}): Promise<RootPath> {
  const r = trimRoot(root);
  const gen = walk(path, options.followLast ?? true);
  let step = gen.next();
  while (!step.done) step = gen.next(await probeAsync(hostOf(r, step.value)));
  return rootPath(r, step.value);
}

/** Resolves many paths inside one root, reusing directory resolutions; see {@linkcode createRootResolver}. */
export interface RootResolver {
  /**
   * Resolves `path` inside the root (as {@linkcode resolveInRootSync}).
   *
   * @param path Path inside the root.
   * @param options Whether to follow a symlink in the last component.
   * @returns The resolved path relative to the root, clean, `""` for the root itself.
   */
  resolve(path: string, options?: ResolveInRootOptions): string;
  /** Forgets every cached resolution; call it after changing anything that could change one (a symlink, a directory replaced). */
  clear(): void;
}

/**
 * A synchronous resolver for one root that caches the resolution of every existing path it fully resolved and
 * starts later look-ups from the longest cached prefix. Adding new names never invalidates the cache; removing
 * or replacing a directory or symlink does: call `clear()` then.
 *
 * @param root Absolute host path of the root (trailing `/` ignored).
 * @returns The resolver.
 * @throws {SymlinkLoopError} from `resolve()` after {@linkcode MAX_LINKS} symlinks.
 *
 * @example Usage
 * ```ts
 * import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { createRootResolver } from "./root_path.ts";
 * const root = mkdtempSync(`${tmpdir()}/kiln-doc-`);
 * mkdirSync(`${root}/run`);
 * mkdirSync(`${root}/var`);
 * symlinkSync("/run", `${root}/var/run`);
 * const resolver = createRootResolver(root);
 * console.assert(resolver.resolve("var/run/x.pid") === "run/x.pid");
 * console.assert(resolver.resolve("var/run", { followLast: false }) === "var/run");
 * rmSync(root, { recursive: true });
 * ```
 */
export function createRootResolver(root: string): RootResolver {
  const r = trimRoot(root);
  const cache = new Map<string, string>();
  return {
    resolve(path, options = {}) {
      const followLast = options.followLast ?? true;
      const comps = splitPath(path);
      let start = { resolved: [] as string[], skip: 0 };
      for (let i = comps.length - (followLast ? 0 : 1); i > 0 && cache.size > 0; i--) {
        const hit = cache.get(comps.slice(0, i).join("/"));
        if (hit !== undefined) {
          start = { resolved: hit === "" ? [] : hit.split("/"), skip: i };
          break;
        }
      }
      const w = runSync(r, walk(path, followLast, start));
      const out = w.comps.join("/");
      // Only paths fully followed through existing components are cached: creating a name cannot change them.
      if (followLast && !w.sawMissing) cache.set(comps.join("/"), out);
      return out;
    },
    clear() {
      cache.clear();
    },
  };
}
