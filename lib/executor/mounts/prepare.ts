/**
 * Turns parsed `RUN --mount`s into the sandbox's {@linkcode MountSpec}s for one step: persistent cache
 * directories (with shared/private/locked sharing), read-only or throw-away writable binds from the context, a
 * stage or an image, tmpfs, secrets as files or env vars (kept in a private scratch dir, never in the rootfs).
 *
 * @module
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { createHash, randomUUID } from "node:crypto";
import { copyInto, resolveInRoot } from "../../copy/mod.ts";
import type { MountSpec } from "../../sandbox/mod.ts";
import { AbortedError, isProcessAlive, KilnError } from "../../util/mod.ts";
import type { SecretStore } from "../secrets.ts";
import type { StepFile } from "./heredoc_run.ts";
import type { RunMount } from "./resolve.ts";

/** Where mount sources come from. */
export interface MountContext {
  /** Host directory of the build context (default source of bind mounts). */
  contextDir: string;
  /**
   * `.dockerignore` of the context (paths relative to `contextDir`), applied to every bind from it: ignored files
   * are not visible in the step, as in BuildKit, which mounts the filtered context. `canSkipDir` (optional) lets
   * the walk skip an ignored directory whole.
   */
  contextIgnore?: { matches(path: string): boolean; canSkipDir?(path: string): boolean };
  /** Resolves `from=` (stage name or index, named context, image) to the host root of its filesystem. */
  resolveFrom?: (from: string) => Promise<string>;
  /** kiln's persistent directory for cache mounts (kept across builds). */
  cacheDir: string;
  /** A kiln-owned scratch directory of this build; a private subdirectory is made per step and removed after. */
  scratchDir: string;
  /** Secrets given with `--secret`. */
  secrets?: SecretStore;
  /** `Dockerfile:LINE` for messages. */
  location?: string;
  /** Cancels waiting for a locked cache. */
  signal?: AbortSignal;
}

/** What {@linkcode prepareMounts} returns. */
export interface PreparedMounts {
  /** Mounts for the sandbox's `run({mounts})`. */
  mounts: MountSpec[];
  /** Extra environment (secrets with `env=`), as `K=V`; never log these. */
  env: string[];
  /**
   * Image paths the snapshot must ignore (the mount targets). In sandbox mode mounts vanish with the step and
   * the sandbox removes mount points it created, so this is only needed in in-place mode.
   */
  snapshotIgnore: string[];
  /** Releases cache locks and removes the step's scratch files (secrets, writable bind copies). Always call it. */
  release(): Promise<void>;
}

/** Takes `lockPath` exclusively; with `wait: false` returns false when it is held by a live process. */
async function lock(lockPath: string, wait: boolean, signal?: AbortSignal): Promise<boolean> {
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, "wx", 0o600);
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder = NaN;
    try {
      holder = parseInt(fs.readFileSync(lockPath, "utf8"), 10);
    } catch {
      continue;
    }
    if (Number.isFinite(holder) && !isProcessAlive(holder)) {
      fs.rmSync(lockPath, { force: true });
      continue;
    }
    if (!wait) return false;
    if (signal?.aborted) throw new AbortedError();
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Prepares the mounts of one RUN step. Errors (`Dockerfile:LINE: …`) for a missing bind source, a required
 * secret that was not given, and `type=ssh` (not supported: kiln does not forward SSH agents).
 *
 * @param mounts Parsed mounts, in order.
 * @param ctx Sources, cache and scratch directories, secrets.
 * @param options `files`: step files to mount read-only (RUN heredoc scripts, see heredocRunCommand).
 * @returns Sandbox mounts, env additions, and a release function.
 *
 * @example Usage
 * ```ts ignore
 * import { parseMount } from "../../dockerfile/mod.ts";
 * import { prepareMounts, resolveMount } from "./mod.ts";
 * const p = await prepareMounts([resolveMount(parseMount("type=cache,target=/root/.cache"), "/", "Dockerfile:2")], {
 *   contextDir: "/ctx", cacheDir: "/var/cache/kiln/mounts", scratchDir: "/work/build1" });
 * try { await sandbox.run({ ...step, mounts: p.mounts, env: [...step.env, ...p.env] }); } finally { await p.release(); }
 * ```
 */
export async function prepareMounts(
  mounts: readonly RunMount[],
  ctx: MountContext,
  options: { files?: readonly StepFile[] } = {},
): Promise<PreparedMounts> {
  const prefix = ctx.location ? `${ctx.location}: ` : "";
  await fsp.mkdir(ctx.scratchDir, { recursive: true });
  const scratch = await fsp.mkdtemp(`${ctx.scratchDir}/.kiln-step-`);
  await fsp.chmod(scratch, 0o700);
  let n = 0;
  const step: StepMounts = {
    ctx,
    scratch,
    out: [],
    env: [],
    locks: [],
    next: () => n++,
    fail: (m: string): never => {
      throw new KilnError(`${prefix}RUN --mount: ${m}`);
    },
  };
  const targets = new Set<string>();
  const release = async (): Promise<void> => {
    for (const l of step.locks) await fsp.rm(l, { force: true });
    step.locks.length = 0;
    await fsp.rm(scratch, { recursive: true, force: true });
  };
  try {
    for (const m of mounts) {
      if (ctx.signal?.aborted) throw new AbortedError();
      if ("target" in m && m.target !== undefined) {
        if (targets.has(m.target)) step.fail(`two mounts at ${m.target}`);
        targets.add(m.target);
      }
      await (MOUNT_TYPES[m.type] as (m: RunMount, step: StepMounts) => Promise<void>)(m, step);
    }
    for (const f of options.files ?? []) {
      const file = `${scratch}/file-${step.next()}`;
      await fsp.writeFile(file, f.content);
      await fsp.chmod(file, f.mode);
      step.out.push({ type: "bind", source: file, target: f.path, readonly: true });
      targets.add(f.path);
    }
  } catch (e) {
    await release();
    throw e;
  }
  return { mounts: step.out, env: step.env, snapshotIgnore: [...targets], release };
}

/** What one step's mounts are being made into: the sandbox mounts, env additions, cache locks, scratch files. */
interface StepMounts {
  readonly ctx: MountContext;
  /** The step's private scratch directory (removed by `release`). */
  readonly scratch: string;
  readonly out: MountSpec[];
  readonly env: string[];
  readonly locks: string[];
  /** A fresh number for a scratch file name. */
  next(): number;
  fail(message: string): never;
}

/** One preparer per mount type: adding a mount type is one entry here (and its parsing in lib/dockerfile). */
const MOUNT_TYPES: {
  readonly [T in RunMount["type"]]: (m: Extract<RunMount, { type: T }>, step: StepMounts) => Promise<void>;
} = {
  ssh: (_m, step) =>
    Promise.resolve(step.fail("type=ssh is not supported by kiln (SSH agent forwarding is not implemented)")),
  tmpfs: (m, step) => {
    step.out.push({ type: "tmpfs", target: m.target });
    return Promise.resolve();
  },
  bind: bindMount,
  cache: cacheMount,
  secret: secretMount,
};

/** A bind of the context (filtered by .dockerignore), a stage or an image; `rw` binds a private throw-away copy. */
async function bindMount(m: Extract<RunMount, { type: "bind" }>, step: StepMounts): Promise<void> {
  const { ctx, fail } = step;
  const root = (m.from ? await resolveFromOrFail(ctx, m.from, fail) : ctx.contextDir).replace(/\/+$/, "");
  const src = resolveInRoot(root, m.source);
  // The context is mounted as BuildKit does: filtered by .dockerignore (an ignored source is not there).
  const ignore = m.from ? undefined : ctx.contextIgnore;
  const rel = src === root ? "" : src.slice(root.length + 1);
  const st = ignore && rel !== "" && ignore.matches(rel) ? undefined : await fsp.stat(src).catch(() => undefined);
  if (!st) fail(`bind source ${JSON.stringify(m.source)} not found in ${m.from ?? "the build context"}`);
  if (!m.readwrite) {
    let source = src;
    if (ignore && st!.isDirectory()) {
      source = await filteredView(src, rel, ignore, `${step.scratch}/bind-${step.next()}`, ctx);
    }
    step.out.push({ type: "bind", source, target: m.target, readonly: true });
    return;
  }
  // Writable bind: a private copy, discarded after the step.
  const copyRoot = `${step.scratch}/bind-${step.next()}`;
  await fsp.mkdir(copyRoot);
  await copyInto({
    srcRoot: root,
    sources: [m.source],
    dest: st!.isDirectory() ? "/data/" : "/data",
    destRoot: copyRoot,
    keepOwnership: true,
    ...(m.from || !ctx.contextIgnore ? {} : { ignore: ctx.contextIgnore }),
    instruction: "RUN --mount",
    ...(ctx.location ? { location: ctx.location } : {}),
  });
  step.out.push({ type: "bind", source: `${copyRoot}/data`, target: m.target, readonly: false });
}

/** A persistent cache directory under the cache dir, with BuildKit's shared/private/locked sharing. */
async function cacheMount(m: Extract<RunMount, { type: "cache" }>, step: StepMounts): Promise<void> {
  const { ctx, fail } = step;
  const key = createHash("sha256").update(m.id).digest("hex").slice(0, 32);
  const dir = `${ctx.cacheDir}/${key}`;
  await fsp.mkdir(ctx.cacheDir, { recursive: true });
  const data = `${dir}/data`;
  const lockPath = `${dir}.lock`;
  let path = data;
  if (m.sharing === "locked") {
    await lock(lockPath, true, ctx.signal);
    step.locks.push(lockPath);
  } else if (m.sharing === "private") {
    if (await lock(lockPath, false)) step.locks.push(lockPath);
    else {
      path = `${step.scratch}/cache-${step.next()}`;
      await createCacheDir(path, m, ctx, fail);
    }
  }
  if (path === data && !fs.existsSync(data)) {
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(`${dir}/id`, m.id + "\n");
    // Unique per call: parallel stages may create the same cache id at the same moment.
    const tmp = `${dir}/data.tmp-${randomUUID()}`;
    await createCacheDir(tmp, m, ctx, fail);
    try {
      await fsp.rename(tmp, data);
    } catch {
      await fsp.rm(tmp, { recursive: true, force: true }); // another step created it first
    }
  }
  step.out.push({ type: "bind", source: path, target: m.target, readonly: m.readonly });
}

/** A secret as a private file (never in the rootfs) and/or an environment variable. */
async function secretMount(m: Extract<RunMount, { type: "secret" }>, step: StepMounts): Promise<void> {
  const { ctx } = step;
  const value = ctx.secrets ? await ctx.secrets.get(m.id, ctx.signal ? { signal: ctx.signal } : {}) : undefined;
  if (value === undefined) {
    if (m.required) {
      step.fail(`secret ${JSON.stringify(m.id)} is required but was not given (use --secret id=${m.id},src=FILE)`);
    }
    return;
  }
  if (m.env) step.env.push(`${m.env}=${new TextDecoder().decode(value)}`);
  if (m.target) {
    const file = `${step.scratch}/secret-${step.next()}`;
    await fsp.writeFile(file, value, { mode: 0o600 });
    await fsp.chown(file, m.uid, m.gid);
    await fsp.chmod(file, m.mode);
    step.out.push({ type: "bind", source: file, target: m.target, readonly: true });
  }
}

/** One entry of a context subtree: its path below the subtree, and its lstat. */
interface ViewEntry {
  sub: string;
  st: fs.Stats;
}

/**
 * Lists the subtree `src` of the context (context-relative `rel`) without what `ignore` leaves out: a directory
 * that is ignored stays when something below it is re-included (`!` exceptions), like COPY's walk. Returns whether
 * anything was left out and the kept entries, parents before children.
 */
async function walkKept(
  src: string,
  rel: string,
  ignore: NonNullable<MountContext["contextIgnore"]>,
  signal?: AbortSignal,
): Promise<{ excluded: boolean; entries: ViewEntry[] }> {
  let excluded = false;
  const entries: ViewEntry[] = [];
  const walk = async (sub: string): Promise<boolean> => {
    if (signal?.aborted) throw new AbortedError();
    let kept = false;
    for (const name of (await fsp.readdir(sub ? `${src}/${sub}` : src)).sort()) {
      const childSub = sub ? `${sub}/${name}` : name;
      const childRel = rel ? `${rel}/${childSub}` : childSub;
      const st = await fsp.lstat(`${src}/${childSub}`);
      const ignored = ignore.matches(childRel);
      if (!st.isDirectory()) {
        if (ignored) excluded = true;
        else {
          entries.push({ sub: childSub, st });
          kept = true;
        }
        continue;
      }
      if (ignored && ignore.canSkipDir?.(childRel)) {
        excluded = true;
        continue;
      }
      const at = entries.length;
      entries.push({ sub: childSub, st });
      const below = await walk(childSub);
      if (ignored && !below) {
        entries.splice(at, 1); // an ignored directory with nothing re-included below it
        excluded = true;
      } else kept = true;
    }
    return kept;
  };
  await walk("");
  return { excluded, entries };
}

/**
 * The directory to bind for the context subtree `src`: `src` itself when `.dockerignore` leaves nothing in it
 * out; else a view at `dest` (in the step's scratch dir, removed by release) holding only the kept files, as
 * hardlinks (no data copied; the bind is read-only, so the step cannot change them) under directories with the
 * source's owners, modes and times. Where hardlinks are not possible (another filesystem), the kept files are
 * copied instead.
 */
async function filteredView(
  src: string,
  rel: string,
  ignore: NonNullable<MountContext["contextIgnore"]>,
  dest: string,
  ctx: MountContext,
): Promise<string> {
  const { excluded, entries } = await walkKept(src, rel, ignore, ctx.signal);
  if (!excluded) return src;
  const top = await fsp.stat(src);
  try {
    await fsp.mkdir(dest, { mode: 0o700 });
    const dirs: ViewEntry[] = [{ sub: "", st: top }];
    for (const e of entries) {
      const to = `${dest}/${e.sub}`;
      if (e.st.isDirectory()) {
        await fsp.mkdir(to, { mode: 0o700 });
        dirs.push(e);
      } else await fsp.link(`${src}/${e.sub}`, to);
    }
    // Directory metadata last (children first, so writing into them does not change their times again).
    for (const d of dirs.reverse()) {
      const to = d.sub ? `${dest}/${d.sub}` : dest;
      await fsp.chown(to, d.st.uid, d.st.gid);
      await fsp.chmod(to, d.st.mode & 0o7777);
      await fsp.utimes(to, d.st.atime, d.st.mtime);
    }
    return dest;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK") throw e;
    await fsp.rm(dest, { recursive: true, force: true });
  }
  // No hardlinks here: copy the kept files (COPY's engine, with the same filter).
  await fsp.mkdir(dest, { mode: 0o700 });
  await copyInto({
    srcRoot: ctx.contextDir,
    sources: [rel || "/"],
    dest: "/data/",
    destRoot: dest,
    keepOwnership: true,
    ignore,
    instruction: "RUN --mount",
    ...(ctx.location ? { location: ctx.location } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  return `${dest}/data`;
}

async function resolveFromOrFail(ctx: MountContext, from: string, fail: (m: string) => never): Promise<string> {
  if (!ctx.resolveFrom) fail(`from=${from} cannot be resolved here`);
  try {
    return await ctx.resolveFrom!(from);
  } catch (e) {
    if (e instanceof KilnError) throw e;
    fail(`from=${from}: ${(e as Error).message}`);
    throw e;
  }
}

async function createCacheDir(
  path: string,
  m: Extract<RunMount, { type: "cache" }>,
  ctx: MountContext,
  fail: (m: string) => never,
): Promise<void> {
  await fsp.mkdir(path);
  if (m.from) {
    const root = await resolveFromOrFail(ctx, m.from, fail);
    await copyInto({
      srcRoot: root,
      sources: [m.source ?? "/"],
      dest: "/",
      destRoot: path,
      keepOwnership: true,
      instruction: "RUN --mount",
      ...(ctx.location ? { location: ctx.location } : {}),
    });
  }
  await fsp.chown(path, m.uid, m.gid);
  await fsp.chmod(path, m.mode);
}
