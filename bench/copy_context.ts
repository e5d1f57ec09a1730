/**
 * `COPY .` of a large build context (issue 11): a generated context of N small files (100 per directory) with a
 * .dockerignore of 200 patterns, built by the CLI (`FROM scratch` + `COPY . /c/`, `--tar-path`), against `cp -a` of
 * the same tree, measured in the same run, alternated, best of N, everything on /dev/shm. Ratios (lower is better):
 *
 * - copy_context_vs_cp: kiln build wall time / `cp -a` wall time (kiln also walks, tars, gzips and writes the image)
 * - copy_context_rss: kiln's peak RSS in MiB (GNU time %M, worst of the runs); bytes per file are printed
 * - ignore_200_vs_1: .dockerignore matching of the context's paths with the 200 patterns / with one pattern
 * - copy_context_scaling (full mode): build wall time of 2N files / of N files (2.0 is linear)
 *
 * None of the 200 patterns matches a file of the context (the names of the usual build outputs, caches and VCS
 * dirs, with a few `!` exceptions), so kiln copies what `cp -a` copies. With `--gate`, exits 1 when a value is worse
 * than its threshold in bench/thresholds.json (`copy_context.short` / `copy_context.full`). Driven by bench/run.sh.
 *
 * Usage: deno run -A bench/copy_context.ts [--short] [--gate] [--files N] [--runs N] [--json FILE] [--keep]
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createIgnoreMatcher, parseDockerignore } from "../lib/context/dockerignore.ts";
import { gateMetrics } from "./_harness.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    short: { type: "boolean", default: false },
    gate: { type: "boolean", default: false },
    files: { type: "string" },
    runs: { type: "string" },
    json: { type: "string" },
    thresholds: { type: "string", default: new URL("./thresholds.json", import.meta.url).pathname },
    keep: { type: "boolean", default: false },
  },
});
const short = values.short!;
const mode = short ? "short" : "full";
const files = Number(values.files ?? (short ? 20_000 : 200_000));
const runs = Number(values.runs ?? 3);
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();

interface Metric {
  name: string;
  value: number;
  unit: "ratio" | "MiB";
  detail: string;
}
const metrics: Metric[] = [];
const notes: string[] = [];
const errors: string[] = [];

function record(name: string, value: number, unit: Metric["unit"], detail: string): void {
  metrics.push({ name, value, unit, detail });
  const v = unit === "MiB" ? `${value.toFixed(0)} MiB` : value.toFixed(3);
  console.log(`${name.padEnd(22)} ${v.padStart(9)}  ${detail}`);
}

/** 200 patterns of the kinds real .dockerignore files hold; none matches the generated tree. */
function ignoreText(): string {
  const out = ["**/node_modules", ".git", "**/*.pyc", "*.md", "!README.md", "**/.idea/**", "dist/", "coverage"];
  for (let k = 0; out.length < 200; k++) {
    const forms = [`build${k}/`, `**/*.tmp${k}`, `src${k}/**/*.o`, `!keep${k}`, `docs/${k}/*.md`, `**/cache${k}/**`];
    out.push(forms[k % forms.length]!);
  }
  return out.join("\n") + "\n";
}

/** A context of `n` small files: `d<i>/s<j>/f<k>.txt`, 100 per directory; returns the relative paths. */
function makeContext(ctx: string, n: number): string[] {
  mkdirSync(ctx, { recursive: true });
  writeFileSync(`${ctx}/Dockerfile`, "FROM scratch\nCOPY . /c/\n");
  writeFileSync(`${ctx}/.dockerignore`, ignoreText());
  const paths = ["Dockerfile", ".dockerignore"];
  for (let d = 0; d * 100 < n; d++) {
    const top = `d${Math.floor(d / 100)}`, dir = `${top}/s${d % 100}`;
    mkdirSync(`${ctx}/${dir}`, { recursive: true });
    if (d % 100 === 0) paths.push(top);
    paths.push(dir);
    for (let i = 0; i < 100 && d * 100 + i < n; i++) {
      writeFileSync(`${ctx}/${dir}/f${i}.txt`, `${d}-${i}\n`);
      paths.push(`${dir}/f${i}.txt`);
    }
  }
  return paths;
}

/** Wall seconds and peak RSS (KiB) of `argv` under GNU time. */
function timed(argv: string[]): { wall: number; rssKiB: number } {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M", ...argv], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${argv.slice(0, 5).join(" ")} … exited ${r.status}:\n${r.stderr.slice(-2000)}`);
  const [e, m] = r.stderr.trim().split("\n").at(-1)!.split(/\s+/).map(Number);
  return { wall: e!, rssKiB: m! };
}

function kilnBuild(base: string, ctx: string): { wall: number; rssKiB: number } {
  rmSync(`${base}/work`, { recursive: true, force: true });
  rmSync(`${base}/image.tar`, { force: true });
  return timed([
    DENO,
    "run",
    "-A",
    "--v8-flags=--max-semi-space-size=1", // as the `kiln` task of deno.json
    `${ROOT}/cli/main.ts`,
    "build",
    "--no-push",
    "--tar-path",
    `${base}/image.tar`,
    "-c",
    ctx,
    "--work-dir",
    `${base}/work`,
    "-v",
    "warn",
  ]);
}

function cpTree(base: string, ctx: string): { wall: number; rssKiB: number } {
  rmSync(`${base}/cp`, { recursive: true, force: true });
  return timed(["cp", "-a", ctx, `${base}/cp`]);
}

/** Best wall time and worst peak RSS of each task over `runs` rounds, alternating their order. */
function bestOf(tasks: (() => { wall: number; rssKiB: number })[]): { wall: number; rssKiB: number }[] {
  const out = tasks.map(() => ({ wall: Infinity, rssKiB: 0 }));
  for (let round = 0; round < runs; round++) {
    const order = round % 2 === 0 ? tasks.map((_, i) => i) : tasks.map((_, i) => tasks.length - 1 - i);
    for (const i of order) {
      const s = tasks[i]!();
      out[i] = { wall: Math.min(out[i]!.wall, s.wall), rssKiB: Math.max(out[i]!.rssKiB, s.rssKiB) };
    }
  }
  return out;
}

/** Best time (ms) of matching every path with `patterns`. */
function matchTime(patterns: string[], paths: readonly string[]): number {
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const m = createIgnoreMatcher(patterns);
    const t = performance.now();
    let n = 0;
    for (const p of paths) if (m.ignores(p)) n++;
    best = Math.min(best, performance.now() - t);
    if (n !== 0 && patterns.length > 1) throw new Error(`the 200 patterns ignore ${n} paths of the context`);
  }
  return best;
}

const shmFree = Number(spawnSync("df", ["-Pk", "/dev/shm"]).stdout?.toString().split("\n")[1]?.split(/\s+/)[3] ?? 0);
const base = Deno.makeTempDirSync({
  // A context of N files and its copies take about 3 × 4 KiB × N on tmpfs.
  ...(shmFree > (files * 12 + 512 * 1024) * 2 ? { dir: "/dev/shm" } : {}),
  prefix: "kiln-copyctx-",
});
if (!base.startsWith("/dev/shm/")) {
  notes.push(`/dev/shm too small: fixtures on ${base} (disk; noisy, see field-notes.md)`);
}
try {
  if (spawnSync("sh", ["-c", "command -v /usr/bin/time"]).status !== 0) throw new Error("GNU time is not installed");
  console.log(`kiln copy-context bench (${mode}, best of ${runs}, fixtures in ${base}): ${files} files`);
  const t0 = performance.now();
  const paths = makeContext(`${base}/ctx`, files);
  console.log(`fixtures generated in ${(performance.now() - t0).toFixed(0)} ms`);
  spawnSync("sh", ["-c", `find '${base}/ctx' >/dev/null`]); // warm the dentry cache for both contenders

  const [k, c] = bestOf([() => kilnBuild(base, `${base}/ctx`), () => cpTree(base, `${base}/ctx`)]);
  const mib = k!.rssKiB / 1024;
  record(
    "copy_context_vs_cp",
    k!.wall / c!.wall,
    "ratio",
    `kiln build (COPY . + layer + image) ${k!.wall.toFixed(2)} s vs cp -a ${c!.wall.toFixed(2)} s`,
  );
  record("copy_context_rss", mib, "MiB", `peak RSS of the build, ${(k!.rssKiB * 1024 / files).toFixed(0)} B per file`);

  const patterns = parseDockerignore(ignoreText());
  const one = matchTime(["**/*.log"], paths), many = matchTime(patterns, paths);
  record(
    "ignore_200_vs_1",
    many / one,
    "ratio",
    `${paths.length} paths: 200 patterns ${many.toFixed(1)} ms vs 1 pattern ${one.toFixed(1)} ms`,
  );

  if (!short) {
    rmSync(`${base}/cp`, { recursive: true, force: true });
    makeContext(`${base}/ctx2`, 2 * files);
    spawnSync("sh", ["-c", `find '${base}/ctx2' >/dev/null`]);
    const [a, b] = bestOf([() => kilnBuild(base, `${base}/ctx`), () => kilnBuild(base, `${base}/ctx2`)]);
    record(
      "copy_context_scaling",
      b!.wall / a!.wall,
      "ratio",
      `${2 * files} files ${b!.wall.toFixed(2)} s vs ${files} files ${a!.wall.toFixed(2)} s; peak RSS ` +
        `${(b!.rssKiB / 1024).toFixed(0)} vs ${(a!.rssKiB / 1024).toFixed(0)} MiB ` +
        `(${((b!.rssKiB - a!.rssKiB) * 1024 / files).toFixed(0)} B per extra file)`,
    );
  }
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} catch (e) {
  errors.push((e as Error).message ?? String(e));
  console.log(`bench error (remaining metrics not measured): ${(e as Error).message ?? e}`);
} finally {
  if (!values.keep) rmSync(base, { recursive: true, force: true });
}
gateMetrics({
  thresholdsFile: values.thresholds!,
  section: "copy_context",
  mode,
  metrics,
  errors,
  notes,
  ...(values.json ? { json: values.json } : {}),
  summary: { runs, files },
  gate: values.gate!,
  label: "copy-context",
});
