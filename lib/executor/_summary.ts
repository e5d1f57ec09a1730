/**
 * Private: the build summary logged at the end of a build (info): each step's time, layer size and cache hit, the
 * base images extracted, the blobs pushed, and the wall time — so a log shows where the time went.
 *
 * @module
 */
import { formatBytes } from "../util/mod.ts";
import type { BuildProgressEvent } from "./types.ts";

/** Collects progress events; `lines()` is the summary. */
export interface BuildSummary {
  event(e: BuildProgressEvent): void;
  lines(totalMs: number): string[];
}

/**
 * Starts a summary.
 *
 * @returns The collector.
 */
export function createBuildSummary(): BuildSummary {
  const steps: { step: number; total: number; instruction: string; ms: number; size?: number; cached?: boolean }[] = [];
  let baseBytes = 0;
  let baseMs = 0;
  let bases = 0;
  const blobs = new Map<string, { size: number; how: string }>();
  return {
    event(e) {
      if (e.type === "step-done") {
        steps.push({
          step: e.step,
          total: e.total,
          instruction: e.platform ? `[${e.platform}] ${e.instruction}` : e.instruction,
          ms: e.durationMs,
          ...(e.layerSize === undefined ? {} : { size: e.layerSize }),
          ...(e.cached ? { cached: true } : {}),
        });
      } else if (e.type === "base") {
        bases++;
        baseBytes += e.bytes;
        baseMs += e.durationMs;
      } else if (e.type === "blob") {
        const k = `${e.repository}@${e.digest}`;
        if (!blobs.has(k)) blobs.set(k, { size: e.size, how: e.how });
      }
    },
    lines(totalMs) {
      const sec = (ms: number) => `${(ms / 1000).toFixed(2)}s`;
      const written = steps.reduce((n, s) => n + (s.cached ? 0 : s.size ?? 0), 0);
      const cached = steps.filter((s) => s.cached).length;
      const parts = [`${steps.length} step(s) in ${sec(totalMs)}`, `${formatBytes(written)} of new layers`];
      if (cached) parts.push(`${cached} from the cache`);
      if (bases) parts.push(`${bases} base image(s), ${formatBytes(baseBytes)}, extracted in ${sec(baseMs)}`);
      if (blobs.size) {
        const up = [...blobs.values()].filter((b) => b.how === "uploaded");
        const other = blobs.size - up.length;
        parts.push(
          `pushed ${formatBytes(up.reduce((n, b) => n + b.size, 0))} in ${up.length} blob(s)` +
            (other ? ` (${other} mounted or already there)` : ""),
        );
      }
      const width = Math.max(0, ...steps.map((s) => `${s.step}/${s.total}`.length));
      return [
        `Summary: ${parts.join("; ")}`,
        ...steps.map((s) =>
          `  ${`${s.step}/${s.total}`.padStart(width)} ${sec(s.ms).padStart(7)} ${
            (s.cached ? "cached" : s.size === undefined ? "-" : formatBytes(s.size)).padStart(9)
          }  ${s.instruction.length > 70 ? `${s.instruction.slice(0, 69)}…` : s.instruction}`
        ),
      ];
    },
  };
}
