/**
 * The stage builder: runs one stage's instructions against its own rootfs, snapshotting after each step that
 * may change files and turning each non-empty change set into a layer file; metadata-only steps and steps that
 * changed nothing get an `empty_layer` history entry.
 *
 * @module
 */
import { chmod, chown, mkdir } from "node:fs/promises";
import process from "node:process";
import type { ImageConfig, Layer } from "../image/types.ts";
import { AbortedError, KilnError } from "../util/errors.ts";
import type { Logger } from "../util/logger.ts";
import type { Snapshotter } from "../fs/snapshot.ts";
import type { Sandbox } from "../sandbox/types.ts";
import { resolveUser } from "../sandbox/user.ts";
import { copyInto } from "../copy/copy.ts";
import { addInto } from "../copy/add.ts";
import type { PathMatcher } from "../copy/types.ts";
import { resolveInRoot } from "../copy/resolve.ts";
import { copyInlineFiles } from "../copy/heredoc.ts";
import { type PreparedMounts, prepareMounts } from "./mounts/prepare.ts";
import { withoutPaths } from "./_snapshot_ignore.ts";
import type { SecretStore } from "./secrets.ts";
import { type Compression, writeLayerFile } from "./_layer_file.ts";
import { DEFAULT_PATH, shellForm } from "./config.ts";
import { createStageScope, type StageScopeState } from "../dockerfile/expand.ts";
import { createShellLexer } from "../dockerfile/shell_lexer.ts";
import { applyMetadata, type MetadataState } from "./instructions/metadata.ts";
import type { StagePlan, Step, StepSource } from "./steps.ts";
import { type Entitlement, planOnbuildTriggers } from "./plan.ts";
import type { BuildProgressEvent } from "./types.ts";

/** A layer produced or inherited by a stage. */
export interface StageLayer {
  /** The layer. */
  layer: Layer;
  /** Compressed size, when known. */
  size?: number;
}

/** What a finished stage hands to later stages and to the outputs. */
export interface StageResult {
  /** Stage index. */
  index: number;
  /** Stage name. */
  name?: string;
  /** Final config (history and diff_ids included). */
  config: ImageConfig;
  /** Base layers followed by this stage's layers. */
  layers: Layer[];
  /** Number of leading base layers (their descriptors are kept verbatim). */
  baseLayerCount: number;
  /** The stage's rootfs directory (for COPY --from and FROM <stage>), when it was materialized. */
  rootfs?: string;
  /** ARGs declared in the stage with their values (inherited by `FROM <stage>`, as BuildKit does). */
  args?: [string, string][];
  /** The stage's final ARG/ENV scope (lib/dockerfile `createStageScope`), the `parent` of a `FROM <stage>`. */
  scope?: StageScopeState;
}

/** What the stage builder needs from the build. */
export interface StageEnv {
  /** Dockerfile name for messages. */
  file: string;
  /** Context directory. */
  contextDir: string;
  /** `.dockerignore` matcher for the context. */
  ignore?: PathMatcher;
  /** Scratch directory for this stage's layer files. */
  layerDir: string;
  /** Secrets for `RUN --mount=type=secret` (`--secret`). */
  secrets?: SecretStore;
  /** GIT_USERNAME / GIT_PASSWORD / GIT_TOKEN for ADD of git sources (`BuildOptions.gitEnv`). */
  gitEnv?: Readonly<Record<string, string | undefined>>;
  /** Persistent directory of `RUN --mount=type=cache` caches (default: `<layerDir>/run-cache`, not persistent). */
  runCacheDir?: string;
  /** Logger. */
  log: Logger;
  /** Abort signal. */
  signal?: AbortSignal;
  /** Progress callback. */
  progress: (e: BuildProgressEvent) => void;
  /** Compression of new layers. */
  compression: Compression;
  /** Compression level. */
  compressionLevel?: number;
  /** One layer per stage. */
  singleSnapshot: boolean;
  /** Fixed timestamp (seconds) for layers and history (`--reproducible`). */
  fixedTime?: number;
  /** `--build-arg` values. */
  buildArgs: ReadonlyMap<string, string>;
  /** Global args: automatic platform args (TARGET*, BUILD*) and global ARG values (plan `globalArgs`). */
  metaArgs: ReadonlyMap<string, string>;
  /** Predefined proxy build args (plan `proxyEnv`): added to every RUN, never persisted. */
  proxyEnv?: Readonly<Record<string, string>>;
  /** The Dockerfile's escape token (default backslash). */
  escapeToken?: "\\" | "`";
  /** Most that substitutions may add to one word (`BuildOptions.maxExpansion`; default the lexer's 1 MiB). */
  maxExpansion?: number;
  /** Entitlements granted (`--allow`), for ONBUILD triggers of the base image. */
  allow?: readonly Entitlement[];
  /** Labels applied before the stage's own instructions (the target stage's `--label`s). */
  labels?: Record<string, string>;
  /** Step counter shared by the build. */
  counter: { step: number; total: number };
  /** Materializes the rootfs (extracts the base) on first need and returns its snapshotter. */
  rootfs(): Promise<{ dir: string; snapshotter: Snapshotter }>;
  /** Returns the sandbox for RUN (created on first use). */
  sandbox(): Promise<Sandbox>;
  /** Resolves `COPY --from` to a directory to copy from, and whether ownership is kept. */
  copySource(from: string, where: string): Promise<{ dir: string; description: string }>;
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

function historyText(step: Step, source: StepSource, config: ImageConfig): string {
  if (step.kind === "run") {
    const argv = step.cmd.shell ? shellForm(config.config ?? {}, step.cmd.command) : step.cmd.argv;
    return `RUN ${argv.join(" ")}`;
  }
  return source.text;
}

function humanSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

/**
 * Builds one stage on top of its base.
 *
 * @param plan The stage.
 * @param base The base config and layers; for `FROM <stage>` also that stage's final scope (`scope`).
 * @param env Build environment.
 * @returns The stage result.
 */
export async function buildStage(
  plan: StagePlan,
  base: { config: ImageConfig; layers: Layer[]; args?: readonly [string, string][]; scope?: StageScopeState },
  env: StageEnv,
): Promise<Omit<StageResult, "rootfs">> {
  const config: ImageConfig = structuredClone(base.config);
  config.history = [...(config.history ?? [])];
  config.rootfs = { type: "layers", diff_ids: [...config.rootfs.diff_ids] };
  delete config.created;
  const layers = [...base.layers];
  // BuildKit gives every image a PATH: Docker's default when the base config has none (FROM scratch included).
  if (!(config.config?.Env ?? []).some((e) => e.startsWith("PATH="))) {
    config.config = { ...(config.config ?? {}), Env: [`PATH=${DEFAULT_PATH}`, ...(config.config?.Env ?? [])] };
  }
  // ARG/ENV scoping is lib/dockerfile's (BuildKit's rules): the base image's Env, or the parent stage's scope (its
  // ENV and ARG values) for `FROM <stage>`; global args only through `ARG name`; build args override defaults.
  const scope = createStageScope({
    ...(base.scope ? { parent: base.scope } : { baseImageEnv: config.config?.Env ?? [] }),
    globalArgs: Object.fromEntries(env.metaArgs),
    buildArgs: Object.fromEntries(env.buildArgs),
    lexer: createShellLexer(
      env.escapeToken ?? "\\",
      env.maxExpansion === undefined ? {} : { maxExpansion: env.maxExpansion },
    ),
    filename: env.file,
    ...(config.os ? { os: config.os } : {}),
  });
  const state: MetadataState = { config, cmdSet: false };
  if (env.labels && Object.keys(env.labels).length > 0) {
    config.config = { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), ...env.labels } };
  }
  const created = () => nowIso(env.fixedTime);
  const mtime = env.fixedTime;
  const history = config.history;
  let layerNo = 0;
  // In-place mode: targets of RUN --mounts since the last snapshot, left out of it (mounts live on the real "/";
  // in sandbox mode they vanish with the step's namespace and the sandbox removes the mount points it made).
  const mountTargets: string[] = [];

  async function commit(createdBy: string): Promise<{ size?: number; digest?: string }> {
    const { dir, snapshotter } = await env.rootfs();
    const t0 = performance.now();
    const raw = await snapshotter.diff(env.signal ? { signal: env.signal } : {});
    const diff = mountTargets.length > 0 ? withoutPaths(raw, mountTargets.splice(0), dir) : raw;
    env.log.debug("snapshot", {
      ms: Math.round(performance.now() - t0),
      added: diff.added.length,
      modified: diff.modified.length,
      deleted: diff.deleted.length,
    });
    if (diff.empty) {
      history.push({ created: created(), created_by: createdBy, empty_layer: true });
      return {};
    }
    const path = `${env.layerDir}/stage${plan.index}-layer${layerNo++}.tar.${
      env.compression === "zstd" ? "zst" : "gz"
    }`;
    const lf = await writeLayerFile(
      diff.entries({ ...(mtime === undefined ? {} : { mtime }), ...(env.signal ? { signal: env.signal } : {}) }),
      {
        path,
        compression: env.compression,
        ...(env.compressionLevel === undefined ? {} : { level: env.compressionLevel }),
        ...(env.signal ? { signal: env.signal } : {}),
      },
    );
    layers.push(lf.layer);
    config.rootfs.diff_ids.push(lf.diffId);
    history.push({ created: created(), created_by: createdBy });
    env.log.debug("layer written", { entries: diff.entryCount, size: lf.size, digest: lf.digest });
    return { size: lf.size, digest: lf.digest };
  }

  // ONBUILD triggers of the base image run first, then are cleared (Docker/BuildKit semantics).
  const triggers = config.config?.OnBuild ?? [];
  let stepsToRun = plan.steps;
  if (triggers.length > 0) {
    stepsToRun = [
      ...planOnbuildTriggers(triggers, {
        file: env.file,
        line: plan.line,
        ...(env.allow ? { allow: env.allow } : {}),
      }),
      ...plan.steps,
    ];
    env.counter.total += triggers.length;
    delete config.config!.OnBuild;
  }
  let fsTouched = false;
  let yieldedAt = performance.now();
  for (const planned of stepsToRun) {
    // Metadata steps never await: without a macrotask now and then, a stage of 100,000 LABELs would run to its end
    // before a SIGTERM (or any other abort) is even seen.
    if (performance.now() - yieldedAt > YIELD_EVERY_MS) {
      await macrotask();
      yieldedAt = performance.now();
    }
    if (env.signal?.aborted) throw new AbortedError("Build aborted");
    const stepNo = ++env.counter.step;
    const where = `${env.file}:${planned.line}`;
    const t0 = performance.now();
    env.progress({
      type: "step-start",
      stage: plan.index,
      step: stepNo,
      total: env.counter.total,
      instruction: planned.text,
      line: planned.line,
    });
    env.log.info(`STEP ${stepNo}/${env.counter.total}: ${planned.text}`);
    let step: Step;
    if (planned.arg) {
      const declared = scope.declareArgs(planned.arg);
      step = {
        kind: "arg",
        args: declared.map((a) => ({ name: a.key, ...(a.value === undefined ? {} : { value: a.value }) })),
      };
    } else step = planned.resolve(scope.vars());
    let changesFs = false;
    try {
      if (!applyMetadata(state, step, where)) {
        changesFs = true;
        await runFsStep(step, planned, where, stepNo);
      }
      if (step.kind === "env") scope.setEnv(step.pairs.map(([key, value]) => ({ key, value })));
    } catch (e) {
      // Every user error names the Dockerfile line (errors from lib/copy, lib/sandbox… may not).
      if (e instanceof KilnError && !e.message.startsWith(`${env.file}:`) && !(e instanceof AbortedError)) {
        throw new KilnError(`${where}: ${e.message}`, { cause: e, exitCode: e.exitCode });
      }
      throw e;
    }
    const createdBy = historyText(step, planned, config);
    let layer: { size?: number; digest?: string } = {};
    if (changesFs) fsTouched = true;
    if (changesFs && !env.singleSnapshot) layer = await commit(createdBy);
    else history.push({ created: created(), created_by: createdBy, empty_layer: true });
    const durationMs = performance.now() - t0;
    env.progress({
      type: "step-done",
      stage: plan.index,
      step: stepNo,
      total: env.counter.total,
      instruction: planned.text,
      durationMs,
      ...(layer.size === undefined ? {} : { layerSize: layer.size, layerDigest: layer.digest as `sha256:${string}` }),
    });
    env.log.info(
      `STEP ${stepNo}/${env.counter.total} done in ${(durationMs / 1000).toFixed(2)}s, ${
        layer.size === undefined ? "no layer" : `layer ${humanSize(layer.size)}`
      }`,
    );
  }
  if (env.singleSnapshot && fsTouched) {
    // The one layer of the stage goes with the last step's history entry.
    const last = history.pop();
    await commit(last?.created_by ?? "kiln single snapshot");
  }
  if (stepsToRun.length > 0) config.created = created();
  const snapshot = scope.snapshot();
  return {
    index: plan.index,
    ...(plan.name ? { name: plan.name } : {}),
    config,
    layers,
    baseLayerCount: base.layers.length,
    args: snapshot.args.flatMap((a): [string, string][] => (a.value === undefined ? [] : [[a.key, a.value]])),
    scope: snapshot,
  };

  async function runFsStep(step: Step, source: StepSource, where: string, stepNo: number): Promise<void> {
    const { dir } = await env.rootfs();
    const cfg = config.config ?? {};
    const workdir = cfg.WorkingDir || "/";
    switch (step.kind) {
      case "run": {
        const argv = step.cmd.shell ? shellForm(cfg, step.cmd.command) : step.cmd.argv;
        if (argv.length === 0) throw new KilnError(`${where}: RUN needs a command`);
        const resolved = await resolveUser(dir, cfg.User ?? "");
        // BuildKit (executor/oci ensureAdditionalGids) and runc list the primary gid among the groups too.
        const user = resolved.groups.includes(resolved.gid)
          ? resolved
          : { ...resolved, groups: [resolved.gid, ...resolved.groups] };
        // ENV and declared ARGs, the last writer of a name winning (BuildKit's dispatch environment).
        // Proxy build args reach RUN without an ARG, unless the stage set the name itself.
        const vars = scope.env();
        const runEnv = [
          ...Object.entries(vars),
          ...Object.entries(env.proxyEnv ?? {}).filter(([k]) => !Object.hasOwn(vars, k)),
        ].map(([k, v]) => `${k}=${v}`);
        await ensureDir(dir, workdir, { uid: 0, gid: 0 });
        const sb = await env.sandbox();
        // RUN --mount and heredoc script files (lib/executor/mounts); released after the step.
        let prepared: PreparedMounts | undefined;
        if (step.mounts?.length || step.files?.length) {
          prepared = await prepareMounts(step.mounts ?? [], {
            contextDir: env.contextDir,
            ...(env.ignore ? { contextIgnore: env.ignore } : {}),
            resolveFrom: async (from) => (await env.copySource(from, where)).dir,
            cacheDir: env.runCacheDir ?? `${env.layerDir}/run-cache`,
            scratchDir: env.layerDir,
            ...(env.secrets ? { secrets: env.secrets } : {}),
            location: where,
            ...(env.signal ? { signal: env.signal } : {}),
          }, { files: step.files ?? [] });
          if (sb.mode === "in-place") {
            mountTargets.push(...prepared.snapshotIgnore);
            if (prepared.mounts.length > 0) {
              // lib/sandbox's in-place runner does not mount yet (RunStep.mounts are ignored there): refuse rather
              // than run the command without its mounts. Remove this check when it does; the snapshot side is ready.
              await prepared.release();
              throw new KilnError(
                `${where}: RUN --mount and #! heredoc scripts need the sandbox: the in-place runner cannot mount them yet`,
              );
            }
          }
        }
        const res = await sb.run({
          argv,
          env: prepared?.env.length ? [...runEnv, ...prepared.env] : runEnv,
          ...(prepared?.mounts.length ? { mounts: prepared.mounts } : {}),
          cwd: workdir,
          user,
          ...(step.network ? { network: step.network } : {}),
          ...(step.security ? { security: step.security } : {}),
          stdout: (line) => {
            env.log.info(line);
            env.progress({ type: "output", step: stepNo, stream: "stdout", line });
          },
          stderr: (line) => {
            env.log.info(line);
            env.progress({ type: "output", step: stepNo, stream: "stderr", line });
          },
          ...(env.signal ? { signal: env.signal } : {}),
        }).finally(() => prepared?.release());
        env.log.debug("run finished", { exitCode: res.exitCode });
        if (res.exitCode !== 0) {
          throw new KilnError(
            `${where}: step ${stepNo}/${env.counter.total} "${oneLine(source.text)}" failed: exit code ${res.exitCode}`,
          );
        }
        return;
      }
      case "copy": {
        let chown: { uid: number; gid: number } | undefined;
        if (step.chown !== undefined && step.chown !== "") {
          const u = await resolveUser(dir, step.chown);
          chown = { uid: u.uid, gid: u.gid };
        }
        const fromStage = step.from !== undefined ? await env.copySource(step.from, where) : undefined;
        const common = {
          srcRoot: fromStage ? fromStage.dir : env.contextDir,
          sources: step.sources,
          dest: step.dest,
          workdir,
          destRoot: dir,
          ...(chown ? { chown } : {}),
          keepOwnership: fromStage !== undefined,
          ...(step.chmod !== undefined ? { chmod: step.chmod } : {}),
          ...(step.parents ? { parents: true } : {}),
          ...(step.exclude?.length ? { exclude: step.exclude } : {}),
          ...(fromStage === undefined && env.ignore ? { ignore: env.ignore } : {}),
          ...(step.link ? { link: true } : {}),
          instruction: step.add ? "ADD" : "COPY",
          location: where,
          ...(fromStage ? { srcDescription: fromStage.description } : {}),
          ...(env.fixedTime !== undefined ? { now: env.fixedTime } : {}),
          ...(env.signal ? { signal: env.signal } : {}),
        };
        if (step.inline?.length) {
          const { srcRoot: _s, sources: _src, ignore: _i, parents: _p, ...rest } = common as typeof common & {
            ignore?: unknown;
            parents?: unknown;
          };
          await copyInlineFiles({ ...rest, files: step.inline, tmpDir: env.layerDir });
          if (step.sources.length === 0) return;
        }
        if (step.add) {
          await addInto({
            ...common,
            tmpDir: env.layerDir,
            ...(step.checksum !== undefined ? { checksum: step.checksum } : {}),
            ...(step.keepGitDir ? { keepGitDir: true } : {}),
            ...(step.unpack !== undefined ? { unpack: step.unpack } : {}),
            ...(env.gitEnv ? { gitEnv: env.gitEnv } : {}),
            // BuildKit's ADD credentials: secrets HTTP_AUTH_HEADER_<host> / HTTP_AUTH_TOKEN_<host>.
            ...(env.secrets
              ? {
                authorization: async (host: string) => {
                  const dec = (b: Uint8Array | undefined) => b === undefined ? undefined : new TextDecoder().decode(b);
                  const header = dec(await env.secrets!.get(`HTTP_AUTH_HEADER_${host}`));
                  if (header !== undefined) return header;
                  const token = dec(await env.secrets!.get(`HTTP_AUTH_TOKEN_${host}`));
                  return token === undefined ? undefined : `Bearer ${token}`;
                },
              }
              : {}),
          });
        } else await copyInto(common);
        return;
      }
      case "workdir": {
        const path = step.path.startsWith("/") ? step.path : `${workdir.replace(/\/$/, "")}/${step.path}`;
        const clean = "/" + path.split("/").filter((c) => c !== "" && c !== ".").join("/");
        config.config = { ...cfg, WorkingDir: clean };
        const user = await resolveUser(dir, cfg.User ?? "");
        await ensureDir(dir, clean, { uid: user.uid, gid: user.gid });
        return;
      }
      default:
        throw new KilnError(`${where}: ${source.text.split(/\s/)[0]} is not supported`);
    }
  }
}

function oneLine(s: string): string {
  const t = s.replace(/\s*\\?\n\s*/g, " ");
  return t.length > 80 ? t.slice(0, 77) + "..." : t;
}

/**
 * Creates `path` (absolute in the image) inside `root` when missing, each new component 0755 owned by `owner`.
 *
 * @param root Rootfs directory.
 * @param path Image path.
 * @param owner Owner of created directories.
 */
async function ensureDir(root: string, path: string, owner: { uid: number; gid: number }): Promise<void> {
  const comps = path.split("/").filter((c) => c !== "");
  let cur = "";
  for (const c of comps) {
    cur += "/" + c;
    const host = resolveInRoot(root, cur);
    try {
      await mkdir(host, { mode: 0o755 });
      // Not root: the directory keeps the builder's owner (build() warned), as files from COPY and archives do.
      await chown(host, owner.uid, owner.gid).catch((e) => {
        if ((e as { code?: string }).code !== "EPERM" || process.getuid?.() === 0) throw e;
      });
      await chmod(host, 0o755);
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") {
        throw new KilnError(`Cannot create directory ${cur} in the rootfs: ${(e as Error).message}`, { cause: e });
      }
    }
  }
}
