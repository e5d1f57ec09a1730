/**
 * The one interface every instruction handler implements, and what a handler gets to work with.
 *
 * The stage runner (lib/executor/stage.ts) expands each lib/dockerfile {@linkcode Instruction} with the variables in
 * effect (lib/dockerfile `expandInstruction`), hands it to the handler of its kind, and snapshots the rootfs after
 * the handlers that change files. Adding an instruction (or a mount type) touches one handler file.
 *
 * @module
 */
import type { ImageConfig, Layer } from "../../image/mod.ts";
import type { Instruction, StageScope } from "../../dockerfile/mod.ts";
import type { ChunkPool, Logger } from "../../util/mod.ts";
import type { Sandbox } from "../../sandbox/mod.ts";
import type { Snapshotter } from "../../fs/mod.ts";
import type { PathMatcher } from "../../copy/mod.ts";
import type { SecretStore } from "../secrets.ts";
import type { BuildProgressEvent } from "../types.ts";
import type { Entitlement } from "../plan.ts";

/** The build-wide services a stage's steps use (one per stage; the stage runner owns it). */
export interface StageServices {
  /** Dockerfile name for messages. */
  readonly file: string;
  /** Context directory. */
  readonly contextDir: string;
  /** `.dockerignore` matcher for the context. */
  readonly ignore?: PathMatcher;
  /** Scratch directory for this stage's layer files and step scratch files. */
  readonly layerDir: string;
  /** Secrets for `RUN --mount=type=secret` and ADD's HTTP credentials (`--secret`). */
  readonly secrets?: SecretStore;
  /** GIT_USERNAME / GIT_PASSWORD / GIT_TOKEN for ADD of git sources. */
  readonly gitEnv?: Readonly<Record<string, string | undefined>>;
  /** Persistent directory of `RUN --mount=type=cache` caches. */
  readonly runCacheDir?: string;
  /** Predefined proxy build args: added to every RUN, never persisted. */
  readonly proxyEnv?: Readonly<Record<string, string>>;
  /** Entitlements granted (`--allow`). */
  readonly allow: readonly Entitlement[];
  /** Fixed timestamp (seconds) for files and history (`--reproducible`). */
  readonly fixedTime?: number;
  /** kiln's native addon file (the gzip engine; default: the one `npm install` builds). */
  readonly addonPath?: string;
  /** The build's buffers for layer streams (snapshot reads → gzip → layer file), shared by every stage. */
  readonly chunks?: ChunkPool;
  /** Called with each layer the stage adds (written or from the cache) when they go into the pushed image. */
  readonly onLayer?: (layer: Layer) => void;
  /** Logger. */
  readonly log: Logger;
  /** Abort signal. */
  readonly signal?: AbortSignal;
  /** Progress callback. */
  progress(e: BuildProgressEvent): void;
  /** Materializes the rootfs (extracts the base) on first need; `extractIgnore`: paths extraction must skip (in place). */
  rootfs(): Promise<{ dir: string; snapshotter: Snapshotter; extractIgnore?: readonly string[] }>;
  /** The sandbox for RUN (created on first use). */
  sandbox(): Promise<Sandbox>;
  /** Resolves `COPY --from` / `RUN --mount from=` to a directory and a description for messages. */
  copySource(from: string, where: string): Promise<{ dir: string; description: string }>;
}

/** One step as a handler sees it. */
export interface StepContext {
  /** `Dockerfile:LINE` of the instruction, for messages. */
  readonly where: string;
  /** 1-based step number across the build, and the total. */
  readonly stepNo: number;
  /** Total steps of the build. */
  readonly total: number;
  /** The stage's image config, updated in place by metadata handlers (history and diff_ids are the runner's). */
  readonly config: ImageConfig;
  /** Per-stage state of metadata instructions (CMD seen, the ENV index). */
  readonly meta: MetadataState;
  /** The stage's ARG/ENV scope (lib/dockerfile `createStageScope`). */
  readonly scope: StageScope;
  /** Expands one word with the variables in effect (for words `expandInstruction` leaves alone). */
  word(w: string): string;
  /** The build's services. */
  readonly services: StageServices;
  /** In-place mode: image paths the next snapshot leaves out (RUN --mount targets). */
  readonly snapshotIgnore: string[];
  /** In-place mode: directories whose ctime kiln changed and whose times it restored (parents of mount targets). */
  readonly snapshotCtimeOnly: string[];
  /**
   * The stage's VOLUME paths so far (absolute image paths): created before the next step that needs files, and what
   * a later RUN writes below them is dropped from its layer (Docker's classic builder, buildah, kaniko).
   */
  readonly volumes: string[];
}

/** The per-stage state metadata instructions touch. */
export interface MetadataState {
  /** True once this stage set CMD (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** Position of each name in `config.config.Env`, so that an ENV costs O(1) however many variables there are. */
  envIndex?: { env: string[]; at: Map<string, number> };
}

/** What a step may report back to the runner. */
export interface StepOutcome {
  /** History `created_by` (default: the instruction as written). */
  createdBy?: string;
}

/** The handler of one instruction kind. */
export interface InstructionHandler<K extends Instruction["kind"] = Instruction["kind"]> {
  /** The kind it handles. */
  readonly kind: K;
  /** True when the instruction may change files: the runner snapshots the rootfs after it (a layer if anything did). */
  readonly changesFilesystem: boolean;
  /** False when the handler expands the instruction itself (ARG, through the scope). Default true. */
  readonly expand?: boolean;
  /**
   * Runs the instruction.
   *
   * @param ins The instruction, expanded with the variables in effect (unless `expand` is false).
   * @param ctx The step.
   * @returns What the runner records.
   */
  execute(ins: Extract<Instruction, { kind: K }>, ctx: StepContext): StepOutcome | void | Promise<StepOutcome | void>;
  /**
   * The config changes of the instruction alone, for a step whose layer came from the layer cache (e.g. WORKDIR's
   * `WorkingDir`); the files are the cached layer's. Default: none.
   */
  applyCached?(ins: Extract<Instruction, { kind: K }>, ctx: StepContext): void;
}
