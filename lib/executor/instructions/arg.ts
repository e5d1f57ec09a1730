/**
 * `ARG name[=default] …`: declared in the stage's scope with BuildKit's rules (build args win over defaults; the
 * value reaches RUN's environment, never the image config).
 *
 * @module
 */
import type { ArgInstruction } from "../../dockerfile/mod.ts";
import type { InstructionHandler } from "./types.ts";

/** The ARG handler. */
export const argHandler: InstructionHandler<"arg"> = {
  kind: "arg",
  changesFilesystem: false,
  // The scope expands defaults itself, in declaration order.
  expand: false,
  execute(ins: ArgInstruction, ctx) {
    ctx.scope.declareArgs(ins);
  },
};
