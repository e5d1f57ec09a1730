/**
 * `MAINTAINER name` (deprecated): sets the image's `author`.
 *
 * @module
 */
import type { MaintainerInstruction } from "../../dockerfile/mod.ts";
import type { InstructionHandler } from "./types.ts";

/** The MAINTAINER handler. */
export const maintainerHandler: InstructionHandler<"maintainer"> = {
  kind: "maintainer",
  changesFilesystem: false,
  execute(ins: MaintainerInstruction, ctx) {
    ctx.config.author = ins.maintainer;
  },
};
