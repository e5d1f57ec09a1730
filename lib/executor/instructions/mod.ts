/**
 * One handler per Dockerfile instruction kind, all behind {@linkcode InstructionHandler}: the stage runner looks an
 * instruction's handler up here and never switches on the kind itself.
 *
 * @module
 */
import type { Instruction } from "../../dockerfile/mod.ts";
import { argHandler } from "./arg.ts";
import { cmdHandler } from "./cmd.ts";
import { addHandler, copyHandler } from "./copy.ts";
import { entrypointHandler } from "./entrypoint.ts";
import { envHandler } from "./env.ts";
import { exposeHandler } from "./expose.ts";
import { healthcheckHandler } from "./healthcheck.ts";
import { labelHandler } from "./label.ts";
import { maintainerHandler } from "./maintainer.ts";
import { onbuildHandler } from "./onbuild.ts";
import { runHandler } from "./run.ts";
export { RunStepError } from "./run.ts";
import { shellHandler } from "./shell.ts";
import { stopsignalHandler } from "./stopsignal.ts";
import { userHandler } from "./user.ts";
import { volumeHandler } from "./volume.ts";
import { workdirHandler } from "./workdir.ts";
import type { InstructionHandler } from "./types.ts";

export type { InstructionHandler, MetadataState, StageServices, StepContext, StepOutcome } from "./types.ts";

/** Every instruction kind that can appear in a stage (FROM starts one and is the stage runner's). */
export type StageInstruction = Exclude<Instruction, { kind: "from" }>;

/** The handlers, by kind. */
export const HANDLERS: { readonly [K in StageInstruction["kind"]]: InstructionHandler<K> } = {
  run: runHandler,
  copy: copyHandler,
  add: addHandler,
  workdir: workdirHandler,
  env: envHandler,
  arg: argHandler,
  label: labelHandler,
  user: userHandler,
  expose: exposeHandler,
  volume: volumeHandler,
  cmd: cmdHandler,
  entrypoint: entrypointHandler,
  shell: shellHandler,
  stopsignal: stopsignalHandler,
  healthcheck: healthcheckHandler,
  maintainer: maintainerHandler,
  onbuild: onbuildHandler,
};

/**
 * The handler of `ins`.
 *
 * @param ins An instruction of a stage.
 * @returns Its handler.
 *
 * @example Usage
 * ```ts
 * import { handlerOf } from "./mod.ts";
 * const h = handlerOf({ kind: "label", location: { startLine: 2, endLine: 2 }, original: "LABEL a=b", pairs: [] });
 * console.assert(h.kind === "label" && !h.changesFilesystem);
 * ```
 */
export function handlerOf<I extends StageInstruction>(ins: I): InstructionHandler<I["kind"]> {
  return HANDLERS[ins.kind] as unknown as InstructionHandler<I["kind"]>;
}
