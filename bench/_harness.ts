/**
 * What the end-to-end benchmarks (bench/builds.ts, bench/cache.ts) share: timing a command tree under GNU time, a
 * tmpfs for all state, best-of-N.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";

/**
 * Whether `cmd` is on PATH (or an executable path).
 *
 * @param cmd The command.
 * @returns True when found.
 */
export function has(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** One measured run: wall seconds, CPU seconds (user + sys of the tree), peak RSS in KiB. */
export interface Sample {
  /** Wall seconds. */
  wall: number;
  /** User + system CPU seconds of the process tree. */
  cpu: number;
  /** Peak RSS of the largest process of the tree, KiB. */
  rssKiB: number;
  /** stdout + stderr of the run. */
  output: string;
}

/**
 * Runs `argv` under GNU time with `env` (added to this process's environment); throws with the output's tail on failure. Asynchronous: a registry the
 * benchmark started logs to a pipe it drains, so the event loop must keep running during a build.
 *
 * @param argv The command.
 * @param env Its whole environment.
 * @param log File the output is written to (and `LOG.time` GNU time's).
 * @returns The sample.
 */
export async function timed(argv: string[], env: Record<string, string>, log: string): Promise<Sample> {
  const out = `${log}.time`;
  const r = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%e %U %S %M", "-o", out, ...argv],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  writeFileSync(log, text);
  if (!r.success) {
    const tail = text.trim().split("\n").slice(-8).join("\n");
    throw new Error(`${argv.slice(0, 4).join(" ")} … exited ${r.code}:\n${tail}`);
  }
  const [e, u, s, m] = readFileSync(out, "utf8").trim().split("\n").at(-1)!.split(/\s+/).map(Number);
  return { wall: e!, cpu: u! + s!, rssKiB: m!, output: text };
}

/**
 * A tmpfs directory for all state: /dev/shm when it has room, else a tmpfs mounted here (root), else a temp dir.
 *
 * @param needGiB Room needed.
 * @param prefix Name prefix.
 * @returns The directory, whether it must be unmounted, and a note when it is on disk.
 */
export function pickBase(needGiB: number, prefix: string): { base: string; unmount?: string; note?: string } {
  const df = spawnSync("df", ["-Pk", "/dev/shm"]).stdout?.toString().split("\n")[1]?.split(/\s+/);
  const freeKiB = Number(df?.[3] ?? 0);
  if (freeKiB > needGiB * 1024 * 1024) return { base: Deno.makeTempDirSync({ dir: "/dev/shm", prefix }) };
  const dir = Deno.makeTempDirSync({ prefix });
  const m = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${needGiB + 2}g`, "tmpfs", dir]);
  if (m.status === 0) return { base: dir, unmount: dir };
  return { base: dir, note: `no tmpfs with ${needGiB} GiB free: state on ${dir} (disk; noisy, see field-notes.md)` };
}

/**
 * The best of several samples: least wall and CPU time, most RSS.
 *
 * @param xs Samples.
 * @returns Their best (the output of the fastest).
 */
export function best(xs: Sample[]): Sample {
  const fastest = xs.reduce((a, b) => (b.wall < a.wall ? b : a));
  return {
    wall: fastest.wall,
    cpu: Math.min(...xs.map((x) => x.cpu)),
    rssKiB: Math.max(...xs.map((x) => x.rssKiB)),
    output: fastest.output,
  };
}

/** One measured value of an end-to-end benchmark. */
export interface GateMetric {
  /** Its name in bench/thresholds.json. */
  name: string;
  /** The value (a ratio or an amount; lower is better). */
  value: number;
}

/** What {@linkcode gateMetrics} needs. */
export interface GateOptions {
  /** bench/thresholds.json (or another file of the same shape). */
  thresholdsFile: string;
  /** The section of that file (`builds`, `cache`, `copy_context`). */
  section: string;
  /** `short` or `full`. */
  mode: string;
  /** The values measured. */
  metrics: readonly GateMetric[];
  /** Errors of the run (each fails the gate). */
  errors: readonly string[];
  /** Notes printed before the verdict. */
  notes?: readonly string[];
  /** Where to write the JSON summary, if anywhere. */
  json?: string;
  /** Extra fields of the JSON summary. */
  summary?: Record<string, unknown>;
  /** Exit 1 when a value is worse than its `max` or an error happened. */
  gate: boolean;
  /** The benchmark's name in the verdict line. */
  label: string;
}

/**
 * Compares the metrics with their `max` in the thresholds file's `section.mode`, prints each failure, writes the JSON
 * summary and, with `gate`, prints the verdict and exits 1 on any failure or error.
 *
 * @param o Thresholds, metrics, errors, output options.
 * @returns The number of failures (values over their threshold, plus errors).
 */
export function gateMetrics(o: GateOptions): number {
  for (const n of o.notes ?? []) console.log(`note: ${n}`);
  const thresholds = JSON.parse(readFileSync(o.thresholdsFile, "utf8")) as Record<
    string,
    Record<string, Record<string, { max?: number }>> | undefined
  >;
  const table = thresholds[o.section]?.[o.mode] ?? {};
  let failed = o.errors.length;
  for (const m of o.metrics) {
    const max = table[m.name]?.max;
    if (max !== undefined && m.value > max) {
      failed++;
      console.log(`GATE FAIL ${m.name}: ${m.value.toFixed(3)} (threshold ≤ ${max})`);
    }
  }
  if (o.json) {
    const body = { mode: o.mode, ...o.summary, metrics: o.metrics, notes: o.notes ?? [], errors: o.errors, failed };
    writeFileSync(o.json, JSON.stringify(body, null, 2) + "\n");
  }
  if (o.gate) {
    console.log(failed ? `${o.label} gate: ${failed} value(s) worse than thresholds` : `${o.label} gate: ok`);
    if (failed) Deno.exit(1);
  }
  return failed;
}

/**
 * Points this process's TMPDIR at `dir` (fixtures such as the test registry put their state under it).
 *
 * @param dir The new TMPDIR.
 * @returns A function that restores the old value.
 */
export function useTmpdir(dir: string): () => void {
  const old = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", dir);
  return () => {
    if (old === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", old);
  };
}

/**
 * Removes a {@linkcode pickBase} directory (unmounting its tmpfs first), unless `keep`.
 *
 * @param b What pickBase returned.
 * @param keep Leave it for inspection (`--keep`).
 */
export function releaseBase(b: { base: string; unmount?: string }, keep: boolean): void {
  if (keep) return;
  if (b.unmount) spawnSync("umount", [b.unmount]);
  rmSync(b.base, { recursive: true, force: true });
}
