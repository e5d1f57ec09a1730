/**
 * `LABEL k=v …`: sets image labels.
 *
 * @module
 */
import type { LabelInstruction } from "../../dockerfile/mod.ts";
import { containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** The LABEL handler. */
export const labelHandler: InstructionHandler<"label"> = {
  kind: "label",
  changesFilesystem: false,
  execute(ins: LabelInstruction, ctx) {
    // In place: n LABELs cost O(n), not O(n²) (the stage owns its copy of the config).
    const labels = containerConfig(ctx.config).Labels ??= {};
    for (const { key, value } of ins.pairs) labels[key] = value;
  },
};
