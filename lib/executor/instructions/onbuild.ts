/**
 * `ONBUILD <instruction>`: records a trigger in the image config; stages built on the image run it first.
 *
 * @module
 */
import type { OnbuildInstruction } from "../../dockerfile/mod.ts";
import { containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** The ONBUILD handler. */
export const onbuildHandler: InstructionHandler<"onbuild"> = {
  kind: "onbuild",
  changesFilesystem: false,
  execute(ins: OnbuildInstruction, ctx) {
    (containerConfig(ctx.config).OnBuild ??= []).push(ins.expression);
  },
};
