/**
 * `USER user[:group]`: the user later RUN steps and the container run as (resolved in the image's /etc/passwd
 * when a step runs, not here).
 *
 * @module
 */
import type { UserInstruction } from "../../dockerfile/mod.ts";
import { containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** The USER handler. */
export const userHandler: InstructionHandler<"user"> = {
  kind: "user",
  changesFilesystem: false,
  execute(ins: UserInstruction, ctx) {
    containerConfig(ctx.config).User = ins.user;
  },
};
