/**
 * Private: the layer cache in the step loop — which steps are cached, each step's key (a rolling chain over
 * lib/cache's key and source hashing); the lookups and background stores are the stage runner's (stage.ts).
 *
 * A key covers everything that can change a step's layer, and nothing else:
 * - the previous key (the stage's first: the base image's manifest digest, or the parent stage's final key for
 *   `FROM <stage>`) and the target platform;
 * - the instruction as expanded (ARG/ENV values that reach its words), without its location;
 * - RUN: the environment (ENV and declared ARGs; proxy args are left out, as in BuildKit), SHELL, USER, WORKDIR, and
 *   for each `--mount=type=bind` the content hash of its source (a cache or secret mount's content is not part);
 * - COPY: the content hash of exactly what it copies (lib/cache `hashSources`: names, types, modes, contents, link
 *   targets; not owners or times of context files), or for `--from=<stage>` that stage's final key;
 * - WORKDIR: USER (the owner of what it creates).
 * ADD is never cached (kaniko); nor is any step of a `--single-snapshot` build.
 *
 * @module
 */
import { chainKey, hashSources, type LayerCache } from "../cache/mod.ts";
import type { StageInstruction } from "./steps.ts";
import type { StepContext } from "./instructions/mod.ts";

/** The cache as a build uses it. */
export interface BuildCache {
  /** The store. */
  store: LayerCache;
  /** Cache RUN (and WORKDIR) layers (`--cache-run-layers`, default true). */
  runLayers: boolean;
  /** Cache COPY layers (`--cache-copy-layers`, default false). */
  copyLayers: boolean;
  /** Store new entries (not `--no-push-cache`). */
  push: boolean;
}

/** Whether `ins`'s result is looked up in and stored to the cache. */
export function cacheable(ins: StageInstruction, cache: BuildCache): boolean {
  if (ins.kind === "run" || ins.kind === "workdir") return cache.runLayers;
  if (ins.kind === "copy") return cache.copyLayers;
  return false;
}

/** The instruction's fields that matter, without where it is written. */
function canonical(ins: StageInstruction): Record<string, unknown> {
  const { location: _l, original: _o, ...rest } = ins as StageInstruction & Record<string, unknown>;
  return rest;
}

/**
 * The key of one step (already expanded), chained to `prev`.
 *
 * @param prev The previous key.
 * @param ins The expanded instruction.
 * @param ctx The step (config, scope, services).
 * @param stageKey Final keys of earlier stages by name and index (for `COPY --from=<stage>`).
 * @returns The key.
 */
export async function stepKey(
  prev: string,
  ins: StageInstruction,
  ctx: StepContext,
  stageKey: (from: string) => string | undefined,
): Promise<string> {
  const cfg = ctx.config.config ?? {};
  const parts: Record<string, unknown> = { instruction: canonical(ins) };
  if (ins.kind === "run") {
    parts.env = Object.entries(ctx.scope.env()).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    parts.shell = cfg.Shell ?? null;
    parts.user = cfg.User ?? "";
    parts.workdir = cfg.WorkingDir || "/";
    const binds: unknown[] = [];
    for (const m of ins.mounts) {
      if (m.type !== "bind") continue;
      const from = m.from ? stageKey(m.from) : undefined;
      if (from !== undefined) binds.push({ stage: from });
      else {
        const src = m.from ? await ctx.services.copySource(m.from, ctx.where) : { dir: ctx.services.contextDir };
        binds.push(
          await hashSources(src.dir, [m.source ?? "."], {
            ...(m.from || !ctx.services.ignore ? {} : { ignore: ctx.services.ignore }),
            keepOwnership: m.from !== undefined,
          }),
        );
      }
    }
    parts.binds = binds;
  } else if (ins.kind === "workdir") {
    parts.user = cfg.User ?? "";
    parts.workdir = cfg.WorkingDir || "/";
  } else if (ins.kind === "copy") {
    parts.workdir = cfg.WorkingDir || "/";
    const from = ins.from !== undefined ? ctx.word(ins.from) : undefined;
    const fromKey = from !== undefined ? stageKey(from) : undefined;
    if (fromKey !== undefined) parts.sources = { stage: fromKey };
    else if (ins.sources.length > 0) {
      const src = from !== undefined
        ? await ctx.services.copySource(from, ctx.where)
        : { dir: ctx.services.contextDir };
      parts.sources = await hashSources(src.dir, ins.sources, {
        ...(from === undefined && ctx.services.ignore ? { ignore: ctx.services.ignore } : {}),
        ...(ins.excludes.length ? { exclude: ins.excludes } : {}),
        ...(ins.parents ? { parents: true } : {}),
        keepOwnership: from !== undefined,
        ...(ctx.services.signal ? { signal: ctx.services.signal } : {}),
      });
    }
  }
  return chainKey(prev, parts);
}
