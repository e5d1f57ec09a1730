/**
 * Private: several target platforms in one build (`--platform linux/amd64,linux/arm64`). Each platform gets its own
 * plan (its TARGET* automatic args); a stage whose result cannot differ between the platforms — it names its own
 * platform (`FROM --platform=$BUILDPLATFORM …`), that platform and its base are the same in every plan, every ARG it
 * declares has the same value in every plan, it reads no image by `--from`, and every stage it reads is shared too —
 * is built once and its result used by every platform (BuildKit gets the same by merging identical LLB).
 *
 * @module
 */
import { KilnError } from "../util/mod.ts";
import type { Platform } from "../image/mod.ts";
import { formatPlatform } from "../image/mod.ts";
import type { ExecutionPlan, StagePlan } from "./steps.ts";
import type { StageResult } from "./stage.ts";

/** The stages built once for every platform, and their results as the first platform to reach each starts it. */
export interface SharedStages {
  /** Indexes of the platform-independent stages. */
  readonly ids: ReadonlySet<number>;
  /** Results by stage index (set by the platform that builds the stage). */
  readonly results: Map<number, { platform: string; result: Promise<StageResult> }>;
}

/** The target platforms of a build: `platforms` when given (duplicates refused), else `platform`, else `host`. */
export function targetPlatforms(
  given: { platform?: Platform; platforms?: readonly Platform[] },
  host: Platform,
): Platform[] {
  const list = given.platforms?.length ? [...given.platforms] : [given.platform ?? host];
  const seen = new Set<string>();
  for (const p of list) {
    const s = formatPlatform(p);
    if (seen.has(s)) throw new KilnError(`--platform names ${s} twice`, { exitCode: 2 });
    seen.add(s);
  }
  return list;
}

/** A directory name for a platform's part of the work dir: `linux-arm64-v8`. */
export function platformSlug(p: Platform): string {
  return formatPlatform(p).replace(/[^A-Za-z0-9.]+/g, "-");
}

/** Names of the stages and images a stage's `--from`s name (COPY/ADD `--from`, RUN `--mount from=`). */
function fromsOf(stage: StagePlan): string[] {
  const out: string[] = [];
  for (const ins of stage.instructions) {
    if ((ins.kind === "copy" || ins.kind === "add") && "from" in ins && ins.from) out.push(ins.from);
    if (ins.kind === "run") { for (const m of ins.mounts) if (m.from) out.push(m.from); }
  }
  return out;
}

/** What must be equal in every plan for the stage to be the same build. */
function signature(plan: ExecutionPlan, stage: StagePlan): string | undefined {
  if (stage.platform === undefined) return undefined; // builds the target platform
  const names = (from: string) => plan.stages.some((s) => s.name === from.toLowerCase() || String(s.index) === from);
  if (fromsOf(stage).some((f) => f.includes("$") || !names(f))) return undefined; // an image: resolved per platform
  const args: [string, string | null][] = [];
  for (const ins of stage.instructions) {
    if (ins.kind !== "arg") continue;
    for (const a of ins.args) args.push([a.key, plan.globalArgs?.[a.key] ?? plan.metaArgs.get(a.key) ?? null]);
  }
  return JSON.stringify([stage.platform, stage.base, stage.baseStage ?? null, stage.readsStages ?? [], args]);
}

/**
 * The stages of `plans` (one per target platform, of one Dockerfile) that are built once for all of them.
 *
 * @param plans The plans.
 * @returns Stage indexes.
 */
export function platformIndependentStages(plans: readonly ExecutionPlan[]): Set<number> {
  const shared = new Set<number>();
  if (plans.length < 2) return shared;
  const first = plans[0]!;
  for (const stage of first.stages) {
    const sig = signature(first, stage);
    if (sig === undefined) continue;
    const same = plans.every((p) => {
      const s = p.stages.find((x) => x.index === stage.index);
      return s !== undefined && signature(p, s) === sig;
    });
    const reads = [...(stage.readsStages ?? []), ...(stage.baseStage === undefined ? [] : [stage.baseStage])];
    // Stages come in dependency order, so the stages this one reads were decided first.
    if (same && reads.every((r) => shared.has(r))) shared.add(stage.index);
  }
  return shared;
}
