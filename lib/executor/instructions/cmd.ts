/**
 * `CMD`: the default command (shell form through SHELL).
 *
 * @module
 */
import type { CmdInstruction } from "../../dockerfile/mod.ts";
import { commandArgv, containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** The CMD handler. */
export const cmdHandler: InstructionHandler<"cmd"> = {
  kind: "cmd",
  changesFilesystem: false,
  execute(ins: CmdInstruction, ctx) {
    const cc = containerConfig(ctx.config);
    cc.Cmd = commandArgv(cc, ins.command, ins.prependShell);
    ctx.meta.cmdSet = true;
  },
};
