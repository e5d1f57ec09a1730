/**
 * The stage runner: the step loop of one stage. Each lib/dockerfile instruction is expanded with the variables in
 * effect, handed to the handler of its kind (lib/executor/instructions/), and — when the handler may change files
 * — followed by a snapshot of the rootfs that becomes a layer when anything changed; every other step gets an
 * `empty_layer` history entry. Layer-cache lookups plug in before a handler runs.
 *
 * @module
 */
import type { Image, ImageConfig, Layer } from "../image/mod.ts";
import { appendLayers, withConfig } from "../image/mod.ts";
import { AbortedError, formatBytes, KilnError } from "../util/mod.ts";
import {
  createShellLexer,
  createStageScope,
  DockerfileError,
  ShellExpansionError,
  type ShellLexer,
  type StageScope,
  type StageScopeState,
} from "../dockerfile/mod.ts";
import { withoutPaths } from "./_snapshot_ignore.ts";
import { type Compression, writeLayerFile } from "./_layer_file.ts";
import { DEFAULT_PATH } from "./config.ts";
import { handlerOf, type MetadataState, type StageServices, type StepContext } from "./instructions/mod.ts";
import type { StageInstruction, StagePlan } from "./steps.ts";
import { planOnbuildTriggers } from "./plan.ts";
import { type BuildCache, cacheable, stepKey } from "./_cache.ts";
import { chainKey } from "../cache/mod.ts";
import { extractImage } from "./_base.ts";
import { ensureDir } from "./instructions/_fs.ts";

export type { StageServices };

/** What a finished stage hands to later stages and to the outputs. */
export interface StageResult {
  /** Stage index. */
  index: number;
  /** Stage name. */
  name?: string;
  /** The stage's image: the base image with this stage's layers appended and its config (lib/image mutate). */
  image: Image;
  /** Final config (history and diff_ids included). */
  config: ImageConfig;
  /** Base layers followed by this stage's layers. */
  layers: Layer[];
  /**
   * The stage's rootfs directory for COPY --from and FROM <stage>, made on first call (its cached layers extracted
   * then): a later stage whose steps all hit never asks, so nothing of this stage is downloaded. Only for stages that
   * later stages read.
   */
  rootfs?: () => Promise<string>;
  /** ARGs declared in the stage with their values (inherited by `FROM <stage>`, as BuildKit does). */
  args?: [string, string][];
  /** The stage's final ARG/ENV scope (lib/dockerfile `createStageScope`), the `parent` of a `FROM <stage>`. */
  scope?: StageScopeState;
  /** The layer-cache key after the stage's last step (the first key of a `FROM <stage>`), when the cache is on. */
  cacheKey?: string;
}

/** The stage's starting point: the base image's config and layers, or an earlier stage's result. */
export interface StageStart {
  /** The base image (`scratch`: an empty image with the platform's config). */
  image: Image;
  /** Base config. */
  config: ImageConfig;
  /** Base layers. */
  layers: Layer[];
  /** For `FROM <stage>`: that stage's final scope. */
  scope?: StageScopeState;
}

/** How a stage runs, grouped by concern. */
export interface StageOptions {
  /** What the steps use (context, rootfs, sandbox, secrets, logger, progress…). */
  services: StageServices;
  /** New layers: compression, and `single` for one layer per stage (`--single-snapshot`). */
  layers: { compression: Compression; level?: number; single: boolean };
  /** Variables: `--build-arg`s, global args, the Dockerfile's escape token, the expansion limit. */
  variables: {
    buildArgs: ReadonlyMap<string, string>;
    metaArgs: ReadonlyMap<string, string>;
    escapeToken?: "\\" | "`";
    maxExpansion?: number;
  };
  /** Labels applied before the stage's own instructions (the target stage's `--label`s). */
  labels?: Readonly<Record<string, string>>;
  /** Step counter shared by the build. */
  counter: { step: number; total: number };
  /** The layer cache (`--cache`): the store, what is cached, the stage's first key, earlier stages' final keys. */
  cache?: { settings: BuildCache; baseKey: string; stageKey(from: string): string | undefined };
  /** Later stages read the rootfs: return a `rootfs()` that makes it on demand, cached layers applied. */
  keepRootfs?: boolean;
  /** Make the rootfs before returning even when every step came from the cache (in place `--materialize`). */
  materialize?: boolean;
}

/** Longest a stage's step loop runs without giving the event loop a turn (signals, aborts, other stages). */
const YIELD_EVERY_MS = 50;

/** Resolves after one turn of the event loop (timers, I/O, signal handlers), unlike a resolved promise. */
function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function nowIso(fixed: number | undefined): string {
  return new Date(fixed === undefined ? Date.now() : fixed * 1000).toISOString().replace(/\.000Z$/, "Z");
}

/** The stage's working state: its config (a copy of the base's, updated in place), layers and history. */
interface StageState {
  readonly plan: StagePlan;
  readonly options: StageOptions;
  readonly config: ImageConfig;
  readonly layers: Layer[];
  readonly scope: StageScope;
  readonly lexer: ShellLexer;
  readonly meta: MetadataState;
  /** In-place mode: targets of RUN --mounts since the last snapshot, left out of it. */
  readonly snapshotIgnore: string[];
  /** In-place mode: directories whose ctime-only change the next snapshot disregards (kiln's own, times restored). */
  readonly snapshotCtimeOnly: string[];
  /** VOLUME paths declared so far in the stage (see StepContext.volumes). */
  readonly volumes: string[];
  layerNo: number;
  /** The services handlers see: `rootfs()` first applies the cached layers of the steps that did not run. */
  readonly services: StageServices;
  /** Cached layers not extracted into the rootfs yet (nothing is downloaded while every step hits). */
  readonly pending: Layer[];
  /** The current layer-cache key. */
  key: string;
  /** Cache stores in flight (awaited before the stage returns). */
  readonly puts: Promise<void>[];
}

function startState(plan: StagePlan, base: StageStart, options: StageOptions): StageState {
  const config: ImageConfig = structuredClone(base.config);
  config.history = [...(config.history ?? [])];
  config.rootfs = { type: "layers", diff_ids: [...config.rootfs.diff_ids] };
  delete config.created;
  // BuildKit gives every image a PATH: Docker's default when the base config has none (FROM scratch included).
  if (!(config.config?.Env ?? []).some((e) => e.startsWith("PATH="))) {
    config.config = { ...(config.config ?? {}), Env: [`PATH=${DEFAULT_PATH}`, ...(config.config?.Env ?? [])] };
  }
  const v = options.variables;
  const lexer = createShellLexer(
    v.escapeToken ?? "\\",
    v.maxExpansion === undefined ? {} : { maxExpansion: v.maxExpansion },
  );
  // ARG/ENV scoping is lib/dockerfile's (BuildKit's rules): the base image's Env, or the parent stage's scope.
  const scope = createStageScope({
    ...(base.scope ? { parent: base.scope } : { baseImageEnv: config.config?.Env ?? [] }),
    globalArgs: Object.fromEntries(v.metaArgs),
    buildArgs: Object.fromEntries(v.buildArgs),
    lexer,
    filename: options.services.file,
    ...(config.os ? { os: config.os } : {}),
  });
  if (options.labels && Object.keys(options.labels).length > 0) {
    config.config = { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), ...options.labels } };
  }
  const pending: Layer[] = [];
  const volumes: string[] = [];
  const raw = options.services;
  // Cached layers are extracted only when a step needs files: a stage whose steps all hit never touches a rootfs.
  // Callers are serialized: later stages may ask for this stage's rootfs at once (COPY --from in parallel stages).
  let applied: Promise<unknown> = Promise.resolve();
  const rootfs: StageServices["rootfs"] = async () => {
    const r = await raw.rootfs();
    const apply = applied.then(async () => {
      if (pending.length === 0) return;
      await extractImage(pending.splice(0), r.dir, {
        where: `${raw.file}:${plan.line}`,
        log: raw.log,
        ...(r.extractIgnore ? { ignore: r.extractIgnore } : {}),
        ...(raw.signal ? { signal: raw.signal } : {}),
      });
      await r.snapshotter.init(raw.signal ? { signal: raw.signal } : {});
    });
    applied = apply.catch(() => {});
    await apply;
    // VOLUME directories exist for every later step that needs files (made as root, 0755, when missing).
    for (const v of volumes) await ensureDir(r.dir, v, { uid: 0, gid: 0 });
    return r;
  };
  return {
    plan,
    options,
    config,
    layers: [...base.layers],
    scope,
    lexer,
    meta: { cmdSet: false },
    snapshotIgnore: [],
    snapshotCtimeOnly: [],
    volumes,
    layerNo: 0,
    services: { ...raw, rootfs },
    pending,
    key: options.cache?.baseKey ?? "",
    puts: [],
  };
}

/** Snapshots the rootfs; a layer file when anything changed. Returns the layer's size and digest, if any. */
async function commit(st: StageState, createdBy: string, dropInVolumes = false): Promise<Committed> {
  const s = st.options.services;
  const history = st.config.history!;
  const created = nowIso(s.fixedTime);
  const { dir, snapshotter } = await st.services.rootfs();
  s.progress({ type: "phase", stage: st.plan.index, phase: "snapshot" });
  const t0 = performance.now();
  const ctimeOnly = st.snapshotCtimeOnly.splice(0);
  const raw = await snapshotter.diff({
    ...(s.signal ? { signal: s.signal } : {}),
    onProgress: (files) => s.progress({ type: "phase", stage: st.plan.index, phase: "snapshot", files }),
    ...(ctimeOnly.length ? { ctimeOnly } : {}),
  });
  let diff = st.snapshotIgnore.length > 0 ? withoutPaths(raw, st.snapshotIgnore.splice(0), dir) : raw;
  if (dropInVolumes && st.volumes.length > 0) diff = withoutPaths(diff, st.volumes, dir, { keepSelf: true });
  const snapshotMs = performance.now() - t0;
  s.log.debug("snapshot", {
    ms: Math.round(snapshotMs),
    ...diff.counts,
  });
  if (diff.empty) {
    history.push({ created, created_by: createdBy, empty_layer: true });
    return {};
  }
  const l = st.options.layers;
  const path = `${s.layerDir}/stage${st.plan.index}-layer${st.layerNo++}.tar.${
    l.compression === "zstd" ? "zst" : "gz"
  }`;
  const t1 = performance.now();
  s.progress({ type: "phase", stage: st.plan.index, phase: "layer", entries: diff.entryCount });
  const lf = await writeLayerFile(
    diff.entries({
      ...(s.fixedTime === undefined ? {} : { mtime: s.fixedTime }),
      ...(s.signal ? { signal: s.signal } : {}),
      ...(s.chunks ? { pool: s.chunks } : {}),
    }),
    {
      path,
      compression: l.compression,
      ...(l.level === undefined ? {} : { level: l.level }),
      ...(s.addonPath === undefined ? {} : { addonPath: s.addonPath }),
      ...(s.chunks ? { pool: s.chunks } : {}),
      ...(s.signal ? { signal: s.signal } : {}),
      onBytes: (bytes) =>
        s.progress({ type: "phase", stage: st.plan.index, phase: "layer", entries: diff.entryCount, bytes }),
    },
  );
  s.progress({
    type: "layer",
    stage: st.plan.index,
    snapshotMs,
    writeMs: performance.now() - t1,
    entries: diff.entryCount,
    size: lf.size,
    uncompressedSize: lf.uncompressedSize,
    digest: lf.digest,
  });
  st.layers.push(lf.layer);
  s.onLayer?.(lf.layer);
  st.config.rootfs.diff_ids.push(lf.diffId);
  history.push({ created, created_by: createdBy });
  s.log.debug("layer written", { entries: diff.entryCount, size: lf.size, digest: lf.digest });
  return { size: lf.size, digest: lf.digest, layer: lf.layer, diffId: lf.diffId };
}

/** A commit's result: the new layer (undefined when nothing changed). */
interface Committed {
  size?: number;
  digest?: string;
  layer?: Layer;
  diffId?: string;
}

/** The step's view for its handler. */
function stepContext(st: StageState, where: string, stepNo: number, line: number): StepContext {
  const file = st.options.services.file;
  return {
    where,
    stepNo,
    total: st.options.counter.total,
    config: st.config,
    meta: st.meta,
    scope: st.scope,
    word(w) {
      try {
        return st.lexer.processWord(w, st.scope.vars()).value;
      } catch (e) {
        if (e instanceof ShellExpansionError) throw new DockerfileError(e.message, { file, line });
        throw e;
      }
    },
    services: st.services,
    snapshotIgnore: st.snapshotIgnore,
    snapshotCtimeOnly: st.snapshotCtimeOnly,
    volumes: st.volumes,
  };
}

/** Runs one instruction and records it (a layer, or an empty history entry). Returns whether it touched files. */
async function runStep(st: StageState, ins: StageInstruction): Promise<boolean> {
  const s = st.services;
  const counter = st.options.counter;
  const stepNo = ++counter.step;
  const line = ins.location.startLine;
  const where = `${s.file}:${line}`;
  const t0 = performance.now();
  s.progress({
    type: "step-start",
    stage: st.plan.index,
    step: stepNo,
    total: counter.total,
    instruction: ins.original,
    line,
  });
  s.log.info(`STEP ${stepNo}/${counter.total}: ${ins.original}`, { "@phase": "step-start" });
  const handler = handlerOf(ins);
  const ctx = stepContext(st, where, stepNo, line);
  let layer: Committed & { cached?: boolean } = {};
  try {
    const expanded = (handler.expand === false ? ins : st.scope.expand(ins)) as StageInstruction;
    const cached = await fromCache(st, expanded, ctx);
    if (cached) layer = cached;
    else {
      const outcome = await handler.execute(expanded as never, ctx);
      const createdBy = outcome?.createdBy ?? ins.original;
      if (handler.changesFilesystem && !st.options.layers.single) {
        layer = await commit(st, createdBy, expanded.kind === "run");
      } else st.config.history!.push({ created: nowIso(s.fixedTime), created_by: createdBy, empty_layer: true });
      if (handler.changesFilesystem) await advanceKey(st, expanded, ctx, layer, createdBy);
    }
  } catch (e) {
    // Every user error names the Dockerfile line; the error keeps its class and fields (the location is added).
    throw locate(e, where, s.file);
  }
  const durationMs = performance.now() - t0;
  s.progress({
    type: "step-done",
    stage: st.plan.index,
    step: stepNo,
    total: counter.total,
    instruction: ins.original,
    durationMs,
    ...(layer.size === undefined ? {} : { layerSize: layer.size, layerDigest: layer.digest as `sha256:${string}` }),
    ...(layer.cached ? { cached: true } : {}),
  });
  const size = layer.size === undefined ? "no layer" : `layer ${formatBytes(layer.size)}`;
  const how = layer.cached ? "from the cache" : "done";
  s.log.info(`STEP ${stepNo}/${counter.total} ${how} in ${(durationMs / 1000).toFixed(2)}s, ${size}`, {
    "@phase": "step-done",
  });
  return handler.changesFilesystem && !layer.cached;
}

/**
 * Looks a cacheable step up: on a hit, its layer (lazy, not downloaded) and history are recorded, its config effects
 * applied, and the layer queued for the rootfs; returns undefined on a miss (or when the step is not cached).
 */
async function fromCache(
  st: StageState,
  ins: StageInstruction,
  ctx: StepContext,
): Promise<(Committed & { cached: true }) | undefined> {
  const cache = st.options.cache;
  if (!cache || st.options.layers.single || !cacheable(ins, cache.settings)) return undefined;
  const key = await stepKey(st.key, ins, ctx, cache.stageKey);
  st.key = key;
  const entry = await cache.settings.store.get(key, st.services.signal ? { signal: st.services.signal } : {});
  if (!entry) return undefined;
  handlerOf(ins).applyCached?.(ins as never, ctx);
  const created = nowIso(st.services.fixedTime);
  const createdBy = entry.createdBy ?? ins.original;
  if (!entry.layer) {
    st.config.history!.push({ created, created_by: createdBy, empty_layer: true });
    return { cached: true };
  }
  st.layers.push(entry.layer);
  st.services.onLayer?.(entry.layer);
  st.config.rootfs.diff_ids.push(await entry.layer.diffId());
  st.config.history!.push({ created, created_by: createdBy });
  st.pending.push(entry.layer);
  return { cached: true, size: await entry.layer.size(), digest: await entry.layer.digest() };
}

/**
 * After a step that ran and may have changed files: the next key (a cacheable step's came from its inputs in the
 * lookup; RUN, COPY and WORKDIR whose caching is off take theirs the same way; ADD from the layer it made), and the
 * new entry stored in the background.
 */
async function advanceKey(
  st: StageState,
  ins: StageInstruction,
  ctx: StepContext,
  layer: Committed,
  createdBy: string,
): Promise<void> {
  const cache = st.options.cache;
  if (!cache || st.options.layers.single) return;
  if (!cacheable(ins, cache.settings)) {
    st.key = ins.kind === "run" || ins.kind === "copy" || ins.kind === "workdir"
      ? await stepKey(st.key, ins, ctx, cache.stageKey)
      : chainKey(st.key, { layer: layer.diffId ?? "empty" });
    return;
  }
  if (!cache.settings.push) return;
  const signal = st.services.signal;
  st.puts.push(cache.settings.store.put(st.key, {
    ...(layer.layer ? { layer: layer.layer } : {}),
    createdBy,
  }, signal ? { signal } : {}));
}

/**
 * Gives a user error its Dockerfile location: a `KilnError` whose message does not name the file yet gets the
 * `FILE:LINE: ` prefix in place (same object, class and fields, `location` set); aborts pass as they are.
 */
function locate(e: unknown, where: string, file: string): unknown {
  if (!(e instanceof KilnError) || e instanceof AbortedError) return e;
  if (!e.message.startsWith(`${file}:`)) {
    e.message = `${where}: ${e.message}`;
    if (e.location === undefined) e.location = where;
  }
  return e;
}

/** The base image's ONBUILD triggers, to run first (then cleared: Docker/BuildKit semantics). */
function withTriggers(st: StageState): StageInstruction[] {
  const triggers = st.config.config?.OnBuild ?? [];
  if (triggers.length === 0) return st.plan.instructions;
  const s = st.options.services;
  const planned = planOnbuildTriggers(triggers, { file: s.file, line: st.plan.line, allow: s.allow });
  st.options.counter.total += triggers.length;
  delete st.config.config!.OnBuild;
  return [...planned, ...st.plan.instructions];
}

/**
 * Runs one stage on top of its base.
 *
 * @param plan The stage.
 * @param base The base config and layers; for `FROM <stage>` also that stage's final scope.
 * @param options Services, layer and variable options, labels, the build's step counter.
 * @returns The stage result; with `keepRootfs`, its `rootfs()` for later stages.
 */
export async function runStage(
  plan: StagePlan,
  base: StageStart,
  options: StageOptions,
): Promise<StageResult> {
  const st = startState(plan, base, options);
  const s = st.services;
  const instructions = withTriggers(st);
  let fsTouched = false;
  let yieldedAt = performance.now();
  for (const ins of instructions) {
    // Metadata steps never await: without a macrotask now and then, a stage of 100,000 LABELs would run to its end
    // before a SIGTERM (or any other abort) is even seen.
    if (performance.now() - yieldedAt > YIELD_EVERY_MS) {
      await macrotask();
      yieldedAt = performance.now();
    }
    if (s.signal?.aborted) throw new AbortedError("Build aborted");
    if (await runStep(st, ins)) fsTouched = true;
  }
  if (options.layers.single && fsTouched) {
    // The one layer of the stage goes with the last step's history entry.
    const last = st.config.history!.pop();
    await commit(st, last?.created_by ?? "kiln single snapshot");
  }
  if (options.materialize) await st.services.rootfs();
  await Promise.all(st.puts);
  if (instructions.length > 0) st.config.created = nowIso(s.fixedTime);
  const snapshot = st.scope.snapshot();
  // The image through lib/image: the base with the new layers appended, then the stage's config. Metadata steps
  // edit one config in place instead of a withConfig() each (100,000 LABELs stay linear).
  const config = st.config;
  const image = withConfig(appendLayers(base.image, st.layers.slice(base.layers.length)), () => config);
  return {
    index: plan.index,
    ...(plan.name ? { name: plan.name } : {}),
    image,
    config: st.config,
    layers: st.layers,
    args: snapshot.args.flatMap((a): [string, string][] => (a.value === undefined ? [] : [[a.key, a.value]])),
    scope: snapshot,
    ...(options.cache ? { cacheKey: st.key } : {}),
    ...(options.keepRootfs ? { rootfs: async () => (await st.services.rootfs()).dir } : {}),
  };
}
