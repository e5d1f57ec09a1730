/**
 * `EXPOSE port[/proto] …`: adds `ExposedPorts` (ranges expanded, protocol defaulting to tcp).
 *
 * @module
 */
import type { ExposeInstruction } from "../../dockerfile/mod.ts";
import { exposedPortKeys } from "../config.ts";
import { containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** The EXPOSE handler. */
export const exposeHandler: InstructionHandler<"expose"> = {
  kind: "expose",
  changesFilesystem: false,
  execute(ins: ExposeInstruction, ctx) {
    const ports = containerConfig(ctx.config).ExposedPorts ??= {};
    for (const w of ins.ports) for (const k of exposedPortKeys(w, ctx.where)) ports[k] = {};
  },
};
