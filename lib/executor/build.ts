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
import { tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import process from "node:process";
import type { Digest } from "../util/mod.ts";
import { AbortedError, KilnError, type Logger, nullLogger, redact, sha256 } from "../util/mod.ts";
import type { ImageConfig, Platform } from "../image/mod.ts";
import { formatPlatform, hostPlatform, MediaTypes, withAnnotations, withConfig, withFormat } from "../image/mod.ts";
import { detectContainer } from "../sandbox/mod.ts";
import { loadDockerignore, resolveDockerfile } from "../context/mod.ts";
import type { PathMatcher } from "../copy/mod.ts";
import { writeOutputs } from "../output/mod.ts";
import { checkPushPermission, createEarlyUploads, type EarlyUploads, parseReference } from "../registry/mod.ts";
import { planFromDockerfile } from "./plan.ts";
import type { ExecutionPlan } from "./steps.ts";
import type { BuildOptions, BuildProgressEvent, BuildResult, BuildRunOptions } from "./types.ts";
import { runStages } from "./_stages.ts";
import type { StageResult } from "./stage.ts";
import type { BuildCache } from "./_cache.ts";
import { inferCacheRepo, openLayerCache } from "../cache/mod.ts";
import { startMemoryLog } from "./_memory.ts";
import { createBuildSummary } from "./_summary.ts";
import { startBuildTrace } from "./_telemetry.ts";
import { VERSION } from "../version.ts";

/** What `loadInputs` found: the plan and the context's ignore matcher. */
interface Inputs {
  plan: ExecutionPlan;
  ignore?: PathMatcher;
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
    const platform: Platform = options.platform ?? hostPlatform();
    const inputs = await loadInputs(options, {
      cwd,
      work,
      workRoot,
      platform,
      log,
      cleanups,
      ...(signal ? { signal } : {}),
    });
    const cache = openCache(options, log);
    const early = earlyUploads(options, log, progress, cache, signal);
    if (early) cleanups.push(() => early.close());
    const results = await runStages(inputs.plan, {
      options,
      run,
      cwd,
      work,
      workRoot,
      platform,
      log,
      progress,
      cleanups,
      ...(inputs.ignore ? { ignore: inputs.ignore } : {}),
      ...(cache ? { cache } : {}),
      ...(early ? { early } : {}),
    });
    const final = results.get(inputs.plan.stages[inputs.plan.target]!.index)!;
    const result = await finish(final, options, {
      cwd,
      platform,
      log,
      progress,
      steps,
      plan: inputs.plan,
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

/** The Dockerfile (given, or found in the context or cwd), the .dockerignore, and the plan. */
async function loadInputs(
  options: BuildOptions,
  env: {
    cwd: string;
    work: string;
    workRoot: string;
    platform: Platform;
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
  const plan = planFromDockerfile(text, {
    file,
    buildArgs: new Map(Object.entries(options.buildArgs ?? {})),
    ...(options.target ? { target: options.target } : {}),
    ...(options.alsoTargets?.length ? { alsoTargets: options.alsoTargets } : {}),
    // BuildKit and the kaniko fork build only what the targets need; `--skip-unused-stages=false` builds them all.
    skipUnusedStages: options.skipUnusedStages ?? true,
    ...(options.maxExpansion === undefined ? {} : { maxExpansion: options.maxExpansion }),
    ...(options.allow ? { allow: options.allow } : {}),
    platform: env.platform,
    buildPlatform: hostPlatform(),
  });
  for (const w of plan.warnings ?? []) env.log.warn(w);
  warnUnprivileged(plan, env.log);
  return { plan, ...(ignore ? { ignore } : {}) };
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

/** The final image from the target stage, written to every output. */
async function finish(
  final: StageResult,
  options: BuildOptions,
  env: {
    cwd: string;
    platform: Platform;
    log: Logger;
    progress: (e: BuildProgressEvent) => void;
    steps: BuildResult["steps"];
    plan: ExecutionPlan;
    /** Repositories (the registry layer cache) the destinations may mount cached blobs from. */
    mountFrom?: string[];
    /** Layers already going up to the destinations. */
    early?: EarlyUploads;
    signal?: AbortSignal;
  },
): Promise<BuildResult> {
  const { cwd, platform } = env;
  const fixedTime = options.layers?.reproducible ? (options.layers.sourceDateEpoch ?? 0) : undefined;
  const out = options.outputs ?? {};
  // The target stage's image, finished with lib/image's mutations: platform defaults and `created`, the manifest
  // format, the annotations.
  let image = withConfig(final.image, (c): ImageConfig => {
    const created = fixedTime !== undefined
      ? new Date(fixedTime * 1000).toISOString().replace(/\.000Z$/, "Z")
      : c.created || new Date().toISOString();
    return { ...c, architecture: c.architecture || platform.architecture, os: c.os || platform.os, created };
  });
  image = withFormat(image, out.format ?? "oci");
  if (options.annotations && Object.keys(options.annotations).length) {
    image = withAnnotations(image, options.annotations);
  }
  const config = await image.config();
  const manifest = await image.manifest();
  const rawManifest = await image.rawManifest();
  const digest: Digest = sha256(rawManifest);
  const path = (p: string | undefined) => (p ? resolve(cwd, p) : undefined);
  const files = {
    tarPath: path(out.tarPath),
    ociLayoutPath: path(out.ociLayoutPath),
    digestFile: path(out.digestFile),
    imageNameWithDigestFile: path(out.imageNameWithDigestFile),
    imageNameTagWithDigestFile: path(out.imageNameTagWithDigestFile),
  };
  const outputs = await writeOutputs(image, {
    destinations: [...(out.destinations ?? [])],
    noPush: out.noPush ?? false,
    ...Object.fromEntries(Object.entries(files).filter(([, v]) => v !== undefined)) as Record<string, string>,
    registry: options.registry ?? {},
    ...(env.mountFrom ? { mountFrom: env.mountFrom } : {}),
    ...(env.early ? { early: env.early } : {}),
    onBlob: (b) => env.progress({ type: "blob", ...b }),
    log: env.log,
    progress: env.progress,
    ...(env.signal ? { signal: env.signal } : {}),
  });
  env.log.info(`Built image ${digest} (${formatPlatform(platform)})`);
  return {
    digest,
    descriptor: { mediaType: manifest.mediaType ?? MediaTypes.OCI_MANIFEST, digest, size: rawManifest.byteLength },
    manifest,
    configDigest: manifest.config.digest,
    config,
    platform: { architecture: config.architecture, os: config.os },
    outputs,
    steps: env.steps,
    warnings: env.plan.warnings ?? [],
  };
}
