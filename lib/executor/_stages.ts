/**
 * Private: running every stage of a plan through the scheduler — each stage's base (an image, or an earlier stage's
 * result), the platform check, its rootfs and snapshotter, its sandbox, and the sources `COPY --from` and
 * `RUN --mount from=` read (earlier stages, named contexts, images extracted once per build).
 *
 * @module
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { AbortedError, type ChunkPool, createChunkPool, KilnError } from "../util/mod.ts";
import type { Logger } from "../util/mod.ts";
import type { ImageConfig, Layer, Platform } from "../image/mod.ts";
import type { EarlyUploads } from "../registry/mod.ts";
import { formatPlatform, hostPlatform, imageFromParts, parsePlatform } from "../image/mod.ts";
import { clearTree, createSnapshotter, loadWalker, type Snapshotter, trySyscalls, xattrReaderOf } from "../fs/mod.ts";
import { createSandbox, defaultIgnoreList, detectContainer } from "../sandbox/mod.ts";
import type { Sandbox } from "../sandbox/mod.ts";
import { copyInto } from "../copy/mod.ts";
import type { PathMatcher } from "../copy/mod.ts";
import { extractImage, resolveBaseImage } from "./_base.ts";
import { binfmtMounted, cannotExecute } from "./_exec_platform.ts";
import { createScheduler, prefixLogger, stagePrefix, type StageRunContext, stageTasks } from "./scheduler.ts";
import { createSecretStore, type SecretStore } from "./secrets.ts";
import type { SnapshotXattrReader as XattrReader, Walker } from "../fs/mod.ts";
import { runStage, type StageResult, type StageServices, type StageStart } from "./stage.ts";
import type { BuildCache } from "./_cache.ts";
import { chainKey } from "../cache/mod.ts";
import type { ExecutionPlan, StagePlan } from "./steps.ts";
import type { SharedStages } from "./_platforms.ts";
import type { BuildOptions, BuildProgressEvent, BuildRunOptions } from "./types.ts";

/** What running the stages needs from build(). */
export interface StagesEnv {
  options: BuildOptions;
  run: BuildRunOptions;
  cwd: string;
  /** This build's private scratch directory (one platform's part of it, in a build for several). */
  work: string;
  /** The build's whole scratch directory when `work` is one platform's part of it (in place, all of it is kept). */
  buildWork?: string;
  /** The work dir the user gave (or the temp dir): `kiln-run-cache` lives there. */
  workRoot: string;
  platform: Platform;
  log: Logger;
  progress: (e: BuildProgressEvent) => void;
  /** Run when the build ends, whatever happened (open sandboxes are closed there). */
  cleanups: (() => Promise<void>)[];
  ignore?: PathMatcher;
  /** The layer cache, when on. */
  cache?: BuildCache;
  /** Early uploads of the pushed image's layers (`--push-early`), when pushing. */
  early?: EarlyUploads;
  /** Several target platforms: the stages built once for all of them (lib/executor/_platforms.ts). */
  shared?: SharedStages;
  /**
   * Receives every image the stages start from or copy from (the provenance's materials); `shared` when the stage
   * using it is built once for every target platform.
   */
  onMaterial?: (m: Material, shared: boolean) => void;
}

/** An image a build used: as written, the platform asked for and the manifest digest it resolved to. */
export interface Material {
  /** The reference (FROM or `--from`), expanded. */
  ref: string;
  /** The platform picked. */
  platform: Platform;
  /** The digest the reference resolved to (an index's when it named one; with `platform` it names the image). */
  digest: string;
}

/**
 * Bytes per layer-stream buffer: a snapshot read (1 MiB) or one gzip block's libdeflate output (1 MiB of input
 * compresses to at most its bound, a few KiB above 1 MiB).
 */
const LAYER_CHUNK = (1 << 20) + (1 << 16);

/** Build-wide state shared by the stages. */
interface Shared {
  env: StagesEnv;
  plan: ExecutionPlan;
  results: Map<number, StageResult>;
  ignoreList: string[];
  layerDir: string;
  counter: { step: number; total: number };
  imageDir(from: string, where: string, signal: AbortSignal): Promise<string>;
  sandboxes: Set<Sandbox>;
  /** The `--secret`s, read on first use, shared by every stage. */
  secrets: SecretStore;
  /** The snapshot walker and xattr reader, loaded once per build (the native addon, or the TS walker). */
  walker(): { walker: Walker; xattrReader?: XattrReader };
  /** In place: whether a stage's files are on `/` (the next stage's rootfs empties it first, as kaniko does). */
  inPlace: { dirty: boolean };
  /** Buffers for layer streams (see lib/util createChunkPool). */
  chunks: ChunkPool;
  /** The stages whose layers end up in the pushed image: the target and the stages it is built FROM. */
  pushed: Set<number>;
}

/** The target stage and the stages it derives from (`FROM stage`): their layers are the pushed image's. */
function pushedStages(plan: ExecutionPlan): Set<number> {
  const out = new Set<number>();
  let s: StagePlan | undefined = plan.stages[plan.target];
  while (s && !out.has(s.index)) {
    out.add(s.index);
    const base = s.baseStage;
    s = base === undefined ? undefined : plan.stages.find((x) => x.index === base);
  }
  return out;
}

/** `make()`'s value, computed on the first call. */
function once<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: make() }).v;
}

/** The final layer-cache key of the stage `from` names (for `COPY --from`, `RUN --mount from=`), when built. */
function stageKeyOf(shared: Shared, from: string): string | undefined {
  const lower = from.toLowerCase();
  const s = shared.plan.stages.find((p) => p.name === lower || String(p.index) === from);
  return s ? shared.results.get(s.index)?.cacheKey : undefined;
}

/**
 * The first key of a stage: its parent stage's final key, or the base image's digest, with the target platform and
 * what else shapes every layer's bytes — the compression and its level, and `--reproducible`'s fixed time (a gzip
 * build must not take a zstd entry, nor a reproducible build one with real mtimes: each would change the digest).
 */
async function baseKeyOf(
  shared: Shared,
  stage: StagePlan,
  base: StageStart,
  parent: StageResult | undefined,
): Promise<string> {
  const o = shared.env.options;
  const from = parent?.cacheKey ?? (await base.image.digest());
  return chainKey("", {
    base: from,
    // A stage of its own platform (`FROM --platform=$BUILDPLATFORM`) is the same build for every target platform.
    platform: stage.platform ?? formatPlatform(shared.env.platform),
    compression: o.layers?.compression ?? "gzip",
    level: o.layers?.compressionLevel ?? null,
    fixedTime: o.layers?.reproducible ? (o.layers.sourceDateEpoch ?? 0) : null,
  });
}

/**
 * Runs every stage of `plan` (independent stages in parallel, at most `jobs` at a time; in-place builds one at a
 * time, they share `/`).
 *
 * @param plan The plan.
 * @param env Options, paths, logger, progress and cleanups of the build.
 * @returns Each stage's result by index.
 */
export async function runStages(plan: ExecutionPlan, env: StagesEnv): Promise<Map<number, StageResult>> {
  const mode = env.options.sandbox?.mode ?? "sandbox";
  const layerDir = join(env.work, "layers");
  await mkdir(layerDir, { recursive: true });
  const sandboxes = new Set<Sandbox>();
  env.cleanups.unshift(async () => {
    for (const sb of sandboxes) await sb.close().catch(() => {});
  });
  const jobs = mode === "in-place" ? 1 : Math.max(1, Math.floor(env.options.jobs ?? availableParallelism()) || 1);
  const scheduler = createScheduler({ jobs, ...(env.run.signal ? { signal: env.run.signal } : {}) });
  const shared: Shared = {
    env,
    plan,
    results: new Map(),
    ignoreList: await ignoreListOf(env, mode),
    layerDir,
    counter: { step: 0, total: plan.stages.reduce((n, s) => n + s.instructions.length, 0) },
    imageDir: imageDirCache(env),
    sandboxes,
    secrets: createSecretStore(env.options.secrets ?? [], { env: env.options.secretEnv ?? {} }),
    inPlace: { dirty: env.options.sandbox?.preCleanup ?? false },
    chunks: createChunkPool(LAYER_CHUNK),
    pushed: pushedStages(plan),
    walker: once(() => {
      const sc = trySyscalls();
      const xattrReader = sc ? xattrReaderOf(sc) : undefined;
      return {
        walker: env.run.walker ?? loadWalker({
          logger: env.log,
          ...(env.run.addonPath === undefined ? {} : { addonPath: env.run.addonPath }),
        }),
        ...(xattrReader ? { xattrReader } : {}),
      };
    }),
  };
  const keep = new Set(stageTasks(plan).flatMap((t) => t.deps)); // stages whose rootfs later stages read
  await scheduler.run<StageResult>(stageTasks(plan), async (index, sched) => {
    const stage = plan.stages.find((s) => s.index === index)!;
    const result = await sharedOrBuilt(shared, stage, () => buildOneStage(shared, stage, sched, keep.has(index)));
    shared.results.set(index, result);
    return result;
  });
  if (mode === "in-place" && env.options.sandbox?.cleanup) {
    // kaniko's --cleanup: the container's `/` is emptied again (all but the ignore list and the build's inputs).
    await emptyInPlaceRoot(shared, "/", shared.ignoreList, plan.file, env.run.signal ?? new AbortController().signal);
  }
  return shared.results;
}

/**
 * A stage built once for every target platform is built by the first platform to reach it; the others wait for
 * that result and use it as their own.
 */
function sharedOrBuilt(shared: Shared, stage: StagePlan, make: () => Promise<StageResult>): Promise<StageResult> {
  const all = shared.env.shared;
  if (!all?.ids.has(stage.index)) return make();
  const here = formatPlatform(shared.env.platform);
  const known = all.results.get(stage.index);
  if (!known) {
    const result = make();
    all.results.set(stage.index, { platform: here, result });
    return result;
  }
  const name = stage.name ?? String(stage.index);
  shared.env.log.info(
    `stage ${name} is the same for every platform (FROM --platform=${stage.platform}): using the one built for ${known.platform}`,
  );
  return known.result;
}

/** The paths snapshots leave out (kaniko's ignore list in in-place mode), relative to the rootfs. */
async function ignoreListOf(env: StagesEnv, mode: "sandbox" | "in-place"): Promise<string[]> {
  return defaultIgnoreList({
    mode,
    ignorePaths: [...(env.options.snapshot?.ignorePaths ?? [])],
    ...(env.options.snapshot?.ignoreVarRun === undefined ? {} : { ignoreVarRun: env.options.snapshot.ignoreVarRun }),
    ...(mode === "in-place"
      ? {
        kilnDir: env.buildWork ?? env.work,
        mountInfo: await readFile("/proc/self/mountinfo", "utf8").catch(() => ""),
      }
      : {}),
  }).map((p) => p.replace(/^\/+/, ""));
}

/** `COPY --from=<image>` / `RUN --mount=from=<image>`: each image extracted once per build, on first use. */
function imageDirCache(env: StagesEnv): Shared["imageDir"] {
  const dirs = new Map<string, Promise<string>>();
  return (from, where, signal) => {
    let p = dirs.get(from);
    if (!p) {
      const n = dirs.size;
      p = (async () => {
        const img = await resolveBaseImage(from, baseOptions(env, where, env.platform, signal));
        if (img.resolved) env.onMaterial?.({ ref: from, platform: env.platform, digest: img.resolved }, false);
        const dir = join(env.work, "from-images", String(n), "rootfs");
        await mkdir(dir, { recursive: true, mode: 0o755 });
        await extractImage(img.layers, dir, { where, log: env.log, signal });
        return dir;
      })();
      dirs.set(from, p);
    }
    return p;
  };
}

function baseOptions(env: StagesEnv, where: string, platform: Platform, signal?: AbortSignal) {
  const cache = env.options.cache;
  const baseImages = cache?.baseImageDir
    ? { dir: cache.baseImageDir, ...(cache.ttlMs === undefined ? {} : { ttlMs: cache.ttlMs }) }
    : undefined;
  return {
    where,
    platform,
    buildContexts: env.options.buildContexts ?? {},
    registry: env.options.registry ?? {},
    cwd: env.cwd,
    log: env.log,
    ...(signal ? { signal } : {}),
    ...(baseImages ? { baseImages } : {}),
  };
}

/** One stage: its base, the platform check, its rootfs, its services; the rootfs kept if later stages read it. */
async function buildOneStage(
  shared: Shared,
  stage: StagePlan,
  sched: StageRunContext<StageResult>,
  keepRootfs: boolean,
): Promise<StageResult> {
  const { env, plan } = shared;
  const signal = sched.signal;
  const log = plan.stages.length > 1 ? prefixLogger(env.log, stagePrefix(stage)) : env.log;
  if (signal.aborted) throw new AbortedError("Build aborted");
  env.progress({ type: "stage", stage: stage.index, ...(stage.name ? { name: stage.name } : {}), base: stage.base });
  log.info(`FROM ${stage.base}${stage.name ? ` AS ${stage.name}` : ""}`, { stage: stage.index });
  const fromStage = stage.baseStage === undefined ? undefined : shared.results.get(stage.baseStage);
  const base: StageStart = fromStage
    ? {
      image: fromStage.image,
      config: fromStage.config,
      layers: fromStage.layers,
      ...(fromStage.scope ? { scope: fromStage.scope } : {}),
    }
    : await resolveStageBase(shared, stage, log, signal);
  checkCanRun(shared, stage, base.config);
  const early = shared.pushed.has(stage.index) ? env.early : undefined;
  // A base image's layers go up while the stage runs (a stage base's layers went up with that stage).
  if (early && !fromStage) { for (const l of base.layers) early.add(l); }
  const mode = env.options.sandbox?.mode ?? "sandbox";
  const rootDir = mode === "in-place" ? "/" : join(env.work, `stage${stage.index}`, "rootfs");
  const rootfs = rootfsOf(shared, stage, rootDir, base.layers, fromStage?.rootfs, signal);
  let sandbox: Sandbox | undefined;
  const services = stageServices(shared, stage, sched, log, rootfs, early, async () => {
    if (sandbox) return sandbox;
    sandbox = await createSandboxFor(shared, (await rootfs()).dir, log);
    return sandbox;
  });
  const o = env.options;
  const isTarget = stage.index === plan.stages[plan.target]!.index;
  const cache = env.cache
    ? {
      settings: env.cache,
      baseKey: await baseKeyOf(shared, stage, base, fromStage),
      stageKey: (from: string) => stageKeyOf(shared, from),
    }
    : undefined;
  try {
    const result = await runStage(stage, base, {
      services,
      layers: {
        compression: o.layers?.compression ?? "gzip",
        ...(o.layers?.compressionLevel === undefined ? {} : { level: o.layers.compressionLevel }),
        single: o.snapshot?.single ?? false,
      },
      variables: {
        buildArgs: plan.buildArgs,
        metaArgs: plan.metaArgs,
        ...(plan.escapeToken ? { escapeToken: plan.escapeToken } : {}),
        ...(o.maxExpansion === undefined ? {} : { maxExpansion: o.maxExpansion }),
      },
      ...(isTarget && o.labels ? { labels: o.labels } : {}),
      counter: shared.counter,
      ...(cache ? { cache } : {}),
      keepRootfs,
      ...(mode === "in-place" && o.sandbox?.materialize && isTarget ? { materialize: true } : {}),
    });
    if (keepRootfs) {
      // In place the next stage empties `/`: later stages read this one's files from its layers, extracted into a
      // directory of the work dir on first need.
      if (mode === "in-place") return { ...result, rootfs: stageFilesFromLayers(shared, stage, result.layers, signal) };
      return result;
    }
    if (rootfs.started() && mode !== "in-place") {
      await rm(join(env.work, `stage${stage.index}`), { recursive: true, force: true });
    }
    return result;
  } finally {
    if (sandbox) {
      shared.sandboxes.delete(sandbox);
      await sandbox.close();
    }
  }
}

/** A finished in-place stage's filesystem for `COPY --from`/`RUN --mount from=`: its layers extracted once. */
function stageFilesFromLayers(
  shared: Shared,
  stage: StagePlan,
  layers: readonly Layer[],
  signal: AbortSignal,
): () => Promise<string> {
  let dir: Promise<string> | undefined;
  return () =>
    dir ??= (async () => {
      const d = join(shared.env.work, `stage${stage.index}-files`, "rootfs");
      await mkdir(d, { recursive: true, mode: 0o755 });
      await extractImage(layers, d, { where: `${shared.plan.file}:${stage.line}`, log: shared.env.log, signal });
      return d;
    })();
}

/** A FROM that is an image (registry, layout, named context, scratch). */
async function resolveStageBase(
  shared: Shared,
  stage: StagePlan,
  log: Logger,
  signal: AbortSignal,
): Promise<StageStart> {
  const { env, plan } = shared;
  const where = `${plan.file}:${stage.line}`;
  const platform = stage.platform ? parsePlatform(stage.platform) : env.platform;
  const b = await resolveBaseImage(stage.base, { ...baseOptions(env, where, platform, signal), log }).catch((e) => {
    // `FROM b` before `AS b`: an image for BuildKit too, but the user most likely meant the stage.
    const later = plan.stages.find((p) => p.index > stage.index && p.name === stage.base.toLowerCase());
    if (!later || !(e instanceof KilnError) || signal.aborted) throw e;
    const why = e.cause instanceof Error ? e.cause.message : e.message;
    throw new KilnError(
      `${where}: FROM ${stage.base}: the stage "${later.name}" is defined later (line ${later.line}), and a FROM can only name an earlier stage; pulling it as an image failed: ${why}`,
      { cause: e, location: where },
    );
  });
  if (b.resolved) {
    env.onMaterial?.({ ref: stage.base, platform, digest: b.resolved }, env.shared?.ids.has(stage.index) ?? false);
  }
  // A single-platform base of another platform than the one asked for would give, say, amd64 binaries labelled arm64.
  const cfg = b.config;
  if (
    b.image && cfg.architecture && (cfg.architecture !== platform.architecture || (cfg.os && cfg.os !== platform.os))
  ) {
    const got = formatPlatform({ os: cfg.os || platform.os, architecture: cfg.architecture });
    throw new KilnError(
      `${where}: FROM ${stage.base}: the image is ${got}, but this stage builds ${formatPlatform(platform)} ` +
        "(pick a base that has that platform, e.g. a multi-platform index, or change --custom-platform / FROM --platform)",
      { location: where },
    );
  }
  // The base's layer descriptors are kept verbatim; its manifest annotations are not the new image's (BuildKit).
  const image = imageFromParts({
    config: b.config,
    layers: b.layers,
    ...(b.image ? { mediaType: await b.image.mediaType(), baseDescriptors: (await b.image.manifest()).layers } : {}),
  });
  return { image, config: b.config, layers: b.layers };
}

/** How to let RUN steps of a foreign platform run (README "Several platforms" says more). */
export const EMULATION_HINT = "To emulate it, register a binfmt_misc handler with the F flag on this machine " +
  "(Debian/Ubuntu: apt-get install qemu-user-static binfmt-support; elsewhere: docker run --privileged --rm " +
  "tonistiigi/binfmt --install all); stages with only COPY, and stages FROM --platform=$BUILDPLATFORM that " +
  "cross-compile, need no emulator";

/**
 * RUN executes the base's programs: a stage whose only RUN comes from its base image's ONBUILD triggers is refused
 * here, once the base is known, when this machine cannot run its platform (stages with a RUN of their own were checked
 * from the plan by {@linkcode checkPlanCanRun} before anything was pulled).
 */
function checkCanRun(shared: Shared, stage: StagePlan, config: ImageConfig): void {
  if (stage.instructions.some((s) => s.kind === "run")) return;
  if (!(config.config?.OnBuild ?? []).some((t) => /^\s*run\b/i.test(t))) return;
  const line = stage.line;
  const platform = shared.env.platform;
  refuseUnrunnable(shared.plan.file, stage, line, {
    os: config.os || platform.os,
    architecture: config.architecture || platform.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
  }, shared.env.log);
}

/**
 * Throws `FILE:LINE: RUN cannot execute P programs (stage …): why. How to get an emulator` when `p` cannot run. When
 * binfmt_misc is not mounted (a container, often) kiln cannot tell: it warns and lets the step try, since the host
 * kernel's handlers may well run it.
 */
function refuseUnrunnable(file: string, stage: StagePlan, line: number, p: Platform, log: Logger): void {
  const why = cannotExecute(p, { host: hostPlatform() });
  if (!why) return;
  if (p.os === hostPlatform().os && !binfmtMounted()) {
    log.warn(
      `${file}:${line}: cannot tell whether this machine runs ${formatPlatform(p)} programs (${why}); the step runs ` +
        `anyway and fails with "exec format error" if there is no emulator. ${EMULATION_HINT}`,
    );
    return;
  }
  throw new KilnError(
    `${file}:${line}: RUN cannot execute ${formatPlatform(p)} programs (stage ${
      stage.name ?? stage.index
    }, ${stage.text.trim()}): ${why}. ${EMULATION_HINT}`,
    { location: `${file}:${line}` },
  );
}

/**
 * Before anything is pulled: a stage with a RUN whose platform is known from the plan (its `FROM --platform`, its
 * parent stage's, or the target platform) and that this machine cannot execute is refused now, not after the other
 * stages (or platforms) have run. Stages whose only RUN comes from a base image's ONBUILD are checked when they start.
 *
 * @param plan One target platform's plan.
 * @param target That platform.
 * @param log Where the "cannot tell" warning goes.
 */
export function checkPlanCanRun(plan: ExecutionPlan, target: Platform, log: Logger): void {
  const platformOf = (s: StagePlan): Platform => {
    if (s.platform) return parsePlatform(s.platform);
    const parent = s.baseStage === undefined ? undefined : plan.stages.find((x) => x.index === s.baseStage);
    return parent ? platformOf(parent) : target;
  };
  for (const stage of plan.stages) {
    const firstRun = stage.instructions.find((s) => s.kind === "run");
    if (firstRun) refuseUnrunnable(plan.file, stage, firstRun.location.startLine, platformOf(stage), log);
  }
}

/**
 * In place, before a stage's files go onto `/`: removes what an earlier stage (or, with `--pre-cleanup`, the
 * container) left there — everything but the ignore list (mount points, /kaniko, /busybox, kiln's work dir, /var/run,
 * `--ignore-path`s) and the build's own inputs (context, run cache, base-image cache).
 */
async function emptyInPlaceRoot(
  shared: Shared,
  rootDir: string,
  ignore: readonly string[],
  where: string,
  signal: AbortSignal,
): Promise<void> {
  if (!shared.inPlace.dirty) return;
  if (rootDir === "/" && !detectContainer({}).inContainer) {
    // `--in-place --force` on a machine that is no container: emptying `/` would delete the machine's files.
    throw new KilnError(
      `${where}: this stage would start by emptying / of this machine (in place, outside a container): build ` +
        "Dockerfiles with several stages (or --pre-cleanup) in place only inside a container, or use --sandbox",
      { location: where },
    );
  }
  const o = shared.env.options;
  const inputs = [
    resolve(shared.env.cwd, o.context),
    ...(o.sandbox?.runCacheDir ? [o.sandbox.runCacheDir] : []),
    ...(o.cache?.baseImageDir ? [o.cache.baseImageDir] : []),
    ...(o.workDir ? [o.workDir] : []),
  ];
  const t0 = performance.now();
  try {
    const r = await clearTree(rootDir, { keep: [...ignore, ...inputs], signal });
    shared.env.log.debug("emptied / for the next stage", {
      removed: r.removed,
      ms: Math.round(performance.now() - t0),
      ...(r.otherFilesystems.length ? { otherFilesystems: r.otherFilesystems.join(",") } : {}),
    });
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new KilnError(`${where}: cannot empty / for this stage: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}

/** The stage's rootfs, made on first need: the parent stage's copied, or the base's layers extracted. */
type Rootfs = (() => Promise<{ dir: string; snapshotter: Snapshotter; extractIgnore?: readonly string[] }>) & {
  started(): boolean;
};

function rootfsOf(
  shared: Shared,
  stage: StagePlan,
  rootDir: string,
  baseLayers: readonly Layer[],
  parentRootfs: (() => Promise<string>) | undefined,
  signal: AbortSignal,
): Rootfs {
  const { env, plan } = shared;
  const where = `${plan.file}:${stage.line}`;
  let ready: ReturnType<Rootfs> | undefined;
  // In place, what is mounted on `/` (/etc/hosts, /proc, secrets, the context) and kiln's own paths are never
  // written by extraction (kaniko's ignore list): replacing a mount point fails with EBUSY.
  const extractIgnore = (env.options.sandbox?.mode ?? "sandbox") === "in-place" ? shared.ignoreList : undefined;
  const ignoreOpt = extractIgnore ? { ignore: extractIgnore } : {};
  const extract = async () => {
    const r = await extractImage(baseLayers, rootDir, {
      where,
      log: env.log,
      signal,
      what: `FROM ${stage.base}`,
      onProgress: (p) => env.progress({ type: "pull", stage: stage.index, what: `FROM ${stage.base}`, ...p }),
      ...ignoreOpt,
    });
    env.progress({
      type: "base",
      stage: stage.index,
      layers: baseLayers.length,
      bytes: r.bytes,
      durationMs: r.durationMs,
    });
  };
  const materialize = async () => {
    await mkdir(rootDir, { recursive: true, mode: 0o755 });
    if (extractIgnore) {
      // In place the stage starts from its base alone: `/` is emptied of an earlier stage's files (all but the
      // ignore list and what kiln needs), then every layer of the base — an earlier stage's too, for
      // `FROM <stage>` — is extracted.
      await emptyInPlaceRoot(shared, rootDir, extractIgnore, where, signal);
      if (baseLayers.length > 0) await extract();
      shared.inPlace.dirty = true;
    } else if (parentRootfs) {
      // lib/copy keeps owners, modes, hardlinks, xattrs, devices and times (node's fs.cp drops owners).
      await copyInto({
        srcRoot: await parentRootfs(),
        sources: ["."],
        dest: "/",
        destRoot: rootDir,
        keepOwnership: true,
        instruction: "FROM",
        location: where,
        signal,
      });
    } else if (baseLayers.length > 0) {
      await extract();
    }
    const { walker, xattrReader } = shared.walker();
    const snapshotter = createSnapshotter({
      root: rootDir,
      walker,
      // Beside the rootfs (in place: in the work dir, which the snapshot ignores); removed with the stage's directory.
      stateDir: join(env.work, `stage${stage.index}`, "snapshot"),
      mode: env.options.snapshot?.mode ?? "full",
      ignore: shared.ignoreList,
      ...(xattrReader ? { xattrReader } : {}),
    });
    await snapshotter.init({ signal });
    return { dir: rootDir, snapshotter, ...(extractIgnore ? { extractIgnore } : {}) };
  };
  const get = () => ready ??= materialize();
  return Object.assign(get, { started: () => ready !== undefined });
}

async function createSandboxFor(shared: Shared, dir: string, log: Logger): Promise<Sandbox> {
  const { env, plan } = shared;
  const o = env.options;
  const sandbox = await createSandbox({
    mode: o.sandbox?.mode ?? "sandbox",
    rootDir: dir,
    workDir: env.work,
    logger: log,
    // BuildKit's BUILDKIT_SANDBOX_HOSTNAME build arg names the RUN steps' host.
    ...(plan.buildArgs.get("BUILDKIT_SANDBOX_HOSTNAME")
      ? { hostname: plan.buildArgs.get("BUILDKIT_SANDBOX_HOSTNAME")! }
      : {}),
    ...(o.sandbox?.helper ? { helperPath: o.sandbox.helper } : {}),
    ...(o.sandbox?.force ? { force: true } : {}),
  });
  shared.sandboxes.add(sandbox);
  return sandbox;
}

/** What the stage's steps use. */
function stageServices(
  shared: Shared,
  stage: StagePlan,
  sched: StageRunContext<StageResult>,
  log: Logger,
  rootfs: Rootfs,
  early: EarlyUploads | undefined,
  sandbox: () => Promise<Sandbox>,
): StageServices {
  const { env, plan } = shared;
  const o = env.options;
  const fixedTime = o.layers?.reproducible ? (o.layers.sourceDateEpoch ?? 0) : undefined;
  return {
    file: plan.file,
    contextDir: resolve(env.cwd, o.context),
    ...(env.ignore ? { ignore: env.ignore } : {}),
    layerDir: shared.layerDir,
    secrets: shared.secrets,
    ...(o.gitEnv ? { gitEnv: o.gitEnv } : {}),
    // Kept across builds in the work dir the user gave; without one, a private dir of this build (a library caller's
    // TMPDIR is no place for a persistent cache).
    runCacheDir: o.sandbox?.runCacheDir ??
      (o.workDir ? join(env.workRoot, "kiln-run-cache") : join(env.work, "run-cache")),
    ...(plan.proxyEnv ? { proxyEnv: plan.proxyEnv } : {}),
    allow: o.allow ?? [],
    ...(fixedTime === undefined ? {} : { fixedTime }),
    ...(env.run.addonPath === undefined ? {} : { addonPath: env.run.addonPath }),
    chunks: shared.chunks,
    ...(early ? { onLayer: (l: Layer) => early.add(l) } : {}),
    log,
    signal: sched.signal,
    progress: env.progress,
    rootfs,
    sandbox,
    copySource: (from, where) => copySource(shared, stage, sched, from, where),
  };
}

/** `COPY --from` / `RUN --mount from=`: an earlier stage, a named context directory, or an image. */
async function copySource(
  shared: Shared,
  stage: StagePlan,
  sched: StageRunContext<StageResult>,
  from: string,
  where: string,
): Promise<{ dir: string; description: string }> {
  const { env, plan, results } = shared;
  const lower = from.toLowerCase();
  const named = (p: StagePlan) => p.name === lower || String(p.index) === from;
  const known = plan.stages.find(named);
  let s = known ? results.get(known.index) : undefined;
  const earlier = plan.stages.find((p) => p.index < stage.index && named(p));
  // A stage not in the dependency graph (named by an ONBUILD trigger of an image) may still be running.
  if (!s && earlier) s = await sched.waitFor(earlier.index);
  if (s) {
    if (!s.rootfs) throw new KilnError(`${where}: COPY --from=${from}: that stage has no filesystem`);
    return { dir: await s.rootfs(), description: `stage ${from}` };
  }
  if (known) throw new KilnError(`${where}: COPY --from=${from}: stage is not built before this one`);
  const ctx = env.options.buildContexts?.[from];
  if (ctx !== undefined && !ctx.includes("://")) return { dir: resolve(env.cwd, ctx), description: `context ${from}` };
  // BuildKit takes a name that is no stage for an image: say both when that fails too.
  try {
    return { dir: await shared.imageDir(from, where, sched.signal), description: `image ${from}` };
  } catch (e) {
    if (!(e instanceof KilnError) || e instanceof AbortedError || sched.signal.aborted) throw e;
    const why = e.cause instanceof Error ? e.cause.message : e.message;
    throw new KilnError(
      `${where}: --from=${from}: no build stage is named "${from}", and pulling it as an image failed: ${why}`,
      { cause: e },
    );
  }
}
