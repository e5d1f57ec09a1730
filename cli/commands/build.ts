/**
 * `kiln build`: kaniko's executor flags (kebab-case names plus the old camelCase aliases) over
 * {@linkcode build} from lib/executor. Also what `kiln` runs when no subcommand is given.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import type { CliCommand, CliIO } from "../command.ts";
import { B, bool, type FlagSpec, L, list, parseFlags, S, str } from "../flags.ts";
import {
  buildArgsFromFlags,
  DEFAULT_CACHE_DIR,
  intFlag,
  kvMap,
  logFormatFor,
  REGISTRY_FLAGS,
  registryOptionsFromFlags,
  ttlFlag,
} from "../common_flags.ts";
import { createLogger, type Logger, parseLogLevel, UsageError } from "../../lib/util/mod.ts";
import {
  type AttestationRequest,
  build,
  type BuildLayerOptions,
  type BuildOptions,
  type BuildOutputOptions,
  type BuildProgressEvent,
  type BuildRegistryOptions,
  type BuildSandboxOptions,
  type BuildSnapshotOptions,
  parseSecretFlag,
  planFromDockerfile,
  telemetryFromEnv,
} from "../../lib/executor/mod.ts";
import { loadWalker, parseWalkerPreference, type SnapshotMode } from "../../lib/fs/mod.ts";
import { isRemoteContext, parseGitOptions, resolveContext, resolveDockerfile } from "../../lib/context/mod.ts";
import { parseGoDuration } from "../../lib/dockerfile/mod.ts";
import { formatPlatform, hostPlatform, parsePlatform } from "../../lib/image/mod.ts";
import { createTtyDisplay, type TtyDisplay, ttyLogger } from "../progress_tty.ts";

/** Flags of `kiln build` (kaniko executor compatible). */
export const BUILD_FLAGS: readonly FlagSpec[] = [
  S("dockerfile", "Dockerfile path: relative to the context (or cwd), absolute, or an http(s) URL", {
    short: "f",
    value: "PATH",
    default: "Dockerfile",
  }),
  S("context", "Build context: a local directory or dir://DIR (other schemes: see README)", {
    short: "c",
    value: "DIR",
    default: ".",
  }),
  S("context-sub-path", "Directory inside the context to use as its root", { value: "DIR" }),
  L("git", "Git context option: branch=NAME, single-branch=BOOL, recurse-submodules=BOOL, insecure-skip-tls=BOOL", {
    value: "K=V",
  }),
  L("destination", "Image reference to push to", { short: "d", value: "REF" }),
  L("build-arg", "Build argument K=V (bare K takes the value from the environment)", { value: "K=V" }),
  L("target", "Stage(s) to build, repeated or comma-separated; the first is pushed (default: the last stage)", {
    value: "STAGE",
  }),
  B("skip-unused-stages", "Build only the stages the targets need (default true; false builds every stage)"),
  B(
    "push-early",
    "Upload each layer of the image while later steps run (default true; false: all after the last step)",
  ),
  B("dryrun", "Print the plan (stages, bases, steps) and exit without building"),
  S("image-format", "Manifest media types: oci or docker (default oci)", { value: "FMT" }),
  B("materialize", "In place: leave the target's filesystem on / even when every step came from the cache"),
  B("pre-cleanup", "In place: empty the filesystem (all but ignored paths) before the build", {
    env: "KANIKO_PRE_CLEANUP",
  }),
  B("preserve-context", "Accepted: kiln never removes the build context between stages", {
    env: "KANIKO_PRESERVE_CONTEXT",
  }),
  S("bucket", "Build context from a bucket: NAME (gs://NAME) or a URL (s3://…, gs://…); used without --context", {
    short: "b",
    value: "B",
  }),
  S("jobs", "Most stages built in parallel (default: the number of CPUs; 1 = sequential)", { short: "j", value: "N" }),
  S("snapshot-mode", "Change detection: full, redo or time", {
    aliases: ["snapshotMode"],
    value: "MODE",
    default: "full",
  }),
  B("single-snapshot", "One layer per stage"),
  B("reproducible", "Fixed timestamps (SOURCE_DATE_EPOCH or 0) so the same inputs give the same digest"),
  S("compression", "Layer compression: gzip or zstd", { value: "ALG", default: "gzip" }),
  S("compression-level", "Compression level (<= 0: default)", { value: "N" }),
  L("label", "Label K=V for the image (Dockerfile LABELs override it)", { value: "K=V" }),
  L("annotation", "Manifest annotation K=V", { value: "K=V" }),
  L("custom-platform", "Platform os/arch[/variant] to build (a list builds each and pushes one index)", {
    aliases: ["customPlatform"],
    value: "P",
  }),
  L("platform", "Platforms to build, P1,P2,…: one image index listing each platform's image", {
    value: "P",
  }),
  L("attest", "Attach an attestation: type=provenance[,mode=min|max] or type=sbom", { value: "SPEC" }),
  L("secret", "Secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR", { value: "SPEC" }),
  S("run-cache-dir", "Directory kept across builds for RUN --mount=type=cache", { value: "DIR" }),
  L("build-context", "Named context NAME=oci-layout://DIR[:TAG] (FROM NAME) or NAME=DIR (COPY --from=NAME)", {
    value: "NAME=VALUE",
  }),
  B("no-push", "Build only; do not push", { aliases: ["noPush"], env: "KANIKO_NO_PUSH" }),
  S("tar-path", "Also write a docker save tarball", { aliases: ["tarPath"], value: "FILE" }),
  S("oci-layout-path", "Also write an OCI image layout", { value: "DIR" }),
  S("digest-file", "Write the image digest to this file", { value: "FILE" }),
  S("image-name-with-digest-file", "Write repo@digest lines to this file", { value: "FILE" }),
  S("image-name-tag-with-digest-file", "Write repo:tag@digest lines to this file", { value: "FILE" }),
  B("cleanup", "Remove the build's filesystem afterwards (always done in sandbox mode)", { env: "KANIKO_CLEANUP" }),
  B("sandbox", "Run RUN steps in a namespaced chroot of a per-stage rootfs (default)"),
  B(
    "in-place",
    "Build on / as kaniko does (only inside a container, or with --force); --sandbox overrides the env default",
    {
      env: "KILN_IN_PLACE",
    },
  ),
  B("force", "Allow --in-place outside a container"),
  L("allow", "Grant an entitlement: security.insecure (lets RUN --security=insecure steps run unconfined)", {
    value: "ENTITLEMENT",
  }),
  S("sandbox-helper", "Path of the kiln-run RUN helper (default: native/helper/build/kiln-run in the checkout)", {
    value: "PATH",
    env: "KILN_RUN_HELPER",
  }),
  L("ignore-path", "Path left out of snapshots", { value: "PATH" }),
  B("ignore-var-run", "Leave /var/run out of snapshots (in-place mode; default true)", {
    aliases: ["whitelist-var-run"],
  }),
  S("kaniko-dir", "Scratch directory for the build", { env: "KANIKO_DIR", value: "DIR" }),
  S("work-dir", "Scratch directory for the build (default: the system temp dir)", { value: "DIR" }),
  S("walker", "Filesystem walker: auto, native or ts", { value: "W", default: "auto" }),
  B("debug-memory", "Log the memory after each step and the build's peak with its phase (info)"),
  S("native-addon", "kiln's native addon (walker, gzip); default: native/build/Release/kiln_native.node", {
    value: "PATH",
    env: "KILN_NATIVE_ADDON",
  }),
  ...REGISTRY_FLAGS,
  // The layer cache and the base-image cache (kaniko's flags and defaults).
  B("cache", "Use the layer cache (RUN results by default) and the base-image cache dir"),
  S("cache-repo", "Layer-cache repository, or oci:PATH (default: <first destination repository>/cache)", {
    value: "REPO",
  }),
  S("cache-dir", "Base-image cache directory filled by `kiln warm`, read with --cache=true", {
    value: "DIR",
    default: DEFAULT_CACHE_DIR,
  }),
  S("cache-ttl", "Oldest cache entry to use, a Go duration (default 336h)", { value: "DUR" }),
  B("cache-run-layers", "Cache RUN layers (default true)"),
  B("cache-copy-layers", "Cache COPY layers (default false; ADD is never cached)"),
  B("compressed-caching", "Accepted: cache layers are always the compressed layer files kiln writes"),
  B("no-push-cache", "Use the layer cache but store no new entries"),
  B("use-new-run", "Accepted: kiln's snapshots are always stat-based (the effect of kaniko's new run)"),
  B("force-build-metadata", "Accepted with a warning: metadata-only steps never add layers in kiln"),
  // Logging.
  S("verbosity", "Log level: trace, debug, info, warn, error, fatal, panic", {
    short: "v",
    value: "LEVEL",
    default: "info",
  }),
  S("log-format", "Log format: text, color or json", { value: "FMT", default: "color on a terminal, else text" }),
  S("progress", "Progress: auto (the live display on a terminal, else lines), tty, plain, json (also each event)", {
    value: "MODE",
    default: "auto",
  }),
  B("log-timestamp", "Prefix log lines with a timestamp"),
];

/** `--context`, or the context `--bucket` names (kaniko: a bare name is a GCS bucket). */
function contextSpecOf(v: Record<string, string | boolean | string[]>): string {
  const bucket = str(v, "bucket");
  if (bucket && str(v, "context") === undefined) return bucket.includes("://") ? bucket : `gs://${bucket}`;
  return str(v, "context") ?? ".";
}

/**
 * Turns parsed flags into build options (exported for tests).
 *
 * @param v Parsed flag values.
 * @param io CLI I/O (env, cwd).
 * @returns Build options.
 */
export function buildOptionsFromFlags(v: Record<string, string | boolean | string[]>, io: CliIO): BuildOptions {
  const env = io.env;
  const warn = (m: string) => void io.stderr(`kiln: warning: ${m}\n`);
  if (bool(v, "force-build-metadata")) {
    warn("--force-build-metadata has no effect: kiln never adds layers for metadata-only steps");
  }
  if (bool(v, "preserve-context")) warn("--preserve-context has no effect: kiln never removes the build context");
  // With KILN_IN_PLACE set (the executor image), an explicit --sandbox wins over that default.
  const inPlaceGiven = !env.KILN_IN_PLACE;
  if (bool(v, "sandbox") && bool(v, "in-place") && inPlaceGiven) {
    throw new UsageError("--sandbox and --in-place exclude each other");
  }
  const snapshotMode = (str(v, "snapshot-mode") ?? "full") as SnapshotMode;
  if (!["full", "redo", "time"].includes(snapshotMode)) {
    throw new UsageError(`Invalid --snapshot-mode "${snapshotMode}": expected full, redo or time`);
  }
  const compression = str(v, "compression") ?? "gzip";
  if (compression !== "gzip" && compression !== "zstd") {
    throw new UsageError(`Invalid --compression "${compression}": expected gzip or zstd`);
  }
  let context = contextSpecOf(v);
  if (context.startsWith("dir://")) context = context.slice("dir://".length);
  else if (/^[a-z0-9+]+:\/\//i.test(context)) {
    // Hook for remote contexts: resolved by lib/context before build() (see runBuild below).
  }
  const contextSub = str(v, "context-sub-path");
  const registry: BuildRegistryOptions = registryOptionsFromFlags(
    v,
    env,
    (m) => void io.stderr(`kiln: warning: ${m}\n`),
  );
  const level = intFlag(v, "compression-level");
  const sde = env.SOURCE_DATE_EPOCH;
  if (sde !== undefined && sde !== "" && !/^\d+$/.test(sde)) {
    throw new UsageError(`Invalid SOURCE_DATE_EPOCH "${sde}": expected seconds since the epoch`);
  }
  const allow = list(v, "allow").flatMap((a) => a.split(",")).filter((a) => a !== "");
  for (const a of allow) {
    if (a !== "security.insecure") {
      throw new UsageError(`Invalid --allow "${a}": the only entitlement is security.insecure`);
    }
  }
  const jobs = intFlag(v, "jobs");
  if (jobs !== undefined && jobs < 1) {
    throw new UsageError(`Invalid --jobs "${jobs}": expected a number of stages, at least 1`);
  }
  const targets = list(v, "target").flatMap((t) => t.split(",")).map((t) => t.trim()).filter((t) => t !== "");
  const formatFlag = str(v, "image-format");
  if (formatFlag !== undefined && formatFlag !== "oci" && formatFlag !== "docker") {
    throw new UsageError(`Invalid --image-format "${formatFlag}": expected oci or docker`);
  }
  const format = formatFlag as "oci" | "docker" | undefined;
  const inPlace = bool(v, "in-place") && !bool(v, "sandbox");
  for (const f of ["materialize", "pre-cleanup"] as const) {
    if (bool(v, f) && !inPlace) warn(`--${f} has no effect in sandbox mode (the build's filesystem is its own)`);
  }
  const platforms = [...list(v, "custom-platform"), ...list(v, "platform")]
    .flatMap((p) => p.split(",")).map((p) => p.trim()).filter((p) => p !== "").map((p) => parsePlatform(p));
  const attestations = list(v, "attest").map(parseAttestFlag);
  const path = (flag: string) => {
    const p = str(v, flag);
    return p ? resolve(io.cwd, p) : undefined;
  };
  const outputs: BuildOutputOptions = {
    destinations: list(v, "destination"),
    noPush: bool(v, "no-push"),
    skipPushPermissionCheck: bool(v, "skip-push-permission-check"),
    ...(v["push-early"] === undefined ? {} : { pushEarly: bool(v, "push-early") }),
    ...defined({
      tarPath: path("tar-path"),
      ociLayoutPath: path("oci-layout-path"),
      digestFile: path("digest-file"),
      imageNameWithDigestFile: path("image-name-with-digest-file"),
      imageNameTagWithDigestFile: path("image-name-tag-with-digest-file"),
      format,
    }),
  };
  const layers: BuildLayerOptions = {
    compression,
    reproducible: bool(v, "reproducible"),
    ...defined({
      compressionLevel: level,
      sourceDateEpoch: sde !== undefined && sde !== "" ? Number(sde) : undefined,
    }),
  };
  const snapshot: BuildSnapshotOptions = {
    mode: snapshotMode,
    single: bool(v, "single-snapshot"),
    ignorePaths: list(v, "ignore-path"),
    ignoreVarRun: v["ignore-var-run"] === undefined ? true : bool(v, "ignore-var-run"),
  };
  const sandbox: BuildSandboxOptions = {
    mode: inPlace ? "in-place" : "sandbox",
    cleanup: bool(v, "cleanup"),
    force: bool(v, "force"),
    ...(inPlace && bool(v, "materialize") ? { materialize: true } : {}),
    ...(inPlace && bool(v, "pre-cleanup") ? { preCleanup: true } : {}),
    ...defined({ helper: str(v, "sandbox-helper"), runCacheDir: path("run-cache-dir") }),
  };
  const cache = cacheOptionsFromFlags(v, io);
  const work = str(v, "work-dir") ?? str(v, "kaniko-dir");
  return {
    context: resolve(io.cwd, context, contextSub ?? "."),
    dockerfile: str(v, "dockerfile") ?? "Dockerfile",
    cwd: io.cwd,
    buildArgs: buildArgsFromFlags(list(v, "build-arg"), env),
    ...(v["skip-unused-stages"] === undefined ? {} : { skipUnusedStages: bool(v, "skip-unused-stages") }),
    labels: kvMap(list(v, "label"), "label"),
    annotations: kvMap(list(v, "annotation"), "annotation"),
    buildContexts: kvMap(list(v, "build-context"), "build-context"),
    secrets: list(v, "secret").map((x) => parseSecretFlag(x)),
    secretEnv: { ...env },
    gitEnv: { GIT_USERNAME: env.GIT_USERNAME, GIT_PASSWORD: env.GIT_PASSWORD, GIT_TOKEN: env.GIT_TOKEN },
    ...(allow.length > 0 ? { allow: ["security.insecure"] as const } : {}),
    ...(jobs === undefined ? {} : { jobs }),
    ...(targets.length > 0 ? { target: targets[0]! } : {}),
    ...(targets.length > 1 ? { alsoTargets: targets.slice(1) } : {}),
    ...(platforms.length === 1 ? { platform: platforms[0]! } : {}),
    ...(platforms.length > 1 ? { platforms } : {}),
    ...(attestations.length ? { attestations } : {}),
    ...(work ? { workDir: resolve(io.cwd, work) } : {}),
    outputs,
    layers,
    snapshot,
    sandbox,
    registry,
    ...(cache ? { cache } : {}),
  };
}

/**
 * `--attest type=provenance[,mode=min|max]` or `--attest type=sbom` (BuildKit's flag shape).
 *
 * @param spec The flag's value.
 * @returns The request.
 */
export function parseAttestFlag(spec: string): AttestationRequest {
  const fields = new Map<string, string>();
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new UsageError(`Invalid --attest "${spec}": expected KEY=VALUE pairs, e.g. type=provenance`);
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const type = fields.get("type");
  fields.delete("type");
  if (type === "sbom") {
    if (fields.size) throw new UsageError(`Invalid --attest "${spec}": type=sbom takes no ${[...fields.keys()][0]}`);
    return { type: "sbom" };
  }
  if (type !== "provenance") {
    throw new UsageError(`Invalid --attest "${spec}": type must be provenance or sbom`);
  }
  const mode = fields.get("mode") ?? "min";
  fields.delete("mode");
  if (mode !== "min" && mode !== "max") throw new UsageError(`Invalid --attest "${spec}": mode must be min or max`);
  if (fields.size) {
    throw new UsageError(
      `Invalid --attest "${spec}": type=provenance takes mode=min|max, not ${[...fields.keys()][0]}`,
    );
  }
  return { type: "provenance", mode };
}

/** The entries of `o` whose value is not `undefined` (for `exactOptionalPropertyTypes`). */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

/** `--cache` and its flags as {@linkcode BuildOptions.cache} (undefined without `--cache`). */
function cacheOptionsFromFlags(v: Record<string, string | boolean | string[]>, io: CliIO): BuildOptions["cache"] {
  if (!bool(v, "cache")) {
    // kaniko reads the dir only with --cache too; say so rather than let the build pull its bases unnoticed.
    if (str(v, "cache-dir")) void io.stderr("kiln: warning: --cache-dir is read only with --cache=true\n");
    return undefined;
  }
  const ttlMs = ttlFlag(str(v, "cache-ttl"), parseGoDuration);
  const repo = str(v, "cache-repo");
  return {
    ...(repo ? { repo } : {}),
    ...(ttlMs === undefined ? {} : { ttlMs }),
    runLayers: v["cache-run-layers"] === undefined ? true : bool(v, "cache-run-layers"),
    copyLayers: bool(v, "cache-copy-layers"),
    push: !bool(v, "no-push-cache"),
    baseImageDir: resolve(io.cwd, str(v, "cache-dir") ?? DEFAULT_CACHE_DIR),
  };
}

/** `--dryrun`: the plan as text — each stage to build with its base and steps, the target, the stages skipped. */
async function dryRun(opts: BuildOptions, io: CliIO): Promise<string> {
  const df = await resolveDockerfile(opts.dockerfile ?? "Dockerfile", opts.context, {
    workDir: opts.workDir ?? tmpdir(),
    cwd: io.cwd,
    signal: io.signal,
  });
  let text: string;
  try {
    text = await readFile(df.path, "utf8");
  } finally {
    await df.cleanup();
  }
  const platform = opts.platform ?? opts.platforms?.[0] ?? hostPlatform();
  const planOf = (o: { all?: boolean }) =>
    planFromDockerfile(text, {
      file: opts.dockerfile ?? "Dockerfile",
      buildArgs: new Map(Object.entries(opts.buildArgs ?? {})),
      ...(opts.target && !o.all ? { target: opts.target } : {}),
      ...(opts.alsoTargets && !o.all ? { alsoTargets: opts.alsoTargets } : {}),
      skipUnusedStages: o.all ? false : opts.skipUnusedStages ?? true,
      platform,
      buildPlatform: hostPlatform(),
      ...(opts.allow ? { allow: opts.allow } : {}),
    });
  const plan = planOf({});
  const all = planOf({ all: true });
  const lines: string[] = [];
  for (const [i, st] of plan.stages.entries()) {
    lines.push(
      `stage ${st.index}${st.name ? ` (${st.name})` : ""}: ${st.text.trim()}${i === plan.target ? "   <- target" : ""}`,
    );
    for (const ins of st.instructions) lines.push(`  ${plan.file}:${ins.location.startLine}  ${ins.original}`);
  }
  const shown = new Set(plan.stages.map((st) => st.index));
  const skipped = all.stages.map((st) => st.index).filter((i) => !shown.has(i));
  if (skipped.length) lines.push(`not built (no target needs them): stage ${skipped.join(", ")}`);
  const destinations = opts.outputs?.destinations ?? [];
  lines.push(`destinations: ${destinations.length ? destinations.join(", ") : "(none)"}`);
  if (opts.platforms && opts.platforms.length > 1) {
    lines.push(
      `platforms: ${opts.platforms.map(formatPlatform).join(", ")} (the plan above is ${formatPlatform(platform)}'s)`,
    );
  }
  return lines.join("\n") + "\n";
}

/** `kiln build`. */
export const buildCommand: CliCommand = {
  name: "build",
  summary: "Build an image from a Dockerfile (kaniko executor flags; the default command)",
  usage: "kiln build [flags]   e.g. kiln build -c . -f Dockerfile -d registry/app:tag",
  flags: BUILD_FLAGS,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, BUILD_FLAGS, io.env);
    if (positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}" (flags only)`);
    const level = parseLogLevel(str(values, "verbosity") ?? "info");
    const format = logFormatFor(str(values, "log-format"), io);
    const progressMode = str(values, "progress") ?? "auto";
    if (!["auto", "tty", "plain", "json"].includes(progressMode)) {
      throw new UsageError(`Invalid --progress "${progressMode}": expected auto, tty, plain or json`);
    }
    // The live display: asked for, or a terminal (not TERM=dumb) with text logs.
    const display = progressMode === "tty" ||
        (progressMode === "auto" && io.stderrIsTTY && io.env.TERM !== "dumb" && format !== "json")
      ? createTtyDisplay({
        write: (s) => void io.stderr(s),
        get columns() {
          return io.stderrSize?.().columns;
        },
        get rows() {
          return io.stderrSize?.().rows;
        },
      }, { color: format === "color" })
      : undefined;
    const base = createLogger({
      level,
      format,
      timestamp: bool(values, "log-timestamp"),
      write: display ? (line) => display.persist(line) : (line) => void io.stderr(line + "\n"),
    });
    const logger = display ? ttyLogger(base) : base;
    // json: each progress event of the library (steps, output lines, base extraction, blobs, outputs) as one line.
    const onProgress = progressMode === "json"
      ? (e: BuildProgressEvent) => void io.stderr(JSON.stringify({ progress: e }) + "\n")
      : display
      ? (e: BuildProgressEvent) => display.event(e)
      : undefined;
    try {
      return await buildWith(values, io, { logger, display, onProgress });
    } finally {
      display?.stop();
    }
  },
};

/** `kiln build` once its logger, live display and progress hook exist: options, a remote context, the build. */
async function buildWith(
  values: ReturnType<typeof parseFlags>["values"],
  io: CliIO,
  out: {
    logger: Logger;
    display: TtyDisplay | undefined;
    onProgress: ((e: BuildProgressEvent) => void) | undefined;
  },
): Promise<number> {
  const { logger, display, onProgress } = out;
  // OpenTelemetry: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, or the kaniko fork's KANIKO_TELEMETRY_ENDPOINT.
  const telemetry = telemetryFromEnv(io.env);
  let opts = buildOptionsFromFlags(values, io);
  // lib/context hook: a remote --context (tar://, s3://, gs://, git://, https://…) is fetched into the work
  // dir first (with --context-sub-path and --git applied) and removed afterwards.
  const contextSpec = contextSpecOf(values);
  const remote = isRemoteContext(contextSpec)
    ? await resolveContext(contextSpec, {
      workDir: opts.workDir ?? tmpdir(),
      env: io.env,
      cwd: io.cwd,
      stdin: () => io.stdin(),
      gitOptions: parseGitOptions(list(values, "git")),
      logger,
      signal: io.signal,
      ...(str(values, "context-sub-path") ? { subPath: str(values, "context-sub-path")! } : {}),
    })
    : undefined;
  if (remote) {
    opts = {
      ...opts,
      context: remote.dir,
      contextSource: { uri: remote.source, ...(remote.digest ? { digest: remote.digest } : {}) },
    };
  }
  if (bool(values, "dryrun")) {
    try {
      const text = await dryRun(opts, io);
      display?.stop();
      await io.stdout(text);
    } finally {
      await remote?.cleanup();
    }
    return 0;
  }
  const addonPath = str(values, "native-addon");
  const walker = loadWalker({
    prefer: parseWalkerPreference(str(values, "walker") ?? "auto"),
    logger,
    ...(addonPath === undefined ? {} : { addonPath }),
  });
  const result = await build(opts, {
    signal: io.signal,
    logger,
    walker,
    ...(addonPath ? { addonPath } : {}),
    ...(bool(values, "debug-memory") ? { debugMemory: true } : {}),
    ...(onProgress ? { onProgress } : {}),
    ...(telemetry ? { telemetry } : {}),
  }).finally(() => remote?.cleanup());
  display?.stop(); // the live area goes before the digest is printed (stdout may be the same terminal)
  await io.stdout(`${result.digest}\n`);
  return 0;
}
