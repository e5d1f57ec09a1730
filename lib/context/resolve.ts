/**
 * `resolveContext()`: from a `--context` value (and `--context-sub-path`) to a directory holding the context.
 *
 * @module
 */
import { mkdir, mkdtemp, realpath, rm } from "node:fs/promises";
import { join, normalize, relative, resolve, sep } from "node:path";
import { AbortedError, isKilnError, type Logger } from "../util/mod.ts";
import { checkDir } from "./dir.ts";
import { ContextError, describeError } from "./errors.ts";
import { createContextSource } from "./source.ts";
import type { ContextKind, ContextProgress, ContextSourceOptions } from "./types.ts";

/** Options for {@linkcode resolveContext}. */
export interface ResolveContextOptions extends ContextSourceOptions {
  /** Directory under which remote contexts are unpacked (a fresh `context-XXXXXX` directory each time). */
  workDir: string;
  /** kaniko's `--context-sub-path`: the directory inside the context to use as its root. */
  subPath?: string;
  /** Progress (every ~5 s and at the end, at info level) and diagnostics. */
  logger?: Logger;
  /** Cancels the download. */
  signal?: AbortSignal;
  /** Called as bytes arrive. */
  onProgress?: (progress: ContextProgress) => void;
  /** Returns the current time in ms (for progress throttling in tests; default `Date.now`). */
  now?: () => number;
}

/** A context ready to build from. */
export interface ResolvedContext {
  /** The context root directory. */
  dir: string;
  /** The kind of source it came from. */
  kind: ContextKind;
  /** The source, credentials redacted. */
  source: string;
  /** True when `dir` was created by kiln (remote sources) rather than being the user's directory. */
  fetched: boolean;
  /** Digests of what was fetched, when the source can tell (`{ sha1: "<commit>" }` for git). */
  digest?: Record<string, string>;
  /** Removes whatever was downloaded (a no-op for local directories). */
  cleanup(): Promise<void>;
}

/**
 * Resolves `sub` inside `root`, refusing `..` escapes (also through symlinks).
 *
 * @param root Context root.
 * @param sub Relative subdirectory.
 * @param source For messages.
 * @returns The absolute subdirectory.
 */
async function subDirectory(root: string, sub: string, source: string): Promise<string> {
  const clean = normalize(sub.replace(/^\/+/, ""));
  if (clean === "." || clean === "") return root;
  const dir = join(root, clean);
  if (clean === ".." || clean.startsWith(".." + sep)) {
    throw new ContextError(source, `context sub-path "${sub}" is outside the context`, { exitCode: 2 });
  }
  await checkDir(dir, source).catch(() => {
    throw new ContextError(source, `context sub-path "${sub}" is not a directory in the context`);
  });
  const [realRoot, realDir] = await Promise.all([realpath(root), realpath(dir)]);
  const rel = relative(realRoot, realDir);
  if (rel === ".." || rel.startsWith(".." + sep) || resolve(realRoot, rel) !== realDir) {
    throw new ContextError(source, `context sub-path "${sub}" leads outside the context`);
  }
  return dir;
}

/**
 * Resolves a `--context` value to a directory. A local directory (plain path or `dir://`) is returned in
 * place, not copied; any other source is downloaded and unpacked into a new directory under `workDir`,
 * which `cleanup()` removes. On failure nothing is left in `workDir` and a {@linkcode ContextError} says
 * which source failed and why.
 *
 * @param spec The `--context` value.
 * @param options Work directory, sub-path, environment, `--git` options, stdin, logger, signal, progress.
 * @returns The context directory and its cleanup.
 *
 * @example Usage
 * ```ts ignore
 * import { resolveContext } from "./resolve.ts";
 * const ctx = await resolveContext("git://github.com/org/repo.git#refs/tags/v1", {
 *   workDir: "/tmp/kiln", env: { GIT_TOKEN: "..." }, subPath: "app",
 * });
 * try {
 *   console.log(ctx.dir);
 * } finally {
 *   await ctx.cleanup();
 * }
 * ```
 */
export async function resolveContext(spec: string, options: ResolveContextOptions): Promise<ResolvedContext> {
  const source = createContextSource(spec, options);
  const log = options.logger;
  if (source.localDir !== undefined) {
    const dir = options.cwd ? resolve(options.cwd, source.localDir) : source.localDir;
    await checkDir(dir, source.description);
    const root = options.subPath ? await subDirectory(dir, options.subPath, source.description) : dir;
    return { dir: root, kind: source.kind, source: source.description, fetched: false, cleanup: async () => {} };
  }
  await mkdir(options.workDir, { recursive: true });
  const tmp = await mkdtemp(join(options.workDir, "context-"));
  const cleanup = () => rm(tmp, { recursive: true, force: true });
  const now = options.now ?? Date.now;
  const started = now();
  let lastLog = started;
  let last: ContextProgress = { bytes: 0 };
  const onProgress = (p: ContextProgress) => {
    last = p;
    options.onProgress?.(p);
    const t = now();
    if (log && t - lastLog >= 5000) {
      lastLog = t;
      log.info("Downloading build context", progressFields(source.description, p, t - started));
    }
  };
  try {
    log?.info("Fetching build context", { source: source.description });
    const got = await source.fetch(tmp, {
      onProgress,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(log ? { logger: log } : {}),
    });
    let root = tmp;
    if (source.subDir) root = await subDirectory(root, source.subDir, source.description);
    if (options.subPath) root = await subDirectory(root, options.subPath, source.description);
    log?.info("Fetched build context", progressFields(source.description, last, now() - started));
    return {
      dir: root,
      kind: source.kind,
      source: source.description,
      fetched: true,
      ...(got?.digest ? { digest: got.digest } : {}),
      cleanup,
    };
  } catch (e) {
    await cleanup();
    if (options.signal?.aborted) {
      if (isKilnError(e)) throw e;
      throw new AbortedError(`Fetching build context ${source.description} was aborted`);
    }
    if (isKilnError(e)) throw e;
    throw new ContextError(source.description, describeError(e), { cause: e });
  }
}

function progressFields(source: string, p: ContextProgress, ms: number): Record<string, string | number> {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return {
    source,
    mb: mb(p.bytes),
    ...(p.total !== undefined ? { totalMb: mb(p.total) } : {}),
    seconds: Number((ms / 1000).toFixed(1)),
  };
}

/**
 * True if `path` exists.
 *
 * @deprecated Use `exists` from lib/util/exists.ts (the same function).
 */
export { exists } from "../util/mod.ts";
