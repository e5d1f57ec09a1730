/**
 * `STOPSIGNAL`: the signal that stops the container (a name or number Docker accepts).
 *
 * @module
 */
import type { StopsignalInstruction } from "../../dockerfile/mod.ts";
import { checkStopSignal } from "../config.ts";
import { containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** The STOPSIGNAL handler. */
export const stopsignalHandler: InstructionHandler<"stopsignal"> = {
  kind: "stopsignal",
  changesFilesystem: false,
  execute(ins: StopsignalInstruction, ctx) {
    containerConfig(ctx.config).StopSignal = checkStopSignal(ins.signal, ctx.where);
  },
};
