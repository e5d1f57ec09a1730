/**
 * `planFromDockerfile()`: a thin adapter from lib/dockerfile's {@linkcode planBuild} (stages, bases, dependencies,
 * target, needed stages, global and automatic platform args, proxy args, unused-build-arg warnings) to the
 * executor's {@linkcode ExecutionPlan}. The stages keep lib/dockerfile's typed instructions (one instruction model
 * from parser to executor): each is expanded only when the executor reaches it, by lib/dockerfile's
 * `expandInstruction`, with the variables of the stage's `createStageScope` (lib/executor/stage.ts).
 *
 * @module
 */
import { DockerfileError, type Instruction, parseDockerfile, planBuild, toStages } from "../dockerfile/mod.ts";
import type { Platform } from "../image/mod.ts";
import { formatPlatform } from "../image/mod.ts";
import type { ExecutionPlan, StageInstruction, StagePlan } from "./steps.ts";

/** Options for {@linkcode planFromDockerfile}. */
export interface PlanOptions {
  /** Dockerfile name for messages (default `Dockerfile`). */
  file?: string;
  /** `--build-arg` values (a bare `--build-arg K` is resolved from the caller's environment before this). */
  buildArgs?: ReadonlyMap<string, string>;
  /** `--target` stage name (default: the last stage). */
  target?: string;
  /** Further `--target` stages (the kaniko fork's several targets): built too, with what they need. */
  alsoTargets?: readonly string[];
  /** Build only the stages the target needs (BuildKit always does; kaniko's default builds every earlier stage). */
  skipUnusedStages?: boolean;
  /** Target platform: TARGETPLATFORM/TARGETOS/TARGETARCH/TARGETVARIANT (default: `buildPlatform`). */
  platform?: Platform;
  /** Platform of the build machine: BUILDPLATFORM/BUILDOS/BUILDARCH/BUILDVARIANT (default: `platform`). */
  buildPlatform?: Platform;
  /** Most that substitutions may add to one word (default the lexer's 1 MiB, lib/dockerfile `DEFAULT_MAX_EXPANSION`). */
  maxExpansion?: number;
  /** Entitlements granted (`--allow`): `security.insecure` lets `RUN --security=insecure` run unconfined. */
  allow?: readonly Entitlement[];
}

/** An entitlement a build may be granted (BuildKit's `--allow`): `security.insecure` for privileged RUN steps. */
export type Entitlement = "security.insecure";

/**
 * Refuses, before anything runs, what kiln does not do: `RUN --device`, and `RUN --security=insecure` without the
 * `security.insecure` entitlement.
 */
function checkInstruction(ins: Instruction, file: string, allow: readonly Entitlement[]): StageInstruction {
  const fail = (msg: string): never => {
    throw new DockerfileError(msg, { file, line: ins.location.startLine, endLine: ins.location.endLine });
  };
  if (ins.kind === "from") return fail("FROM inside a stage");
  if (ins.kind !== "run") return ins;
  if (ins.security === "insecure" && !allow.includes("security.insecure")) {
    fail(
      "RUN --security=insecure needs the security.insecure entitlement: run kiln with --allow security.insecure " +
        "(the step then runs with every capability, no seccomp filter and no masked /proc paths)",
    );
  }
  if (ins.devices.length > 0) fail("RUN --device is not supported by kiln");
  return ins;
}

/**
 * Parses `text` and plans the build with lib/dockerfile's {@linkcode planBuild}.
 *
 * @param text Dockerfile contents.
 * @param options Build args, target, platforms, file name.
 * @returns The plan: the stages to build (the target's dependencies with `skipUnusedStages`, else every stage up
 *   to the target), global args, proxy args and warnings.
 * @throws {DockerfileError} `FILE:LINE: ...` for invalid Dockerfiles; a `KilnError` for an unknown target.
 *
 * @example Usage
 * ```ts
 * import { planFromDockerfile } from "./plan.ts";
 * const plan = planFromDockerfile("FROM scratch AS a\nENV A=1\nFROM a\nLABEL x=$A\n", {
 *   buildArgs: new Map([["UNUSED", "1"]]),
 * });
 * console.assert(plan.stages.length === 2 && plan.target === 1 && plan.stages[1]!.baseStage === 0);
 * console.assert(plan.warnings?.some((w) => w.includes("UNUSED")));
 * ```
 */
export function planFromDockerfile(text: string, options: PlanOptions = {}): ExecutionPlan {
  const file = options.file ?? "Dockerfile";
  const parsed = parseDockerfile(text, { filename: file });
  const targetPlatform = options.platform ?? options.buildPlatform;
  const buildPlatform = options.buildPlatform ?? options.platform;
  const p = planBuild(parsed, {
    buildArgs: Object.fromEntries(options.buildArgs ?? []),
    ...(options.target !== undefined && options.target !== "" ? { target: options.target } : {}),
    ...(buildPlatform ? { buildPlatform } : {}),
    ...(targetPlatform ? { targetPlatform } : {}),
    filename: file,
    ...(options.maxExpansion === undefined ? {} : { maxExpansion: options.maxExpansion }),
  });
  const needed = new Set(p.order);
  let last = p.target;
  for (const t of options.alsoTargets ?? []) {
    const extra = planBuild(parsed, {
      buildArgs: Object.fromEntries(options.buildArgs ?? []),
      target: t,
      ...(buildPlatform ? { buildPlatform } : {}),
      ...(targetPlatform ? { targetPlatform } : {}),
      filename: file,
      ...(options.maxExpansion === undefined ? {} : { maxExpansion: options.maxExpansion }),
    });
    for (const i of extra.order) needed.add(i);
    last = Math.max(last, extra.target);
  }
  // A `--from` with a variable names its stage only at dispatch: every stage before it is kept.
  let keepBefore = -1;
  for (const i of p.order) {
    if (p.stages[i]!.dependencies.some((d) => d.kind === "image" && d.ref?.includes("$"))) keepBefore = i;
  }
  const kept = p.stages.filter((s) =>
    s.index <= last && (!options.skipUnusedStages || needed.has(s.index) || s.index < keepBefore)
  );
  const stages: StagePlan[] = kept.map((s) => {
    const base = s.base.kind === "image"
      ? s.base.ref
      : s.base.kind === "stage"
      ? (p.stages[s.base.index]!.name ?? String(s.base.index))
      : "scratch";
    return {
      index: s.index,
      ...(s.name !== undefined ? { name: s.name } : {}),
      base,
      ...(s.base.kind === "stage" ? { baseStage: s.base.index } : {}),
      readsStages: s.dependencies.some((d) => d.kind === "image" && d.ref?.includes("$"))
        ? p.stages.filter((x) => x.index < s.index).map((x) => x.index)
        : [...new Set(s.dependencies.flatMap((d) => (d.kind === "stage" ? [d.index!] : [])))],
      ...(s.platform ? { platform: formatPlatform(s.platform) } : {}),
      line: s.stage.from.location.startLine,
      text: s.stage.from.original,
      instructions: s.instructions.map((ins) => checkInstruction(ins, file, options.allow ?? [])),
    };
  });
  return {
    stages,
    target: stages.findIndex((s) => s.index === p.target),
    metaArgs: new Map(Object.entries(p.globalArgs)),
    globalArgs: p.globalArgs,
    buildArgs: new Map(Object.entries(p.buildArgs)),
    proxyEnv: p.proxyEnv,
    escapeToken: p.escapeToken,
    warnings: p.warnings,
    file,
  };
}

/**
 * Plans the ONBUILD triggers a base image carries (config `OnBuild`), to run first in a stage built on it.
 *
 * @param triggers The trigger instructions as stored (`RUN make`, `COPY . /app`).
 * @param options Where the stage's FROM is, for messages; the entitlements granted.
 * @returns The trigger instructions, located at the FROM line.
 *
 * @example Usage
 * ```ts
 * import { planOnbuildTriggers } from "./plan.ts";
 * const steps = planOnbuildTriggers(["ENV A=1"], { file: "Dockerfile", line: 1 });
 * console.assert(steps.length === 1 && steps[0]!.kind === "env" && steps[0]!.original === "ONBUILD ENV A=1");
 * ```
 */
export function planOnbuildTriggers(
  triggers: readonly string[],
  options: { file: string; line: number; allow?: readonly Entitlement[] },
): StageInstruction[] {
  return triggers.map((t) => {
    let ins: Instruction;
    try {
      const { stages } = toStages(parseDockerfile(`FROM scratch\n${t}\n`, { filename: options.file }));
      ins = stages[0]!.instructions[0]!;
    } catch (e) {
      throw new DockerfileError(`invalid ONBUILD trigger in the base image: ${t}: ${(e as Error).message}`, {
        file: options.file,
        line: options.line,
        cause: e,
      });
    }
    if (!ins || ins.kind === "onbuild" || ins.kind === "from" || ins.kind === "maintainer") {
      throw new DockerfileError(`invalid ONBUILD trigger in the base image: ${t}`, {
        file: options.file,
        line: options.line,
      });
    }
    const located = {
      ...ins,
      location: { startLine: options.line, endLine: options.line },
      original: `ONBUILD ${t}`,
    } as Instruction;
    return checkInstruction(located, options.file, options.allow ?? []);
  });
}
