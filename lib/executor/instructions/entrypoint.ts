/**
 * `ENTRYPOINT`: the entrypoint; it clears an inherited CMD unless this stage set CMD before (Docker's rule).
 *
 * @module
 */
import type { EntrypointInstruction } from "../../dockerfile/mod.ts";
import { commandArgv, containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** The ENTRYPOINT handler. */
export const entrypointHandler: InstructionHandler<"entrypoint"> = {
  kind: "entrypoint",
  changesFilesystem: false,
  execute(ins: EntrypointInstruction, ctx) {
    const cc = containerConfig(ctx.config);
    cc.Entrypoint = commandArgv(cc, ins.command, ins.prependShell);
    if (!ctx.meta.cmdSet) delete cc.Cmd;
  },
};
