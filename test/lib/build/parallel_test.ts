/**
 * Parallel stages: lib/build/scheduler.ts on its own (order, bound, dependencies, first error, abort), and build()
 * with two independent busybox stages whose RUN steps record their start and end in a cache mount (host file
 * mtimes, nanosecond resolution): with `jobs: 2` the two RUNs overlap, with `jobs: 1` they do not, and both
 * builds give the same digest (`--reproducible`). Also: log lines carry the stage's `[name]` prefix, a failing
 * stage aborts a sleeping one promptly, and `--jobs` on the CLI.
 */
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { build } from "../../../lib/build/build.ts";
import { createScheduler, stageTasks } from "../../../lib/build/scheduler.ts";
import { planFromDockerfile } from "../../../lib/build/plan.ts";
import { buildOptionsFromFlags } from "../../../cli/commands/build.ts";
import { BUILD_FLAGS } from "../../../cli/commands/build.ts";
import { parseFlags } from "../../../cli/flags.ts";
import type { CliIO } from "../../../cli/command.ts";
import { AbortedError, KilnError, UsageError } from "../../../lib/util/errors.ts";
import { createLogger } from "../../../lib/util/logger.ts";
import { buildBusyboxLayout } from "../../fixtures/busybox_image.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "../../assert.ts";
import { leftovers, makeContext } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("parallel busybox builds", "umoci", "busybox", "root");

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("createScheduler() with jobs 1 runs stages one at a time in index order", async () => {
  const events: string[] = [];
  const s = createScheduler({ jobs: 1 });
  const r = await s.run([{ index: 0, deps: [] }, { index: 1, deps: [] }, { index: 2, deps: [0] }], async (i) => {
    events.push(`start ${i}`);
    await tick(5);
    events.push(`end ${i}`);
    return i * 10;
  });
  assertEquals(events, ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]);
  assertEquals([...r.entries()].sort(), [[0, 0], [1, 10], [2, 20]]);
});

Deno.test("createScheduler() runs independent stages at once, at most `jobs`, after their dependencies", async () => {
  let running = 0, peak = 0;
  const ends = new Map<number, number>(), starts = new Map<number, number>();
  let clock = 0;
  const s = createScheduler({ jobs: 2 });
  await s.run(
    [{ index: 0, deps: [] }, { index: 1, deps: [] }, { index: 2, deps: [] }, { index: 3, deps: [0, 1] }],
    async (i) => {
      starts.set(i, clock++);
      peak = Math.max(peak, ++running);
      await tick(20);
      running--;
      ends.set(i, clock++);
    },
  );
  assertEquals(peak, 2);
  assert(starts.get(1)! < ends.get(0)!, "0 and 1 overlap");
  assert(starts.get(3)! > Math.max(ends.get(0)!, ends.get(1)!), "3 waits for 0 and 1");
});

Deno.test("createScheduler() reports the first error and aborts the other stages", async () => {
  const s = createScheduler({ jobs: 3 });
  let sawAbort = false;
  let startedAfter = false;
  const e = await assertRejects(
    () =>
      s.run([{ index: 0, deps: [] }, { index: 1, deps: [] }, { index: 2, deps: [1] }], async (i, ctx) => {
        if (i === 0) throw new KilnError("Dockerfile:2: boom");
        if (i === 2) startedAfter = true;
        await new Promise<void>((res) => {
          const t = setTimeout(res, 5000);
          ctx.signal.addEventListener("abort", () => {
            clearTimeout(t);
            sawAbort = true;
            res();
          }, { once: true });
        });
        throw new AbortedError("aborted");
      }),
    KilnError,
  );
  assertEquals(e.message, "Dockerfile:2: boom");
  assert(sawAbort && !startedAfter && s.signal.aborted);
});

Deno.test("createScheduler() stops on an outer abort; waitFor gives the slot up (no deadlock with jobs 1)", async () => {
  const ac = new AbortController();
  const s = createScheduler({ jobs: 1, signal: ac.signal });
  const p = s.run(
    [{ index: 0, deps: [] }],
    (_i, ctx) => new Promise((_res, rej) => ctx.signal.addEventListener("abort", () => rej(new AbortedError("x")))),
  );
  ac.abort();
  await assertRejects(() => p, AbortedError);

  // Stage 1 learns at run time that it reads stage 2 (undeclared), with one slot: stage 2 gets it meanwhile.
  const s2 = createScheduler({ jobs: 1 });
  const r = await s2.run([{ index: 1, deps: [] }, { index: 2, deps: [] }], async (i, ctx) => {
    if (i === 1) return `1 read ${await ctx.waitFor(2)}`;
    return "two";
  });
  assertEquals(r.get(1), "1 read two");
});

Deno.test("stageTasks() takes dependencies from the plan (FROM, COPY --from, RUN --mount from=)", () => {
  const plan = planFromDockerfile(
    [
      "FROM scratch AS a",
      "FROM scratch AS b",
      "FROM a AS c",
      "RUN --mount=type=bind,from=b,target=/b true",
      "FROM scratch",
      "COPY --from=c / /",
      "COPY --from=1 / /",
    ].join("\n"),
  );
  assertEquals(stageTasks(plan), [
    { index: 0, deps: [] },
    { index: 1, deps: [] },
    { index: 2, deps: [0, 1] },
    { index: 3, deps: [1, 2] },
  ]);
});

function cliIO(): CliIO {
  return {
    stdout: () => Promise.resolve(),
    stderr: () => Promise.resolve(),
    stdin: () => new ReadableStream(),
    env: {},
    cwd: "/tmp",
    signal: new AbortController().signal,
  };
}

Deno.test("kiln build --jobs N sets BuildOptions.jobs; 0 or a non-number is a usage error", () => {
  const opts = (args: string[]) => buildOptionsFromFlags(parseFlags(args, BUILD_FLAGS, {}).values, cliIO());
  assertEquals(opts(["--jobs", "3"]).jobs, 3);
  assertEquals(opts(["-j", "1"]).jobs, 1);
  assertEquals(opts([]).jobs, undefined);
  assertThrows(() => opts(["--jobs=0"]), UsageError, "--jobs");
  assertThrows(() => opts(["--jobs=many"]), UsageError, "--jobs");
  // --skip-unused-stages is passed on only when given (build() defaults it from --target).
  assertEquals(opts([]).skipUnusedStages, undefined);
  assertEquals(opts(["--skip-unused-stages=false"]).skipUnusedStages, false);
  assertEquals(opts(["--skip-unused-stages"]).skipUnusedStages, true);
});

const TWO_STAGES = [
  "FROM base AS a",
  "RUN --mount=type=cache,id=times-a,target=/times touch /times/a.start && sleep 1 && echo out-a > /a && " +
  "touch /times/a.end && echo hello-from-a",
  "FROM base AS b",
  "RUN --mount=type=cache,id=times-b,target=/times touch /times/b.start && sleep 1 && echo out-b > /b && " +
  "touch /times/b.end && echo hello-from-b",
  "FROM scratch",
  "COPY --from=a /a /a",
  "COPY --from=b /b /b",
  "",
].join("\n");

/** The mtimes (ms, sub-ms resolution) of the files the RUN steps touched in the cache mount. */
function times(cacheDir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of readdirSync(cacheDir)) {
    const data = join(cacheDir, d, "data");
    let names: string[];
    try {
      names = readdirSync(data);
    } catch {
      continue;
    }
    for (const n of names) out[n] = statSync(join(data, n)).mtimeMs;
  }
  if (Object.keys(out).length !== 4) throw new Error(`timestamps under ${cacheDir}: ${Object.keys(out)}`);
  return out;
}

Deno.test({
  name: "build() runs independent stages in parallel with jobs 2 (RUNs overlap) and gives the jobs 1 digest",
  ignore,
  sanitizeResources: false,
  async fn() {
    const root = tempDir("kiln-parallel-");
    try {
      const layout = buildBusyboxLayout(join(root, "busybox"));
      const ctx = makeContext({});
      const run = async (jobs: number) => {
        const cache = join(root, `cache-${jobs}`);
        const log: string[] = [];
        const t0 = performance.now();
        const r = await build({
          context: ctx,
          dockerfileText: TWO_STAGES,
          outputs: { noPush: true, ociLayoutPath: join(root, `out-${jobs}`) },
          layers: { reproducible: true },
          jobs,
          sandbox: { runCacheDir: cache },
          workDir: join(root, `work-${jobs}`),
          buildContexts: { base: `oci-layout://${layout}:latest` },
        }, { logger: createLogger({ write: (l) => log.push(l) }) });
        return { digest: r.digest, t: times(cache), log, wallMs: performance.now() - t0 };
      };
      const par = await run(2);
      const seq = await run(1);
      const fmt = (t: Record<string, number>) => {
        const z = Math.min(...Object.values(t));
        return Object.entries(t).sort().map(([k, v]) => `${k}=+${(v - z).toFixed(0)}ms`).join(" ");
      };
      console.log(`jobs 2: ${fmt(par.t)} (build ${par.wallMs.toFixed(0)} ms)`);
      console.log(`jobs 1: ${fmt(seq.t)} (build ${seq.wallMs.toFixed(0)} ms)`);
      // Overlap: each RUN started before the other one ended.
      const p = par.t as Record<"a.start" | "a.end" | "b.start" | "b.end", number>;
      assert(p["a.start"] < p["b.end"] && p["b.start"] < p["a.end"], `jobs 2 did not overlap: ${fmt(par.t)}`);
      const s = seq.t as typeof p;
      assert(s["b.start"] >= s["a.end"], `jobs 1 overlapped: ${fmt(seq.t)}`);
      assertEquals(par.digest, seq.digest);
      // Which stage a line belongs to: step lines and RUN output.
      assert(par.log.some((l) => /^INFO \[a\] STEP \d+\/\d+: RUN/.test(l)), par.log.join("\n"));
      assert(par.log.some((l) => l === "INFO [a] hello-from-a"), par.log.join("\n"));
      assert(par.log.some((l) => l === "INFO [b] hello-from-b"), par.log.join("\n"));
      assert(par.log.some((l) => l.startsWith("INFO [stage-2] STEP")), par.log.join("\n"));
      assertEquals(leftovers(join(root, "work-2")), []);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "build() aborts a running stage promptly when another stage fails, and reports the failing step",
  ignore,
  sanitizeResources: false,
  async fn() {
    const root = tempDir("kiln-parallel-");
    try {
      const layout = buildBusyboxLayout(join(root, "busybox"));
      const work = join(root, "work");
      const t0 = performance.now();
      const e = await assertRejects(
        () =>
          build({
            context: makeContext({}),
            dockerfileText: "FROM base AS slow\nRUN sleep 60\nFROM base AS bad\nRUN sleep 0.3; exit 3\n" +
              "FROM scratch\nCOPY --from=slow /etc /s\nCOPY --from=bad /etc /b\n",
            outputs: { noPush: true },
            jobs: 2,
            workDir: work,
            buildContexts: { base: `oci-layout://${layout}:latest` },
          }),
        KilnError,
      );
      const ms = performance.now() - t0;
      assertMatch(e.message, /^Dockerfile:4: step \d\/\d+ "RUN sleep 0.3; exit 3" failed: exit code 3$/);
      console.log(`failed after ${ms.toFixed(0)} ms (the other stage sleeps 60 s)`);
      assert(ms < 30_000, `took ${ms} ms`);
      assertEquals(leftovers(work), []);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});
