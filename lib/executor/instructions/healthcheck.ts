/**
 * `HEALTHCHECK [options] CMD …` / `HEALTHCHECK NONE`: the container's health check.
 *
 * @module
 */
import type { HealthcheckInstruction } from "../../dockerfile/mod.ts";
import { type HealthcheckFlags, healthConfig } from "../config.ts";
import { containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** Durations from lib/dockerfile (nanoseconds; 0 = default) as the flags `healthConfig` checks. */
function flagsOf(ins: HealthcheckInstruction): HealthcheckFlags {
  const ns = (v: number | undefined) => (v === undefined || v === 0 ? undefined : `${v}ns`);
  const out: HealthcheckFlags = {};
  const interval = ns(ins.interval), timeout = ns(ins.timeout);
  const startPeriod = ns(ins.startPeriod), startInterval = ns(ins.startInterval);
  if (interval) out.interval = interval;
  if (timeout) out.timeout = timeout;
  if (startPeriod) out.startPeriod = startPeriod;
  if (startInterval) out.startInterval = startInterval;
  if (ins.retries !== undefined && ins.retries !== 0) out.retries = String(ins.retries);
  return out;
}

/** The HEALTHCHECK handler. */
export const healthcheckHandler: InstructionHandler<"healthcheck"> = {
  kind: "healthcheck",
  changesFilesystem: false,
  execute(ins: HealthcheckInstruction, ctx) {
    const t = ins.test;
    const test = t[0] === "NONE" ? ["NONE"] : t[0] === "CMD-SHELL" ? ["CMD-SHELL", t[1] ?? ""] : ["CMD", ...t.slice(1)];
    containerConfig(ctx.config).Healthcheck = healthConfig(test, flagsOf(ins), ctx.where);
  },
};
