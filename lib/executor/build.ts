/**
 * `build()`: a Dockerfile and a context in, an image out — pushed to registries and/or written as an OCI layout,
 * a `docker save` tarball and digest files. The CLI's `kiln build` is a thin layer over it.
 *
 * The pieces: {@linkcode preflight} (checks before any work), `loadInputs` (Dockerfile, .dockerignore, plan),
 * lib/executor/_stages.ts (each stage's base, rootfs, sandbox and `COPY --from` sources, run by the scheduler),
 * lib/executor/stage.ts (the step loop) and `finish` (the final image and the outputs).
 *
 * @module
 */
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import process from "node:process";
import { AbortedError, KilnError, type Logger, mapLimit, nullLogger, redact } from "../util/mod.ts";
import type { Platform } from "../image/mod.ts";
import { formatPlatform, hostPlatform } from "../image/mod.ts";
import { detectContainer } from "../sandbox/mod.ts";
import { loadDockerignore, resolveDockerfile } from "../context/mod.ts";
import type { PathMatcher } from "../copy/mod.ts";
import { checkPushPermission, createEarlyUploads, type EarlyUploads, parseReference } from "../registry/mod.ts";
import { planFromDockerfile } from "./plan.ts";
import type { ExecutionPlan } from "./steps.ts";
import type { BuildOptions, BuildProgressEvent, BuildResult, BuildRunOptions } from "./types.ts";
import { checkPlanCanRun, type Material, runStages } from "./_stages.ts";
import { type BuildSource, finish } from "./_finish.ts";
import { platformIndependentStages, platformSlug, targetPlatforms } from "./_platforms.ts";
import { prefixLogger } from "./scheduler.ts";
import type { BuildCache } from "./_cache.ts";
import { inferCacheRepo, openLayerCache } from "../cache/mod.ts";
import { startMemoryLog } from "./_memory.ts";
import { createBuildSummary } from "./_summary.ts";
import { startBuildTrace } from "./_telemetry.ts";
import { VERSION } from "../version.ts";

/** What `loadInputs` found: the Dockerfile and the context's ignore matcher. */
interface Inputs {
  text: string;
  file: string;
  ignore?: PathMatcher;
  /** What provenance records of them. */
  info: BuildSource;
}

/**
 * Builds an image from a Dockerfile.
 *
 * @param options What to build and where to put it (the flags of `kiln build`).
 * @param run Signal, logger, progress callback, walker.
 * @returns The image digest, manifest and outputs.
 *
 * @example Build examples/hello into an OCI layout
 * ```ts ignore
 * import { build } from "./build.ts";
 * const result = await build({
 *   context: "examples/hello",
 *   outputs: { ociLayoutPath: "out/hello", noPush: true },
 * }, { onProgress: (e) => e.type === "step-done" && console.log(e.instruction, e.durationMs) });
 * console.log(result.digest);
 * ```
 */
export async function build(options: BuildOptions, run: BuildRunOptions = {}): Promise<BuildResult> {
  const log: Logger = run.logger ?? nullLogger;
  const signal = run.signal;
  const steps: BuildResult["steps"] = [];
  const memory = run.debugMemory ? startMemoryLog(log) : undefined;
  const summary = createBuildSummary();
  const trace = run.telemetry
    ? startBuildTrace({
      ...run.telemetry,
      attributes: {
        "kiln.version": VERSION,
        ...(options.target ? { "kiln.target": options.target } : {}),
        "kiln.destinations": options.outputs?.destinations?.length ?? 0,
        "kiln.cache": options.cache !== undefined,
        ...(run.telemetry.attributes ?? {}),
      },
    }, log)
    : undefined;
  const t0 = performance.now();
  const progress = progressHook(run, log, steps, (e) => {
    memory?.event(e);
    summary.event(e);
    trace?.event(e);
  });
  const cwd = options.cwd ?? process.cwd();
  await preflight(options, log, signal);
  const workRoot = options.workDir ?? tmpdir();
  await mkdir(workRoot, { recursive: true });
  const work = await mkdtemp(join(workRoot, "kiln-build-"));
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const platforms = targetPlatforms(options, hostPlatform());
    const multi = platforms.length > 1;
    const source = await loadInputs(options, {
      cwd,
      work,
      workRoot,
      log,
      cleanups,
      ...(signal ? { signal } : {}),
    });
    // One plan per target platform (each has its own TARGET* args); the plan's warnings are the same for all.
    const plans = platforms.map((p, i) => planFor(source, options, p, i === 0 ? log : nullLogger));
    // A RUN this machine cannot execute fails now, before any base is pulled or another platform builds.
    plans.forEach((plan, i) => checkPlanCanRun(plan, platforms[i]!, log));
    const cache = openCache(options, log);
    const early = earlyUploads(options, log, progress, cache, signal);
    if (early) cleanups.push(() => early.close());
    const shared = multi ? { ids: platformIndependentStages(plans), results: new Map() } : undefined;
    if (shared?.ids.size) {
      const names = plans[0]!.stages.filter((s) => shared.ids.has(s.index)).map((s) => s.name ?? String(s.index));
      log.info(`Building ${platforms.map(formatPlatform).join(", ")}; built once for all: stage ${names.join(", ")}`);
    } else if (multi) log.info(`Building ${platforms.map(formatPlatform).join(", ")}`);
    // Images used, for provenance: each platform's own, and a shared stage's (they count for every platform).
    const sharedMaterials: Material[] = [];
    const built = await forEachPlatform(platforms, options, signal, async (platform, i, pSignal, jobs) => {
      const plan = plans[i]!;
      const name = formatPlatform(platform);
      const mine: Material[] = []; // images this platform's own stages used (a FROM --platform one's too)
      const pwork = multi ? join(work, platformSlug(platform)) : work;
      if (multi) await mkdir(pwork, { recursive: true });
      // In place the platforms take turns on `/`: each after the first starts by emptying it (as a stage does).
      const inPlace = options.sandbox?.mode === "in-place";
      const own: BuildOptions = !multi
        ? options
        : inPlace && i > 0
        ? { ...options, jobs, sandbox: { ...options.sandbox, preCleanup: true } }
        : { ...options, jobs };
      const results = await runStages(plan, {
        options: own,
        run: multi ? { ...run, signal: pSignal } : run,
        cwd,
        work: pwork,
        ...(multi ? { buildWork: work } : {}),
        workRoot,
        platform,
        log: multi ? prefixLogger(log, `[${name}]`) : log,
        progress: multi ? withPlatform(progress, name) : progress,
        cleanups,
        ...(source.ignore ? { ignore: source.ignore } : {}),
        ...(cache ? { cache } : {}),
        ...(early ? { early } : {}),
        ...(shared ? { shared } : {}),
        onMaterial: (m, all) => (all ? sharedMaterials : mine).push(m),
      });
      return { platform, plan, final: results.get(plan.stages[plan.target]!.index)!, mine };
    });
    // Provenance lists each image once (lib/executor/_provenance.ts).
    const platformBuilds = built.map(({ mine, ...b }) => ({ ...b, materials: [...sharedMaterials, ...mine] }));
    const result = await finish(platformBuilds, options, {
      cwd,
      work,
      log,
      progress,
      steps,
      source: source.info,
      startedOn: new Date(Date.now() - (performance.now() - t0)),
      ...(cache?.store.repository ? { mountFrom: [cache.store.repository] } : {}),
      ...(early ? { early } : {}),
      ...(signal ? { signal } : {}),
    });
    for (const line of summary.lines(performance.now() - t0)) log.info(line);
    await trace?.finish();
    return result;
  } catch (e) {
    await trace?.finish(e);
    if (signal?.aborted && !(e instanceof KilnError)) throw new AbortedError("Build aborted");
    throw e;
  } finally {
    memory?.stop();
    for (const c of cleanups) await c().catch(() => {});
    await rm(work, { recursive: true, force: true }).catch((e) => log.warn(`Cannot remove ${work}: ${e.message}`));
  }
}

/**
 * The layer cache of `--cache` (lib/cache): `--cache-repo`, else kaniko's `<first destination's repository>/cache`;
 * none with `--no-push` and no destination.
 */
function openCache(options: BuildOptions, log: Logger): BuildCache | undefined {
  const c = options.cache;
  if (!c) return undefined;
  const repo = c.repo ?? inferCacheRepo(options.outputs?.destinations ?? []);
  if (repo === undefined) {
    log.info(
      "--cache: no --cache-repo and no --destination, so no layer cache",
    );
    return undefined;
  }
  const store = openLayerCache(repo, {
    registry: options.registry ?? {},
    ...(c.ttlMs === undefined ? {} : { ttlMs: c.ttlMs }),
    logger: log,
  });
  log.info(`Using the layer cache ${store.name}`);
  return { store, runLayers: c.runLayers ?? true, copyLayers: c.copyLayers ?? false, push: c.push ?? true };
}

/**
 * Early uploads (`--push-early`, on by default) to the destinations, when the build pushes: each layer of the
 * pushed image goes up while later steps run.
 */
function earlyUploads(
  options: BuildOptions,
  log: Logger,
  progress: (e: BuildProgressEvent) => void,
  cache: BuildCache | undefined,
  signal: AbortSignal | undefined,
): EarlyUploads | undefined {
  const out = options.outputs ?? {};
  if (out.noPush || out.pushEarly === false || !out.destinations?.length) return undefined;
  return createEarlyUploads(out.destinations, {
    ...(options.registry ?? {}),
    onBlob: (b) => progress({ type: "blob", ...b }),
    onUpload: (u) => progress({ type: "upload", ...u }),
    ...(cache?.store.repository ? { mountFrom: [parseReference(cache.store.repository)] } : {}),
    logger: log,
    ...(signal ? { signal } : {}),
  });
}

/** Forwards progress events (a failing callback is a warning) and collects the step timings of the result. */
function progressHook(
  run: BuildRunOptions,
  log: Logger,
  steps: BuildResult["steps"],
  tap: (e: BuildProgressEvent) => void,
): (e: BuildProgressEvent) => void {
  return (e) => {
    tap(e);
    if (e.type === "step-done") {
      steps.push({
        instruction: e.instruction,
        durationMs: e.durationMs,
        ...(e.layerSize === undefined ? {} : { layerSize: e.layerSize }),
      });
    }
    try {
      run.onProgress?.(e);
    } catch (err) {
      log.warn(`progress callback failed: ${(err as Error).message}`);
    }
  };
}

/**
 * The checks made before any work: a destination (or `--no-push`), in-place mode only in a container, and kaniko's
 * up-front push probe (fail before a long build when a destination cannot be pushed to).
 *
 * @param options The build's options.
 * @param log Logger.
 * @param signal Abort signal.
 */
export async function preflight(options: BuildOptions, log: Logger, signal?: AbortSignal): Promise<void> {
  const out = options.outputs ?? {};
  const destinations = out.destinations ?? [];
  if (!out.noPush && destinations.length === 0) {
    throw new KilnError("No --destination given: give one or more, or use --no-push", { exitCode: 2 });
  }
  const mode = options.sandbox?.mode ?? "sandbox";
  const platforms = targetPlatforms(options, hostPlatform());
  if (platforms.length > 1 && out.tarPath) {
    throw new KilnError(
      `--tar-path writes one image (docker save format), and this build makes an image index for ${
        platforms.map(formatPlatform).join(", ")
      }: use --oci-layout-path, or one --platform per build`,
      { exitCode: 2 },
    );
  }
  if (options.attestations?.length && out.format === "docker") {
    throw new KilnError(
      "--attest stores attestations as OCI manifests in an OCI image index: use --image-format=oci (the default)",
      { exitCode: 2 },
    );
  }
  const uid = process.getuid?.();
  if (mode === "in-place" && uid !== undefined && uid !== 0) {
    // Extracting a base onto `/` needs root (kaniko too): say so now, not halfway through the first layer.
    throw new KilnError(
      `Building in place needs root, and kiln runs as uid ${uid} (e.g. securityContext.runAsUser): run the ` +
        "executor as uid 0 (runAsUser: 0), or build with --sandbox where user namespaces are allowed",
      { exitCode: 2 },
    );
  }
  if (mode === "in-place" && !options.sandbox?.force && !detectContainer().inContainer) {
    // Checked before anything is extracted onto "/".
    throw new KilnError(
      "Refusing to build in place outside a container: it would overwrite this machine's / (use the sandbox mode, or --force if you really mean it)",
      { exitCode: 2 },
    );
  }
  if (out.noPush || out.skipPushPermissionCheck) return;
  try {
    await checkPushPermission(destinations, {
      ...(options.registry ?? {}),
      logger: log,
      ...(signal ? { signal } : {}),
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new KilnError(`Cannot push to ${destinations.join(", ")}: ${msg}`, { cause: e });
  }
}

/** `path` relative to `cwd` when it lies below it. */
function shownPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** The build context must be a directory: say so about the context, before any Dockerfile lookup. */
async function checkContextDir(given: string, dir: string): Promise<void> {
  let st;
  try {
    st = await stat(dir);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === "ENOENT" ? "no such directory" : code ?? String(e);
    throw new KilnError(`Cannot use the build context ${given}: ${why}`, { exitCode: 2 });
  }
  if (!st.isDirectory()) {
    throw new KilnError(`Cannot use the build context ${given}: not a directory`, { exitCode: 2 });
  }
}

/** The Dockerfile (given, or found in the context or cwd) and the .dockerignore. */
async function loadInputs(
  options: BuildOptions,
  env: {
    cwd: string;
    work: string;
    workRoot: string;
    log: Logger;
    cleanups: (() => Promise<void>)[];
    signal?: AbortSignal;
  },
): Promise<Inputs> {
  const contextDir = resolve(env.cwd, options.context);
  await checkContextDir(options.context, contextDir);
  const file = options.dockerfile ?? "Dockerfile";
  let text: string;
  let dockerfilePath: string | undefined;
  if (options.dockerfileText !== undefined) {
    text = options.dockerfileText;
  } else {
    const df = await resolveDockerfile(file, contextDir, {
      workDir: env.work,
      cwd: env.cwd,
      ...(env.signal ? { signal: env.signal } : {}),
    });
    env.cleanups.push(df.cleanup);
    text = await readFile(df.path, "utf8");
    dockerfilePath = df.path;
    // Which file was taken (the context's, else the working directory's, as kaniko looks); a downloaded one by URL.
    env.log.info(`Using Dockerfile ${/^https?:\/\//i.test(file) ? redact(file) : shownPath(df.path, env.cwd)}`);
  }
  // A work dir inside the context (`--work-dir ./.work`) is left out of it: COPY . must not copy the build into itself.
  const { matcher } = await loadDockerignore(contextDir, {
    ...(dockerfilePath ? { dockerfilePath } : {}),
    workDir: env.workRoot,
  });
  const ignore: PathMatcher | undefined = matcher.patterns.length > 0
    ? { matches: (p: string) => matcher.ignores(p), canSkipDir: (p: string) => matcher.canSkipDir(p) }
    : undefined;
  return {
    text,
    file,
    ...(ignore ? { ignore } : {}),
    info: { dockerfile: /^https?:\/\//i.test(file) ? redact(file) : file },
  };
}

/** The plan of `source` for one target platform (its warnings logged to `log`). */
function planFor(source: Inputs, options: BuildOptions, platform: Platform, log: Logger): ExecutionPlan {
  const plan = planFromDockerfile(source.text, {
    file: source.file,
    buildArgs: new Map(Object.entries(options.buildArgs ?? {})),
    ...(options.target ? { target: options.target } : {}),
    ...(options.alsoTargets?.length ? { alsoTargets: options.alsoTargets } : {}),
    // BuildKit and the kaniko fork build only what the targets need; `--skip-unused-stages=false` builds them all.
    skipUnusedStages: options.skipUnusedStages ?? true,
    ...(options.maxExpansion === undefined ? {} : { maxExpansion: options.maxExpansion }),
    ...(options.allow ? { allow: options.allow } : {}),
    platform,
    buildPlatform: hostPlatform(),
  });
  for (const w of plan.warnings ?? []) log.warn(w);
  warnUnprivileged(plan, log);
  return plan;
}

/**
 * Runs `fn` for every target platform: all at once when `jobs` allows (each with its share of the jobs), else a few
 * at a time; the first failure aborts the others, which are awaited before it is thrown.
 */
async function forEachPlatform<T>(
  platforms: readonly Platform[],
  options: BuildOptions,
  signal: AbortSignal | undefined,
  fn: (platform: Platform, i: number, signal: AbortSignal, jobs: number) => Promise<T>,
): Promise<T[]> {
  const jobs = Math.max(1, Math.floor(options.jobs ?? availableParallelism()) || 1);
  // In place there is one `/`: the platforms are built one after the other.
  const atOnce = options.sandbox?.mode === "in-place" ? 1 : Math.min(jobs, platforms.length);
  const each = Math.max(1, Math.floor(jobs / atOnce));
  const ac = new AbortController();
  const all = signal ? AbortSignal.any([signal, ac.signal]) : ac.signal;
  let first: { e: unknown } | undefined;
  try {
    return await mapLimit([...platforms], atOnce, async (p, i) => {
      try {
        return await fn(p, i, all, each);
      } catch (e) {
        if (!first && platforms.length > 1 && e instanceof Error && !(e instanceof AbortedError)) {
          // The error keeps its class and fields; its message says which platform's build failed.
          e.message = `[${formatPlatform(p)}] ${e.message}`;
        }
        first ??= { e };
        ac.abort(e);
        throw e;
      }
    }, { settle: true });
  } catch (e) {
    throw first ? first.e : e;
  }
}

/** Progress events of one platform's stages, tagged with it. */
function withPlatform(progress: (e: BuildProgressEvent) => void, platform: string): (e: BuildProgressEvent) => void {
  const tagged = new Set(["stage", "step-start", "step-done", "phase", "pull", "base", "layer"]);
  return (e) => progress(tagged.has(e.type) ? { ...e, platform } as BuildProgressEvent : e);
}

/** Only root can set file owners: extraction, COPY/ADD and WORKDIR leave the builder's own (lib/copy setOwner). */
function warnUnprivileged(plan: ExecutionPlan, log: Logger): void {
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0) return;
  const fileKinds = new Set(["run", "copy", "add", "workdir"]);
  const writesFiles = plan.stages.some((s) =>
    s.base !== "scratch" || s.instructions.some((i) => fileKinds.has(i.kind))
  );
  if (!writesFiles) return;
  log.warn(
    `kiln is not running as root (uid ${uid}): files in the image keep uid ${uid} as their owner (owners from the base image, archives and --chown need root)`,
  );
}
