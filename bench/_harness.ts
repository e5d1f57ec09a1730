/**
 * What the end-to-end benchmarks (bench/builds.ts, bench/cache.ts) share: timing a command tree under GNU time, a
 * tmpfs for all state, best-of-N.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

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
