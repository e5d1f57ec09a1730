/**
 * Private: `--debug-memory`, where a build's memory goes. Samples the process every 20 ms and logs, at info, the
 * memory after each step with the peak during it, and at the end the build's peak and the phase it fell in: RSS, the
 * V8 heap (used / committed) and the memory outside it (ArrayBuffers and other external allocations).
 *
 * @module
 */
import process from "node:process";
import type { Logger } from "../util/mod.ts";
import type { BuildProgressEvent } from "./types.ts";

/** One memory reading. */
interface Reading {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

function read(): Reading {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(0)} MiB`;
}

function describe(r: Reading): string {
  return `rss ${mib(r.rss)}, heap ${mib(r.heapUsed)} of ${mib(r.heapTotal)}, external ${mib(r.external)}`;
}

/** The sampler: `event` feeds it the build's progress, `stop` logs the peak and ends the sampling. */
export interface MemoryLog {
  event(e: BuildProgressEvent): void;
  stop(): void;
}

/**
 * Starts sampling.
 *
 * @param log Where the lines go (info).
 * @returns The sampler.
 */
export function startMemoryLog(log: Logger): MemoryLog {
  let phase = "start";
  let step = "start";
  let stepPeak = read();
  let peak = { ...stepPeak, phase };
  const sample = () => {
    const r = read();
    if (r.rss > stepPeak.rss) stepPeak = r;
    if (r.rss > peak.rss) peak = { ...r, phase };
  };
  const timer = setInterval(sample, 20);
  (timer as { unref?: () => void }).unref?.();
  return {
    event(e) {
      sample();
      if (e.type === "step-start") {
        step = `step ${e.step}/${e.total} (${e.instruction.slice(0, 60)})`;
        phase = step;
        stepPeak = read();
      } else if (e.type === "phase") {
        // Which part of the step: running it, the snapshot (walk and diff), or writing the layer.
        const part = e.phase === "snapshot" ? "its snapshot" : "writing its layer";
        if (!phase.endsWith(part)) {
          log.info(`memory before ${part}, ${step}: ${describe(read())}; peak so far ${mib(stepPeak.rss)}`);
        }
        phase = `${step}, ${part}`;
      } else if (e.type === "step-done") {
        log.info(`memory after step ${e.step}/${e.total}: ${describe(read())}; peak during it ${mib(stepPeak.rss)}`);
        phase = e.step === e.total ? "the outputs (push, tarball, layout)" : `after step ${e.step}/${e.total}`;
      } else if (e.type === "stage") phase = `stage ${e.stage} (FROM ${e.base})`;
      else if (e.type === "output-written") phase = `after writing ${e.kind}`;
    },
    stop() {
      clearInterval(timer);
      sample();
      log.info(`memory peak: ${describe(peak)}, during ${peak.phase}`);
    },
  };
}
