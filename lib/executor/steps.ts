/**
 * The executor's plan: lib/dockerfile's stages with their typed instructions (the one instruction model), the
 * stage graph, and the build-wide args. Each instruction is expanded when its step runs, with the variables in effect
 * then (lib/dockerfile `expandInstruction`); see lib/executor/plan.ts.
 *
 * @module
 */
import type { StageInstruction } from "./instructions/mod.ts";

export type { StageInstruction };

/** One stage of the build. */
export interface StagePlan {
  /** 0-based stage index. */
  index: number;
  /** `AS name` (lower-cased), if any. */
  name?: string;
  /** The base: `scratch`, an image reference, a named build context, or an earlier stage's name or index. */
  base: string;
  /** Index of the earlier stage `FROM` names (BuildKit's resolution: stage names only, case-insensitive). */
  baseStage?: number;
  /**
   * Earlier stages whose filesystem this stage reads (FROM, `COPY --from`, `RUN --mount from=`, ONBUILD triggers of
   * a base stage; every earlier stage when a `--from` holds a variable), from lib/dockerfile's dependency graph.
   */
  readsStages?: number[];
  /** `FROM --platform`, expanded. */
  platform?: string;
  /** Dockerfile line of the FROM. */
  line: number;
  /** The FROM instruction as written. */
  text: string;
  /** The stage's instructions after FROM, as lib/dockerfile typed them (unexpanded). */
  instructions: StageInstruction[];
}

/** A whole build plan. */
export interface ExecutionPlan {
  /** Stages to build, in order (earlier stages first). */
  stages: StagePlan[];
  /** Index of the target stage in {@linkcode stages}. */
  target: number;
  /** Global ARGs (declared before the first FROM) with their values after `--build-arg`. */
  metaArgs: ReadonlyMap<string, string>;
  /** The `--build-arg` values (only declared ARGs take effect). */
  buildArgs: ReadonlyMap<string, string>;
  /** Global args for stage scopes: automatic platform args (TARGET*, BUILD*) and global ARG values. */
  globalArgs?: Readonly<Record<string, string>>;
  /** Predefined proxy args given as build args: in every RUN's environment, never in the config or history. */
  proxyEnv?: Readonly<Record<string, string>>;
  /** The Dockerfile's escape token (for the shell lexer). */
  escapeToken?: "\\" | "`";
  /** Warnings (unused build args, parser warnings), one line each. */
  warnings?: string[];
  /** Dockerfile name for messages. */
  file: string;
}

/** @deprecated The executor's plan is {@linkcode ExecutionPlan} (lib/dockerfile has its own `BuildPlan`). */
export type BuildPlan = ExecutionPlan;
