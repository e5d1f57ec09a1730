/**
 * `build()`: a Dockerfile and a context in, an image out — pushed to registries and/or written as an OCI layout,
 * a `docker save` tarball and digest files. The CLI's `kiln build` is a thin layer over it.
 *
 * @module
 */
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { copyInto } from "../copy/copy.ts";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import type { Digest } from "../util/digest.ts";
import { sha256 } from "../util/digest.ts";
import { AbortedError, KilnError } from "../util/errors.ts";
import { type Logger, nullLogger } from "../util/logger.ts";
import type { ImageConfig, Layer, Platform } from "../image/types.ts";
import { imageFromParts } from "../image/image.ts";
import { MediaTypes } from "../image/media_types.ts";
import { formatPlatform, hostPlatform, parsePlatform } from "../image/platform.ts";
import { createSnapshotter, type Snapshotter } from "../fs/snapshot.ts";
import { loadWalker, xattrReaderOf } from "../fs/walker.ts";
import { trySyscalls } from "../fs/syscalls.ts";
import type { Walker } from "../fs/types.ts";
import { createSandbox } from "../sandbox/sandbox.ts";
import { defaultIgnoreList } from "../sandbox/ignore.ts";
import { detectContainer } from "../sandbox/container.ts";
import type { Sandbox } from "../sandbox/types.ts";
import { loadDockerignore } from "../context/dockerignore.ts";
import type { PathMatcher } from "../copy/types.ts";
import { resolveDockerfile } from "../context/dockerfile.ts";
import { writeOutputs } from "../output/write.ts";
import { checkPushPermission } from "../registry/push.ts";
import { buildStage, type StageEnv, type StageResult } from "./stage.ts";
import { planFromDockerfile } from "./plan.ts";
import { resolveBuildArgs } from "../dockerfile/plan.ts";
import { extractImage, resolveBaseImage } from "./_base.ts";
import type { BuildPlan } from "./steps.ts";
import type { BuildOptions, BuildProgressEvent, BuildResult, BuildRunOptions } from "./types.ts";
import { createSecretStore } from "./secrets.ts";
import { cannotExecute } from "./_exec_platform.ts";
import { createScheduler, prefixLogger, stagePrefix, stageTasks } from "./scheduler.ts";

/** Stage lookup by name or index. */
function findStage(results: Map<number, StageResult>, plan: BuildPlan, ref: string): StageResult | undefined {
  const lower = ref.toLowerCase();
  for (const s of plan.stages) {
    if (s.name === lower || String(s.index) === ref) return results.get(s.index);
  }
  return undefined;
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
 *   ociLayoutPath: "out/hello",
 *   noPush: true,
 * }, { onProgress: (e) => e.type === "step-done" && console.log(e.instruction, e.durationMs) });
 * console.log(result.digest);
 * ```
 */
export async function build(options: BuildOptions, run: BuildRunOptions = {}): Promise<BuildResult> {
  const log: Logger = run.logger ?? nullLogger;
  const signal = run.signal;
  const steps: BuildResult["steps"] = [];
  const progress = (e: BuildProgressEvent) => {
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
  const cwd = options.cwd ?? process.cwd();
  const contextDir = resolve(cwd, options.context);
  const destinations = options.destinations ?? [];
  if (!options.noPush && destinations.length === 0) {
    throw new KilnError("No --destination given: give one or more, or use --no-push", { exitCode: 2 });
  }
  const mode = options.sandbox ?? "sandbox";
  if (mode === "in-place" && options.cleanup) {
    // kaniko deletes the whole filesystem but its ignored paths; kiln does not do that yet, and says so.
    throw new KilnError("--cleanup is not supported with --in-place yet (sandbox builds always clean up)", {
      exitCode: 2,
    });
  }
  if (mode === "in-place" && !options.force && !detectContainer().inContainer) {
    // Checked before anything is extracted onto "/".
    throw new KilnError(
      "Refusing to build in place outside a container: it would overwrite this machine's / (use the sandbox mode, or --force if you really mean it)",
      { exitCode: 2 },
    );
  }
  if (!options.noPush && !options.skipPushPermissionCheck) {
    // kaniko's up-front probe: fail before a long build when a destination cannot be pushed to.
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
  const fixedTime = options.reproducible ? (options.sourceDateEpoch ?? 0) : undefined;
  const platform: Platform = options.platform ? parsePlatform(options.platform) : hostPlatform();
  const compression = options.compression ?? "gzip";
  const workRoot = options.workDir ?? tmpdir();
  await mkdir(workRoot, { recursive: true });
  const work = await mkdtemp(join(workRoot, "kiln-build-"));
  const sandboxes: Sandbox[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  try {
    // Dockerfile and .dockerignore.
    let text: string;
    const file = options.dockerfile ?? "Dockerfile";
    let dockerfilePath: string | undefined;
    if (options.dockerfileText !== undefined) {
      text = options.dockerfileText;
    } else {
      const df = await resolveDockerfile(file, contextDir, { workDir: work, cwd, ...(signal ? { signal } : {}) });
      cleanups.push(df.cleanup);
      text = await readFile(df.path, "utf8");
      dockerfilePath = df.path;
    }
    // A work dir inside the context (`--work-dir ./.work`) is left out of it: COPY . must not copy the build into itself.
    const { matcher } = await loadDockerignore(contextDir, {
      ...(dockerfilePath ? { dockerfilePath } : {}),
      workDir: workRoot,
    });
    const ignore: PathMatcher | undefined = matcher.patterns.length > 0
      ? { matches: (p: string) => matcher.ignores(p), canSkipDir: (p: string) => matcher.canSkipDir(p) }
      : undefined;
    const buildArgEnv = options.buildArgEnv ?? {};
    const secrets = createSecretStore(options.secrets ?? [], { env: options.secretEnv ?? {} });
    const runCacheDir = options.runCacheDir ?? join(workRoot, "kiln-run-cache");
    const plan = planFromDockerfile(text, {
      file,
      buildArgs: new Map(Object.entries(resolveBuildArgs(options.buildArgs ?? [], { env: buildArgEnv }))),
      ...(options.target ? { target: options.target } : {}),
      // BuildKit builds only what the target needs; kaniko (no --target, no flag) builds every stage.
      skipUnusedStages: options.skipUnusedStages ?? (options.target !== undefined && options.target !== ""),
      ...(options.maxExpansion === undefined ? {} : { maxExpansion: options.maxExpansion }),
      ...(options.allow ? { allow: options.allow } : {}),
      platform,
      buildPlatform: hostPlatform(),
    });
    for (const w of plan.warnings ?? []) log.warn(w);
    const uid = process.getuid?.();
    const writesFiles = plan.stages.some((s) =>
      s.base !== "scratch" || s.steps.some((st) => st.kind === "run" || st.kind === "copy" || st.kind === "workdir")
    );
    if (uid !== undefined && uid !== 0 && writesFiles) {
      // Only root can set file owners: extraction, COPY/ADD and WORKDIR leave the builder's own (lib/copy setOwner).
      log.warn(
        `kiln is not running as root (uid ${uid}): files in the image keep uid ${uid} as their owner (owners from the base image, archives and --chown need root)`,
      );
    }
    const walker: Walker = run.walker ?? loadWalker({ logger: log });
    const sc = trySyscalls();
    const xattrReader = sc ? xattrReaderOf(sc) : undefined;
    const ignoreList = defaultIgnoreList({
      mode,
      ignorePaths: options.ignorePaths ?? [],
      ...(options.ignoreVarRun === undefined ? {} : { ignoreVarRun: options.ignoreVarRun }),
      ...(mode === "in-place"
        ? { kilnDir: work, mountInfo: await readFile("/proc/self/mountinfo", "utf8").catch(() => "") }
        : {}),
    }).map((p) => p.replace(/^\/+/, ""));
    const results = new Map<number, StageResult>();
    const counter = { step: 0, total: plan.stages.reduce((n, s) => n + s.steps.length, 0) };
    const layerDir = join(work, "layers");
    await mkdir(layerDir, { recursive: true });
    const needRootfs = stagesNeedingRootfs(plan);
    // Independent stages run in parallel (lib/executor/scheduler.ts); in-place builds share "/" and run one at a time.
    const jobs = mode === "in-place" ? 1 : Math.max(1, Math.floor(options.jobs ?? availableParallelism()) || 1);
    const scheduler = createScheduler({ jobs, ...(signal ? { signal } : {}) });
    const buildLog = log;
    // COPY --from=<image> / RUN --mount=from=<image>: each image extracted once per build, on first use.
    const imageDirs = new Map<string, Promise<string>>();
    const imageDir = (from: string, where2: string): Promise<string> => {
      let p = imageDirs.get(from);
      if (!p) {
        const n = imageDirs.size;
        p = (async () => {
          const img = await resolveBaseImage(from, {
            where: where2,
            platform,
            buildContexts: options.buildContexts ?? {},
            registry: options.registry ?? {},
            cwd,
            log,
            signal: scheduler.signal,
          });
          const dir = join(work, "from-images", String(n), "rootfs");
          await mkdir(dir, { recursive: true, mode: 0o755 });
          await extractImage(img.layers, dir, { where: where2, log, signal: scheduler.signal });
          return dir;
        })();
        imageDirs.set(from, p);
      }
      return p;
    };

    await scheduler.run<StageResult>(stageTasks(plan), async (index, sched) => {
      const stage = plan.stages.find((s) => s.index === index)!;
      const signal = sched.signal;
      const log = plan.stages.length > 1 ? prefixLogger(buildLog, stagePrefix(stage)) : buildLog;
      if (signal?.aborted) throw new AbortedError("Build aborted");
      const where = `${file}:${stage.line}`;
      progress({ type: "stage", stage: stage.index, ...(stage.name ? { name: stage.name } : {}), base: stage.base });
      log.info(`FROM ${stage.base}${stage.name ? ` AS ${stage.name}` : ""}`, { stage: stage.index });
      const fromStage = stage.baseStage === undefined ? undefined : results.get(stage.baseStage);
      let baseConfig: ImageConfig;
      let baseLayers: Layer[];
      let baseArgs: [string, string][] | undefined;
      let baseScope: StageResult["scope"];
      if (fromStage) {
        baseConfig = fromStage.config;
        baseLayers = fromStage.layers;
        baseArgs = fromStage.args;
        baseScope = fromStage.scope;
      } else {
        const b = await resolveBaseImage(stage.base, {
          where,
          platform: stage.platform ? parsePlatform(stage.platform) : platform,
          buildContexts: options.buildContexts ?? {},
          registry: options.registry ?? {},
          cwd,
          log,
          ...(signal ? { signal } : {}),
        }).catch((e) => {
          // `FROM b` before `AS b`: an image for BuildKit too, but the user most likely meant the stage.
          const later = plan.stages.find((p) => p.index > stage.index && p.name === stage.base.toLowerCase());
          if (!later || !(e instanceof KilnError) || signal.aborted) throw e;
          const why = e.cause instanceof Error ? e.cause.message : e.message;
          throw new KilnError(
            `${where}: FROM ${stage.base}: the stage "${later.name}" is defined later (line ${later.line}), and a FROM can only name an earlier stage; pulling it as an image failed: ${why}`,
            { cause: e },
          );
        });
        baseConfig = b.config;
        baseLayers = b.layers;
      }
      // RUN executes the base's programs: refuse up front a platform this machine cannot run (no binfmt emulator).
      const firstRun = stage.steps.find((s) => s.kind === "run") ??
        ((baseConfig.config?.OnBuild ?? []).some((t) => /^\s*run\b/i.test(t)) ? stage : undefined);
      if (firstRun) {
        const p: Platform = {
          os: baseConfig.os || platform.os,
          architecture: baseConfig.architecture || platform.architecture,
          ...(baseConfig.variant ? { variant: baseConfig.variant } : {}),
        };
        const why = cannotExecute(p, { host: hostPlatform() });
        if (why) {
          throw new KilnError(
            `${file}:${firstRun.line}: RUN cannot execute ${formatPlatform(p)} programs (stage ${
              stage.name ?? stage.index
            }, ${stage.text.trim()}): ${why}`,
          );
        }
      }
      const rootDir = mode === "in-place" ? "/" : join(work, `stage${stage.index}`, "rootfs");
      let rootfsReady: Promise<{ dir: string; snapshotter: Snapshotter }> | undefined;
      const materialize = async () => {
        await mkdir(rootDir, { recursive: true, mode: 0o755 });
        if (fromStage?.rootfs) {
          // lib/copy keeps owners, modes, hardlinks, xattrs, devices and times (node's fs.cp drops owners).
          await copyInto({
            srcRoot: fromStage.rootfs,
            sources: ["."],
            dest: "/",
            destRoot: rootDir,
            keepOwnership: true,
            instruction: "FROM",
            location: where,
            ...(signal ? { signal } : {}),
          }).catch(async () => {
            await rm(rootDir, { recursive: true, force: true });
            await mkdir(rootDir, { recursive: true });
            await extractImage(baseLayers, rootDir, { where, log, ...(signal ? { signal } : {}) });
          });
        } else if (baseLayers.length > 0) {
          await extractImage(baseLayers, rootDir, { where, log, ...(signal ? { signal } : {}) });
        }
        const snapshotter = createSnapshotter({
          root: rootDir,
          walker,
          mode: options.snapshotMode ?? "full",
          ignore: ignoreList,
          ...(xattrReader ? { xattrReader } : {}),
        });
        await snapshotter.init(signal ? { signal } : {});
        return { dir: rootDir, snapshotter };
      };
      let sandbox: Sandbox | undefined;
      const env: StageEnv = {
        file,
        contextDir,
        ...(ignore ? { ignore } : {}),
        layerDir,
        secrets,
        ...(options.gitEnv ? { gitEnv: options.gitEnv } : {}),
        runCacheDir,
        log,
        ...(signal ? { signal } : {}),
        progress,
        compression,
        ...(options.compressionLevel === undefined ? {} : { compressionLevel: options.compressionLevel }),
        singleSnapshot: options.singleSnapshot ?? false,
        ...(fixedTime === undefined ? {} : { fixedTime }),
        buildArgs: plan.buildArgs,
        metaArgs: plan.metaArgs,
        ...(plan.proxyEnv ? { proxyEnv: plan.proxyEnv } : {}),
        ...(plan.escapeToken ? { escapeToken: plan.escapeToken } : {}),
        ...(options.maxExpansion === undefined ? {} : { maxExpansion: options.maxExpansion }),
        ...(options.allow ? { allow: options.allow } : {}),
        ...(stage.index === plan.stages[plan.target]!.index && options.labels ? { labels: options.labels } : {}),
        counter,
        rootfs: () => rootfsReady ??= materialize(),
        sandbox: async () => {
          if (sandbox) return sandbox;
          const { dir } = await env.rootfs();
          sandbox = await createSandbox({
            mode,
            rootDir: dir,
            workDir: work,
            logger: log,
            // BuildKit's BUILDKIT_SANDBOX_HOSTNAME build arg names the RUN steps' host.
            ...(plan.buildArgs?.get("BUILDKIT_SANDBOX_HOSTNAME")
              ? { hostname: plan.buildArgs.get("BUILDKIT_SANDBOX_HOSTNAME")! }
              : {}),
            ...(options.sandboxHelper ? { helperPath: options.sandboxHelper } : {}),
            ...(options.force ? { force: true } : {}),
          });
          sandboxes.push(sandbox);
          return sandbox;
        },
        copySource: async (from, where2) => {
          let s = findStage(results, plan, from);
          const earlier = plan.stages.find((p) =>
            p.index < stage.index && (p.name === from.toLowerCase() || String(p.index) === from)
          );
          // A stage not in the dependency graph (named by an ONBUILD trigger of an image) may still be running.
          if (!s && earlier) s = await sched.waitFor(earlier.index);
          if (s) {
            if (!s.rootfs) {
              return Promise.reject(new KilnError(`${where2}: COPY --from=${from}: that stage has no filesystem`));
            }
            return Promise.resolve({ dir: s.rootfs, description: `stage ${from}` });
          }
          const isLaterStage = plan.stages.some((p) => p.name === from.toLowerCase() || String(p.index) === from);
          if (isLaterStage) {
            return Promise.reject(new KilnError(`${where2}: COPY --from=${from}: stage is not built before this one`));
          }
          const ctx = options.buildContexts?.[from];
          if (ctx !== undefined && !ctx.includes("://")) {
            return Promise.resolve({ dir: resolve(cwd, ctx), description: `context ${from}` });
          }
          // BuildKit takes a name that is no stage for an image: say both when that fails too.
          return imageDir(from, where2).then((dir) => ({ dir, description: `image ${from}` }), (e) => {
            if (!(e instanceof KilnError) || e instanceof AbortedError || sched.signal.aborted) throw e;
            const why = e.cause instanceof Error ? e.cause.message : e.message;
            throw new KilnError(
              `${where2}: --from=${from}: no build stage is named "${from}", and pulling it as an image failed: ${why}`,
              { cause: e },
            );
          });
        },
      };

      const result = await buildStage(stage, {
        config: baseConfig,
        layers: baseLayers,
        ...(baseArgs ? { args: baseArgs } : {}),
        ...(baseScope ? { scope: baseScope } : {}),
      }, env);
      if (needRootfs.has(stage.index)) {
        await env.rootfs(); // later stages read it (COPY --from / FROM <stage>)
        results.set(stage.index, { ...result, rootfs: rootDir });
      } else {
        results.set(stage.index, result);
        if (rootfsReady && mode !== "in-place") {
          await rm(join(work, `stage${stage.index}`), { recursive: true, force: true });
        }
      }
      if (sandbox) {
        await sandbox.close();
        sandboxes.splice(sandboxes.indexOf(sandbox), 1);
      }
      return results.get(stage.index)!;
    });

    const final = results.get(plan.stages[plan.target]!.index)!;
    const config: ImageConfig = { ...final.config, architecture: final.config.architecture || platform.architecture };
    if (!config.os) config.os = platform.os;
    if (fixedTime !== undefined) config.created = new Date(fixedTime * 1000).toISOString().replace(/\.000Z$/, "Z");
    else if (!config.created) config.created = new Date().toISOString();
    const image = imageFromParts({
      config,
      layers: final.layers,
      mediaType: options.format === "docker" ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST,
      ...(options.annotations && Object.keys(options.annotations).length ? { annotations: options.annotations } : {}),
    });
    const manifest = await image.manifest();
    const rawManifest = await image.rawManifest();
    const digest: Digest = sha256(rawManifest);
    const outputs = await writeOutputs(image, {
      destinations,
      noPush: options.noPush ?? false,
      ...(options.tarPath ? { tarPath: resolve(cwd, options.tarPath) } : {}),
      ...(options.ociLayoutPath ? { ociLayoutPath: resolve(cwd, options.ociLayoutPath) } : {}),
      ...(options.digestFile ? { digestFile: resolve(cwd, options.digestFile) } : {}),
      ...(options.imageNameWithDigestFile
        ? { imageNameWithDigestFile: resolve(cwd, options.imageNameWithDigestFile) }
        : {}),
      ...(options.imageNameTagWithDigestFile
        ? { imageNameTagWithDigestFile: resolve(cwd, options.imageNameTagWithDigestFile) }
        : {}),
      registry: options.registry ?? {},
      log,
      progress,
      ...(signal ? { signal } : {}),
    });
    log.info(`Built image ${digest} (${formatPlatform(platform)})`);
    return {
      digest,
      descriptor: { mediaType: manifest.mediaType ?? MediaTypes.OCI_MANIFEST, digest, size: rawManifest.byteLength },
      manifest,
      configDigest: manifest.config.digest,
      config: await image.config(),
      platform: { architecture: config.architecture, os: config.os },
      outputs,
      steps,
      warnings: plan.warnings ?? [],
    };
  } catch (e) {
    if (signal?.aborted && !(e instanceof KilnError)) throw new AbortedError("Build aborted");
    throw e;
  } finally {
    for (const sb of sandboxes) await sb.close().catch(() => {});
    for (const c of cleanups) await c().catch(() => {});
    await rm(work, { recursive: true, force: true }).catch((e) => log.warn(`Cannot remove ${work}: ${e.message}`));
  }
}

/** Stages whose rootfs later stages read (FROM <stage>, COPY --from=<stage>, RUN --mount from=<stage>). */
function stagesNeedingRootfs(plan: BuildPlan): Set<number> {
  // The same dependency graph the scheduler waits on.
  return new Set(stageTasks(plan).flatMap((t) => t.deps));
}
