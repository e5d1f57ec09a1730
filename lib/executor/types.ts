/**
 * Public types of {@linkcode build}: options mirroring kaniko's executor flags, run-time hooks, progress
 * events and the result.
 *
 * @module
 */
import type { Digest, Logger } from "../util/mod.ts";
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from "../image/mod.ts";
import type { SnapshotMode, Walker } from "../fs/mod.ts";
import type { RegistryOptions } from "../registry/mod.ts";
import type { SecretSpec } from "./secrets.ts";
import type { Entitlement } from "./plan.ts";

/** Registry transport options (kaniko's transport flags and credentials), as lib/registry takes them. */
export type BuildRegistryOptions = Omit<RegistryOptions, "signal" | "logger" | "platform">;

/**
 * Options of one build: the library form of `kiln build` flags, grouped by concern (what to build at the top;
 * `outputs`, `layers`, `snapshot`, `sandbox`, `registry`, `cache`). Values are typed, never flag syntax: the CLI
 * parses `K=V` strings and platform strings (cli/commands/build.ts), the library takes the results.
 */
export interface BuildOptions {
  /** Build context: a local directory (absolute, or relative to `cwd`). */
  readonly context: string;
  /**
   * Where the context came from when it was fetched (`--context git://…#ref`, `s3://…`): its URL without credentials
   * and, when known, its digest (`{ sha1: "<commit>" }`); provenance records them as its `configSource`.
   */
  readonly contextSource?: { readonly uri: string; readonly digest?: Readonly<Record<string, string>> };
  /** Dockerfile path: absolute, or relative to `cwd`, falling back to the context (default `<context>/Dockerfile`). */
  readonly dockerfile?: string;
  /** Dockerfile text; overrides `dockerfile` (its name is still used in messages). */
  readonly dockerfileText?: string;
  /** Directory relative paths are resolved against (default `process.cwd()` of the caller; the CLI passes its own). */
  readonly cwd?: string;
  /** `--build-arg`: values of build arguments (the CLI resolves a bare `--build-arg K` from its environment). */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** `--target`: the stage to build (default the last). */
  readonly target?: string;
  /**
   * Further `--target`s (`--target a,b` or repeated, as the kaniko fork): built as well, with the stages they need;
   * `target` (the first) is the image pushed and written.
   */
  readonly alsoTargets?: readonly string[];
  /**
   * `--skip-unused-stages`: build only the stages the targets depend on. Default true (BuildKit and the kaniko fork;
   * old kaniko built every stage): `false` builds every stage up to the last target.
   */
  readonly skipUnusedStages?: boolean;
  /** `--jobs`: most stages built at once (default: the number of CPUs; 1 = one after the other; in-place: 1). */
  readonly jobs?: number;
  /** `--custom-platform`: the target platform (default: the host's; parse strings with lib/image `parsePlatform`). */
  readonly platform?: Platform;
  /**
   * `--platform P1,P2,…`: build the image for each platform and write one image index (a Docker manifest list with
   * `outputs.format: "docker"`) listing each platform's image. One platform is the same as `platform`. Each platform
   * gets its own TARGET* args; a stage that names its own platform (`FROM --platform=$BUILDPLATFORM …`) and does not
   * depend on the target is built once for all. RUN steps of a foreign platform need a binfmt_misc emulator.
   */
  readonly platforms?: readonly Platform[];
  /**
   * `--attest type=provenance[,mode=min|max]`, `--attest type=sbom`: in-toto attestations (SLSA v1 provenance, an
   * SPDX 2.3 SBOM of the image's package databases) attached to each platform's image in BuildKit's layout, so the
   * output is an image index even for one platform. No `--secret` value, credential or RUN output is ever in one.
   */
  readonly attestations?: readonly AttestationRequest[];
  /** `--label K=V`, applied before the Dockerfile's own LABELs of the final stage. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Manifest annotations of the final image (`--annotation`). */
  readonly annotations?: Readonly<Record<string, string>>;
  /** `--build-context NAME=VALUE`: `oci-layout://DIR[:TAG]` (or `oci-layout://DIR@sha256:…`) or a local dir. */
  readonly buildContexts?: Readonly<Record<string, string>>;
  /** `--secret id=…,src=…|env=…` (parse with lib/executor/secrets.ts `parseSecretFlag`); `env=` reads `secretEnv`. */
  readonly secrets?: readonly SecretSpec[];
  /** Environment `--secret …,env=VAR` reads (library code never reads the process environment). */
  readonly secretEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * Credentials for `ADD https://…/repo.git#ref` (as for `--context git://…`): `GIT_USERNAME`/`GIT_PASSWORD` or
   * `GIT_TOKEN`; credentials in the URL win.
   */
  readonly gitEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * `--allow`: entitlements granted to the build (BuildKit's names). `security.insecure` lets `RUN
   * --security=insecure` steps run without kiln's confinement (every capability, no seccomp filter, no masks).
   */
  readonly allow?: readonly Entitlement[];
  /**
   * Most that variable substitution may add to one word of the Dockerfile (an ARG default, an ENV value, a heredoc
   * body…), in UTF-16 units; past it the build fails with `Dockerfile:LINE: …`. Default 1 MiB
   * (lib/dockerfile `DEFAULT_MAX_EXPANSION`): `ARG a=${a}${a}` thirty times would otherwise reach 16 GiB.
   */
  readonly maxExpansion?: number;
  /** Scratch directory for rootfs and layer files (default: a temp dir; removed afterwards). */
  readonly workDir?: string;
  /** Where the image goes. Without any output the build still runs (and `BuildResult` says what it made). */
  readonly outputs?: BuildOutputOptions;
  /** How new layers are written. */
  readonly layers?: BuildLayerOptions;
  /** How changes are found after each step. */
  readonly snapshot?: BuildSnapshotOptions;
  /** Where and how RUN steps run. */
  readonly sandbox?: BuildSandboxOptions;
  /** Registry transport options. */
  readonly registry?: BuildRegistryOptions;
  /**
   * The layer cache (kaniko's `--cache=true` and its flags): steps whose inputs are unchanged take their layer from
   * the cache instead of running (lib/cache; keys in lib/executor/_cache.ts). Off when absent.
   */
  readonly cache?: BuildCacheOptions;
}

/** One `--attest` ({@linkcode BuildOptions.attestations}). */
export type AttestationRequest =
  | {
    /** SLSA provenance (predicate `https://slsa.dev/provenance/v1`). */
    readonly type: "provenance";
    /**
     * `min` (default): the builder, the Dockerfile, the target, the platform and the materials (base images with
     * digests, the context); `max` adds the build-arg values, the secret ids (never their values), the labels and the
     * Dockerfile's digest.
     */
    readonly mode?: "min" | "max";
  }
  | {
    /** An SPDX 2.3 SBOM of the packages dpkg, apk and rpm (its SQLite database) list in the image. */
    readonly type: "sbom";
  };

/** Where the image goes ({@linkcode BuildOptions.outputs}). */
export interface BuildOutputOptions {
  /** `--destination`: image references to push to. */
  readonly destinations?: readonly string[];
  /** `--no-push`. */
  readonly noPush?: boolean;
  /** `--skip-push-permission-check`: do not probe the destinations for push access before building. */
  readonly skipPushPermissionCheck?: boolean;
  /**
   * `--push-early` (default true): each layer of the pushed image starts uploading to the destinations as soon as it
   * is written, while later steps run, so the push after the last step only uploads what is left (the config, the
   * manifest). `false` uploads everything after the last step, as kaniko does. Either way a failed build pushes no
   * manifest (with early uploads it can leave blobs no manifest names; registries collect those).
   */
  readonly pushEarly?: boolean;
  /** `--tar-path`: also write a `docker save` tarball. */
  readonly tarPath?: string;
  /** `--oci-layout-path`: also write an OCI layout. */
  readonly ociLayoutPath?: string;
  /** `--digest-file`. */
  readonly digestFile?: string;
  /** `--image-name-with-digest-file`. */
  readonly imageNameWithDigestFile?: string;
  /** `--image-name-tag-with-digest-file`. */
  readonly imageNameTagWithDigestFile?: string;
  /** Manifest format (`--image-format`; default `oci`; `docker` writes Docker v2.2 media types). */
  readonly format?: "oci" | "docker";
}

/** How new layers are written ({@linkcode BuildOptions.layers}). */
export interface BuildLayerOptions {
  /** `--compression` (default gzip). */
  readonly compression?: "gzip" | "zstd";
  /** `--compression-level` (≤ 0: the library default). */
  readonly compressionLevel?: number;
  /** `--reproducible`: fixed timestamps in layers and config. */
  readonly reproducible?: boolean;
  /** Seconds since the epoch used by `reproducible` (SOURCE_DATE_EPOCH; default 0). */
  readonly sourceDateEpoch?: number;
}

/** How changes are found ({@linkcode BuildOptions.snapshot}). */
export interface BuildSnapshotOptions {
  /** `--snapshot-mode` (default `full`). */
  readonly mode?: SnapshotMode;
  /** `--single-snapshot`: one layer per stage. */
  readonly single?: boolean;
  /** Extra paths left out of snapshots (`--ignore-path`). */
  readonly ignorePaths?: readonly string[];
  /** Ignore `/var/run` (`--ignore-var-run`, default true; in-place mode). */
  readonly ignoreVarRun?: boolean;
}

/** Where and how RUN steps run ({@linkcode BuildOptions.sandbox}). */
export interface BuildSandboxOptions {
  /** `sandbox` (default: each stage's rootfs in kiln's sandbox) or `in-place` (the rootfs is `/`, kaniko's way). */
  readonly mode?: "sandbox" | "in-place";
  /** Path of the kiln-run sandbox helper (default: the one built in this checkout). */
  readonly helper?: string;
  /**
   * Persistent directory for `RUN --mount=type=cache` (default `<workDir>/kiln-run-cache` when `workDir` is given;
   * without either, cache mounts last one build).
   */
  readonly runCacheDir?: string;
  /** `--cleanup`: remove the rootfs after the build (always done in sandbox mode). */
  readonly cleanup?: boolean;
  /** In-place: run even outside a container (`--force`). */
  readonly force?: boolean;
  /**
   * In-place `--materialize`: leave the target stage's filesystem on `/` at the end even when every step came from
   * the layer cache (which otherwise extracts nothing).
   */
  readonly materialize?: boolean;
  /** In-place `--pre-cleanup`: empty `/` (everything not in the ignore list) before the first stage. */
  readonly preCleanup?: boolean;
}

/** Options of the layer cache ({@linkcode BuildOptions.cache}). */
export interface BuildCacheOptions {
  /**
   * `--cache-repo`: a registry repository (`registry.example/app/cache`) or `oci:PATH` (an OCI layout). Default:
   * kaniko's `<first destination's repository>/cache`; with `--no-push` and no destination, no layer cache.
   */
  repo?: string;
  /** `--cache-ttl` in milliseconds (default 336 h): older entries are misses. */
  ttlMs?: number;
  /** `--cache-run-layers` (default true): RUN (and WORKDIR) results are cached. */
  runLayers?: boolean;
  /** `--cache-copy-layers` (default false): COPY results are cached (ADD never is). */
  copyLayers?: boolean;
  /** False for `--no-push-cache`: look up, never store. */
  push?: boolean;
  /**
   * `--cache-dir`: the base-image cache filled by `kiln warm` (the CLI's default is kaniko's `/cache`). Registry
   * bases warmed there within `ttlMs` are used without any network, by tag or digest; others are pulled.
   */
  baseImageDir?: string;
}

/** A progress event. */
export type BuildProgressEvent =
  | {
    /** A stage starts. */
    type: "stage";
    /** The target platform (`linux/arm64`), in a build for several platforms. */
    platform?: string;
    /** Stage index. */
    stage: number;
    /** Stage name (`AS name`), if any. */
    name?: string;
    /** Base image reference or stage. */
    base: string;
  }
  | {
    /** A step starts. */
    type: "step-start";
    /** The target platform (`linux/arm64`), in a build for several platforms. */
    platform?: string;
    /** Stage index. */
    stage: number;
    /** 1-based step number across the build. */
    step: number;
    /** Total steps of the build. */
    total: number;
    /** The instruction as written. */
    instruction: string;
    /** Dockerfile line. */
    line: number;
  }
  | {
    /** A step finished. */
    type: "step-done";
    /** The target platform (`linux/arm64`), in a build for several platforms. */
    platform?: string;
    /** Stage index. */
    stage: number;
    /** Step number. */
    step: number;
    /** Total steps. */
    total: number;
    /** The instruction. */
    instruction: string;
    /** Duration in ms. */
    durationMs: number;
    /** The new layer's compressed size, or undefined when the step added no layer. */
    layerSize?: number;
    /** The new layer's digest. */
    layerDigest?: Digest;
    /** The step's result came from the layer cache (it did not run). */
    cached?: boolean;
  }
  | {
    /** A stage's base image was pulled (where needed) and extracted into its rootfs. */
    type: "base";
    /** The target platform, in a build for several platforms. */
    platform?: string;
    /** Stage index. */
    stage: number;
    /** Layers extracted. */
    layers: number;
    /** Their compressed size. */
    bytes: number;
    /** Duration in ms. */
    durationMs: number;
  }
  | {
    /**
     * Where the running step of a stage is: `snapshot` (finding the changes), then `layer` (writing them: tar
     * entries, and the compressed bytes so far, reported every 250 ms).
     */
    type: "phase";
    /** Stage index. */
    stage: number;
    /** The target platform, in a build for several platforms. */
    platform?: string;
    /** `snapshot` or `layer`. */
    phase: "snapshot" | "layer";
    /** Entries the snapshot's walk listed so far (every 250 ms during a long walk). */
    files?: number;
    /** Tar entries of the layer being written. */
    entries?: number;
    /** Compressed bytes written so far. */
    bytes?: number;
  }
  | {
    /** A base image's layers are being pulled and extracted (every 250 ms, and when a layer is done). */
    type: "pull";
    /** Stage index. */
    stage: number;
    /** The target platform, in a build for several platforms. */
    platform?: string;
    /** What is pulled (`FROM debian:12`). */
    what: string;
    /** The layer (1-based) being extracted. */
    layer: number;
    /** Layers in all. */
    layers: number;
    /** Compressed bytes of the layers done before this one. */
    bytes: number;
    /** Uncompressed bytes of this layer unpacked so far. */
    unpacked: number;
    /** Compressed size of all the layers. */
    total: number;
  }
  | {
    /**
     * A blob upload starts or ends (early uploads and the final push). Bytes are not counted while a file uploads:
     * the runtime's HTTP client reads the file itself.
     */
    type: "upload";
    /** `start` or `end` (uploaded, or failed: a failure is reported by the push). */
    state: "start" | "end";
    /** Blob digest. */
    digest: Digest;
    /** Its size. */
    size: number;
    /** The repository (without the registry). */
    repository: string;
  }
  | {
    /** A step's changes were snapshotted and written as a compressed layer (before its `step-done`). */
    type: "layer";
    /** The target platform, in a build for several platforms. */
    platform?: string;
    /** Stage index. */
    stage: number;
    /** The snapshot's walk and diff, in ms. */
    snapshotMs: number;
    /** Writing the layer (tar, compression, digests), in ms. */
    writeMs: number;
    /** Tar entries. */
    entries: number;
    /** Compressed size. */
    size: number;
    /** Tar size. */
    uncompressedSize: number;
    /** Blob digest. */
    digest: Digest;
  }
  | {
    /** A blob is in a destination repository (during the build for early uploads, or by the final push). */
    type: "blob";
    /** Blob digest. */
    digest: Digest;
    /** Its size. */
    size: number;
    /** `uploaded`, `mounted` (cross-repository) or `exists` (was there). */
    how: "exists" | "mounted" | "uploaded";
    /** The repository (without the registry). */
    repository: string;
  }
  | {
    /** A line of RUN output. */
    type: "output";
    /** Step number. */
    step: number;
    /** `stdout` or `stderr`. */
    stream: "stdout" | "stderr";
    /** The line. */
    line: string;
  }
  | {
    /** An output was written (push, tarball, layout, digest file). */
    type: "output-written";
    /** `registry`, `tarball`, `oci-layout`, `file`. */
    kind: string;
    /** Where. */
    target: string;
    /** Duration in ms. */
    durationMs: number;
  };

/** Run-time hooks of {@linkcode build}. */
export interface BuildRunOptions {
  /** Cancels the build; work files and partial uploads are cleaned up. */
  signal?: AbortSignal;
  /** Logger (default: none). */
  logger?: Logger;
  /** Receives progress events. */
  onProgress?: (event: BuildProgressEvent) => void;
  /** Filesystem walker for snapshots (default: `loadWalker()`). */
  walker?: Walker;
  /**
   * kiln's native addon file, for the default walker and the gzip engine (default: native/build/Release/
   * kiln_native.node in the checkout; the executor image ships it as /kaniko/kiln_native.node).
   */
  addonPath?: string;
  /**
   * OpenTelemetry: send the build's trace (stages, steps, pulls, pushes, snapshots and compression as spans) to this
   * OTLP/HTTP endpoint when the build ends. The CLI takes it from `OTEL_EXPORTER_OTLP_ENDPOINT` (or
   * `KANIKO_TELEMETRY_ENDPOINT`). Build-arg values, secrets and RUN output are never exported.
   */
  telemetry?: TelemetryOptions;
  /**
   * `--debug-memory`: log (info) the memory after each step with the peak during it, and the build's peak with the
   * phase it fell in (RSS, V8 heap, external memory; sampled every 20 ms).
   */
  debugMemory?: boolean;
}

/** Where and how a build's trace goes ({@linkcode BuildRunOptions.telemetry}). */
export interface TelemetryOptions {
  /** The OTLP/HTTP traces URL (`…/v1/traces`), JSON encoding. */
  endpoint: string;
  /** Extra request headers (e.g. an API key). */
  headers?: Record<string, string>;
  /** `service.name` of the resource (default `kiln`). */
  serviceName?: string;
  /** Attributes of the root span. */
  attributes?: Record<string, string | number | boolean>;
  /** Give up sending after this many ms (default 10 s). */
  timeoutMs?: number;
}

/** What one output produced. */
export interface BuildOutput {
  /** `registry`, `tarball`, `oci-layout`. */
  kind: "registry" | "tarball" | "oci-layout";
  /** The reference, file or directory. */
  target: string;
  /** Manifest digest written there. */
  digest: Digest;
}

/** The result of {@linkcode build}. */
export interface BuildResult {
  /** Digest of the final image manifest. */
  digest: Digest;
  /** The manifest descriptor. */
  descriptor: Descriptor;
  /** The manifest (of the first platform's image, when the build made an index). */
  manifest: Manifest;
  /** Digest of the config blob (the image ID; the first platform's with an index). */
  configDigest: Digest;
  /** The image config (the first platform's with an index). */
  config: ImageConfig;
  /** Platform of the image (the first platform's with an index). */
  platform: Platform;
  /**
   * The image index written and pushed, when the build made one (several platforms, or attestations); `digest` and
   * `descriptor` are then the index's.
   */
  index?: Index;
  /** Each platform's image, in `--platform` order, when the build made an index. */
  images?: { platform: Platform; digest: Digest; configDigest: Digest }[];
  /** Outputs written. */
  outputs: BuildOutput[];
  /** Per-step timings. */
  steps: { instruction: string; durationMs: number; layerSize?: number }[];
  /** Warnings of the plan (unused build args, Dockerfile parser warnings), also logged. */
  warnings?: string[];
}
