/**
 * `SHELL ["exe", "arg"…]`: the shell of later shell-form instructions.
 *
 * @module
 */
import { KilnError } from "../../util/mod.ts";
import type { ShellInstruction } from "../../dockerfile/mod.ts";
import { containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** The SHELL handler. */
export const shellHandler: InstructionHandler<"shell"> = {
  kind: "shell",
  changesFilesystem: false,
  execute(ins: ShellInstruction, ctx) {
    if (ins.shell.length === 0) throw new KilnError(`${ctx.where}: SHELL requires at least one argument`);
    containerConfig(ctx.config).Shell = [...ins.shell];
  },
};
