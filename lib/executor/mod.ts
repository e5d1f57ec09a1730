/**
 * Building images: {@linkcode build} runs a Dockerfile against a context and writes the image to registries,
 * an OCI layout, a docker-archive tarball and digest files. {@linkcode planFromDockerfile} exposes the plan the
 * executor follows (stages, ARG scoping, lazily expanded steps).
 *
 * @example Build the example into an OCI layout (no registry, no network)
 * ```ts ignore
 * import { build } from "./mod.ts";
 * const result = await build(
 *   { context: "examples/hello", ociLayoutPath: "out/hello", noPush: true, reproducible: true },
 *   { onProgress: (e) => { if (e.type === "step-done") console.log(e.instruction, e.durationMs, e.layerSize); } },
 * );
 * console.log(result.digest);
 * ```
 *
 * @module
 */
export { build } from "./build.ts";
export type {
  BuildOptions,
  BuildOutput,
  BuildProgressEvent,
  BuildRegistryOptions,
  BuildResult,
  BuildRunOptions,
} from "./types.ts";
export { createSecretStore, parseSecretFlag, type SecretSpec, type SecretStore } from "./secrets.ts";
export { planFromDockerfile, type PlanOptions as PlanFromDockerfileOptions } from "./plan.ts";
export type { BuildPlan as ExecutionPlan, CommandForm, PlannedStep, StagePlan, Step, StepSource } from "./steps.ts";
