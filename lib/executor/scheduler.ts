/**
 * The stage scheduler: runs a build's stages as soon as the stages they read are done, at most `jobs` at a time,
 * lowest stage index first (so `jobs: 1` is exactly the sequential file order). The first failure aborts the
 * others (through the scheduler's `AbortSignal`), waits for them to stop, and is the error reported.
 *
 * @module
 */
import { AbortedError, KilnError } from "../util/mod.ts";
import type { LogFields, Logger, LogLevel } from "../util/mod.ts";

export type { LogFields, Logger, LogLevel };

/** What the scheduler reads of a stage of a plan (lib/executor/steps.ts `StagePlan` has it). */
export interface SchedulableStage {
  /** Stage index. */
  index: number;
  /** `AS name`, lower-cased. */
  name?: string;
  /** Index of the earlier stage FROM names. */
  baseStage?: number;
  /** Earlier stages whose filesystem the stage reads (lib/dockerfile's dependency graph). */
  readsStages?: number[];
  /** The instructions: kind and text (`COPY --from=…`, `RUN --mount=…,from=…`), read when `readsStages` is absent. */
  instructions: readonly { kind: string; original: string }[];
}

/** One stage to run and the stages it must wait for. */
export interface StageTask {
  /** Stage index (unique). */
  index: number;
  /** Indexes of the stages it reads (FROM, `COPY --from`, `RUN --mount from=`); others are ignored. */
  deps: readonly number[];
}

/** What a running stage gets from the scheduler. */
export interface StageRunContext<T> {
  /** Aborted when the build is aborted or another stage failed. */
  signal: AbortSignal;
  /**
   * Waits for a stage not declared in `deps` (e.g. named by an ONBUILD trigger of an image), giving up this
   * stage's slot while waiting.
   *
   * @param index Stage index.
   * @returns The stage's result, or undefined when that stage is not part of this schedule.
   */
  waitFor(index: number): Promise<T | undefined>;
}

/** Options of {@linkcode createScheduler}. */
export interface SchedulerOptions {
  /** Most stages running at once (at least 1; `1` runs them in index order). */
  jobs: number;
  /** Aborts the whole schedule. */
  signal?: AbortSignal;
}

/** A stage scheduler (one per build). */
export interface Scheduler {
  /** Aborted when `options.signal` is, or when a stage failed; pass it to work shared by stages. */
  readonly signal: AbortSignal;
  /**
   * Runs the tasks and returns their results by stage index.
   *
   * @param tasks The stages and their dependencies.
   * @param run Builds one stage.
   * @returns Results by index.
   * @throws The first error a stage threw (others are aborted and awaited first).
   */
  run<T>(
    tasks: readonly StageTask[],
    run: (index: number, ctx: StageRunContext<T>) => Promise<T>,
  ): Promise<Map<number, T>>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // observed by waiters; never an unhandled rejection
  return { promise, resolve, reject };
}

/**
 * Creates a scheduler.
 *
 * @param options `jobs` and the build's abort signal.
 * @returns The scheduler.
 *
 * @example Two independent stages and one reading both
 * ```ts
 * import { createScheduler } from "./scheduler.ts";
 * const s = createScheduler({ jobs: 2 });
 * const results = await s.run(
 *   [{ index: 0, deps: [] }, { index: 1, deps: [] }, { index: 2, deps: [0, 1] }],
 *   async (i) => `stage ${i}`,
 * );
 * console.assert(results.get(2) === "stage 2");
 * ```
 */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const jobs = Math.max(1, Math.floor(options.jobs) || 1);
  const ac = new AbortController();
  const outer = options.signal;
  if (outer?.aborted) ac.abort(outer.reason);
  else outer?.addEventListener("abort", () => ac.abort(outer.reason), { once: true });
  return {
    signal: ac.signal,
    run<T>(tasks: readonly StageTask[], run: (index: number, ctx: StageRunContext<T>) => Promise<T>) {
      const known = new Set(tasks.map((t) => t.index));
      const pending = [...tasks].sort((a, b) => a.index - b.index).map((t) => ({
        index: t.index,
        deps: [...new Set(t.deps)].filter((d) => d !== t.index && known.has(d)),
      }));
      const done = new Map<number, T>();
      const finished = new Map(tasks.map((t) => [t.index, deferred<T>()]));
      const slotWaiters: (() => void)[] = [];
      let running = 0;
      let active = 0; // stages started and not settled (running or waiting for a slot or a stage)
      let firstError: unknown;
      let failed = false;
      const all = deferred<Map<number, T>>();

      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        firstError = e;
        ac.abort(e);
      };
      const acquire = (): Promise<void> => {
        if (running < jobs && slotWaiters.length === 0) {
          running++;
          return Promise.resolve();
        }
        return new Promise((res) => slotWaiters.push(res));
      };
      const pump = () => {
        // Stages already under way (waiting to get their slot back) go first, then the lowest ready index.
        while (running < jobs && slotWaiters.length > 0) {
          running++;
          slotWaiters.shift()!();
        }
        while (running < jobs && !failed && !ac.signal.aborted) {
          const i = pending.findIndex((t) => t.deps.every((d) => done.has(d)));
          if (i < 0) break;
          const task = pending.splice(i, 1)[0]!;
          running++;
          active++;
          start(task.index);
        }
        if (active === 0) {
          if (failed) all.reject(firstError);
          else if (ac.signal.aborted) all.reject(new AbortedError("Build aborted"));
          else if (pending.length > 0) {
            all.reject(
              new KilnError(`Stages ${pending.map((t) => t.index).join(", ")} wait for each other (a cycle)`),
            );
          } else all.resolve(done);
        }
      };
      const start = (index: number) => {
        const ctx: StageRunContext<T> = {
          signal: ac.signal,
          async waitFor(other) {
            const d = finished.get(other);
            if (d === undefined) return undefined;
            if (done.has(other)) return done.get(other);
            running--;
            pump();
            try {
              return await d.promise;
            } finally {
              await acquire();
            }
          },
        };
        // Started on a later tick so that a synchronous throw is a rejection like any other.
        Promise.resolve().then(() => {
          if (ac.signal.aborted) throw failed ? firstError : new AbortedError("Build aborted");
          return run(index, ctx);
        }).then(
          (v) => {
            done.set(index, v);
            finished.get(index)!.resolve(v);
          },
          (e) => {
            fail(e);
            finished.get(index)!.reject(e);
          },
        ).finally(() => {
          running--;
          active--;
          pump();
        });
      };
      pump();
      return all.promise;
    },
  };
}

/**
 * The stages each stage of a plan must wait for: lib/dockerfile's dependency graph (`readsStages`, which
 * includes the FROM stage), or for hand-made plans the FROM stage and the stages named by `--from`.
 *
 * @param plan The build plan.
 * @returns One task per stage of the plan.
 *
 * @example Usage
 * ```ts
 * import { planFromDockerfile } from "./plan.ts";
 * import { stageTasks } from "./scheduler.ts";
 * const plan = planFromDockerfile("FROM scratch AS a\nFROM scratch AS b\nFROM scratch\nCOPY --from=a / /\n");
 * console.assert(JSON.stringify(stageTasks(plan).map((t) => t.deps)) === "[[],[],[0]]");
 * ```
 */
export function stageTasks(plan: { stages: readonly SchedulableStage[] }): StageTask[] {
  const byRef = (ref: string): SchedulableStage | undefined =>
    plan.stages.find((s) => s.name === ref.toLowerCase() || String(s.index) === ref);
  return plan.stages.map((s) => {
    const deps = new Set<number>(s.readsStages ?? []);
    if (s.baseStage !== undefined) deps.add(s.baseStage);
    if (s.readsStages === undefined) {
      for (const st of s.instructions) {
        const froms = st.kind === "copy"
          ? [/--from=(\S+)/.exec(st.original)?.[1]].filter((x): x is string => x !== undefined)
          : st.kind === "run"
          ? [...st.original.matchAll(/--mount=(?:\S*?,)?from=([^,\s]+)/gi)].map((m) => m[1]!)
          : [];
        for (const from of froms) {
          const f = byRef(from);
          if (f && f.index < s.index) deps.add(f.index);
          else if (from.includes("$")) { for (const x of plan.stages) if (x.index < s.index) deps.add(x.index); }
        }
      }
    }
    return { index: s.index, deps: [...deps].sort((a, b) => a - b) };
  });
}

/**
 * A logger that starts every message with `prefix` (e.g. `[builder]`), so the lines of stages running at the
 * same time can be told apart.
 *
 * @param log The build's logger.
 * @param prefix The prefix, without the separating space.
 * @returns The prefixed logger.
 *
 * @example Usage
 * ```ts
 * import { createLogger } from "../util/mod.ts";
 * import { prefixLogger } from "./scheduler.ts";
 * const lines: string[] = [];
 * prefixLogger(createLogger({ write: (l) => lines.push(l) }), "[a]").info("STEP 1/2: RUN make");
 * console.assert(lines[0] === "INFO [a] STEP 1/2: RUN make");
 * ```
 */
export function prefixLogger(log: Logger, prefix: string): Logger {
  const p = (m: string) => `${prefix} ${m}`;
  return {
    trace: (m: string, f?: LogFields) => log.trace(p(m), f),
    debug: (m: string, f?: LogFields) => log.debug(p(m), f),
    info: (m: string, f?: LogFields) => log.info(p(m), f),
    warn: (m: string, f?: LogFields) => log.warn(p(m), f),
    error: (m: string, f?: LogFields) => log.error(p(m), f),
    enabled: (level: LogLevel) => log.enabled(level),
    with: (fields: LogFields) => prefixLogger(log.with(fields), prefix),
  };
}

/**
 * The log prefix of a stage: `[name]`, or `[stage-N]` for an unnamed one.
 *
 * @param stage The stage.
 * @returns The prefix.
 */
export function stagePrefix(stage: Pick<SchedulableStage, "index" | "name">): string {
  return `[${stage.name ?? `stage-${stage.index}`}]`;
}
