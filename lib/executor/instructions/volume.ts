/**
 * `VOLUME path …`: adds `Volumes`.
 *
 * @module
 */
import { KilnError } from "../../util/mod.ts";
import type { VolumeInstruction } from "../../dockerfile/mod.ts";
import { containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** The VOLUME handler. */
export const volumeHandler: InstructionHandler<"volume"> = {
  kind: "volume",
  changesFilesystem: false,
  execute(ins: VolumeInstruction, ctx) {
    for (const p of ins.paths) {
      if (p.trim() === "") throw new KilnError(`${ctx.where}: VOLUME specified can not be an empty string`);
    }
    const vols = containerConfig(ctx.config).Volumes ??= {};
    for (const p of ins.paths) vols[p] = {};
  },
};
