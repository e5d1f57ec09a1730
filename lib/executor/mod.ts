/**
 * Building images: {@linkcode build} runs a Dockerfile against a context and writes the image to registries,
 * an OCI layout, a docker-archive tarball and digest files. {@linkcode planFromDockerfile} exposes the plan the
 * executor follows (stages with lib/dockerfile's typed instructions, expanded as each step runs); each instruction
 * kind has one handler (lib/executor/instructions/), run by the stage runner {@linkcode runStage}.
 *
 * @example Build the example into an OCI layout (no registry, no network)
 * ```ts ignore
 * import { build } from "./mod.ts";
 * const result = await build(
 *   { context: "examples/hello", outputs: { ociLayoutPath: "out/hello", noPush: true }, layers: { reproducible: true } },
 *   { onProgress: (e) => { if (e.type === "step-done") console.log(e.instruction, e.durationMs, e.layerSize); } },
 * );
 * console.log(result.digest);
 * ```
 *
 * @module
 */
export { build } from "./build.ts";
export type {
  AttestationRequest,
  BuildCacheOptions,
  BuildLayerOptions,
  BuildOptions,
  BuildOutput,
  BuildOutputOptions,
  BuildProgressEvent,
  BuildRegistryOptions,
  BuildResult,
  BuildRunOptions,
  BuildSandboxOptions,
  BuildSnapshotOptions,
  TelemetryOptions,
} from "./types.ts";
export { telemetryFromEnv } from "./telemetry.ts";
export { createSecretStore, parseSecretFlag, type SecretSpec, type SecretStore } from "./secrets.ts";
export { type Entitlement, planFromDockerfile, type PlanOptions as PlanFromDockerfileOptions } from "./plan.ts";
export type { ExecutionPlan, StageInstruction, StagePlan } from "./steps.ts";
export { runStage, type StageOptions, type StageResult, type StageStart } from "./stage.ts";
export { handlerOf, HANDLERS, RunStepError } from "./instructions/mod.ts";
export type { InstructionHandler, StageServices, StepContext, StepOutcome } from "./instructions/mod.ts";
