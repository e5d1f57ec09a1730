/**
 * The build plan: stages with resolved bases, the stage dependency graph, the target and the stages it needs, and
 * global build arguments, following BuildKit's `dockerfile2llb` (before any image is fetched).
 *
 * @module
 */
import type { ParseResult } from "./ast.ts";
import { DockerfileError, ShellExpansionError } from "./errors.ts";
import { KilnError } from "../util/errors.ts";
import type { ArgInstruction, Instruction, Stage } from "./instructions.ts";
import { toStages } from "./instructions.ts";
import { parseCsvRecord } from "./mount.ts";
import { formatPlatform, parsePlatform, type Platform } from "./platform.ts";
import { createShellLexer } from "./shell_lexer.ts";
import { applyChecks, type CheckFinding, frontendDirectives } from "./frontend.ts";
import { goQuote } from "./_go.ts";

/** Where a stage starts from. */
export type StageBase =
  | { kind: "image"; ref: string }
  | { kind: "stage"; index: number }
  | { kind: "scratch" };

/** Something a stage needs before it can run. */
export interface StageDependency {
  /** `stage`: another stage of this file; `image`: an image used by `COPY --from` or `RUN --mount from=`. */
  kind: "stage" | "image";
  /** Stage index (kind `stage`). */
  index?: number;
  /** Image reference (kind `image`). */
  ref?: string;
  /** What creates the dependency. */
  via: "from" | "copy" | "mount" | "onbuild";
  /** 1-based line of the instruction. */
  line: number;
}

/** A stage of the plan. */
export interface PlannedStage {
  /** 0-based index. */
  index: number;
  /** Lower-cased stage name, if any. */
  name?: string;
  /** The typed stage (instructions unexpanded). */
  stage: Stage;
  /** Same as `stage.instructions`: the instructions after FROM, unexpanded. */
  instructions: Instruction[];
  /** Resolved base (FROM expanded with the global args). */
  base: StageBase;
  /** FROM `--platform`, expanded and parsed; undefined = the target platform (or the base stage's). */
  platform?: Platform;
  /** Direct dependencies, in instruction order. */
  dependencies: StageDependency[];
  /** Names of global args the FROM line used. */
  usedGlobalArgs: string[];
}

/** Options of {@linkcode planBuild}. */
export interface PlanOptions {
  /** `--build-arg` values (the CLI takes a bare `K` from its environment: cli/common_flags.ts `buildArgsFromFlags`). */
  buildArgs?: Readonly<Record<string, string>>;
  /** Target stage name (case-insensitive); default the last stage. */
  target?: string;
  /** Platform of the build machine (BUILDPLATFORM...); default linux/amd64. */
  buildPlatform?: Platform;
  /** Platform to build for (TARGETPLATFORM...); default the build platform. */
  targetPlatform?: Platform;
  /** File name for messages (default: the parse result's). */
  filename?: string;
  /** Most that substitutions may add to one word (global ARG defaults, FROM); default 1 MiB (the lexer's). */
  maxExpansion?: number;
}

/** What {@linkcode planBuild} returns. */
export interface BuildPlan {
  /** All stages, in file order. */
  stages: PlannedStage[];
  /** Global ARG instructions (before the first FROM). */
  metaArgs: ArgInstruction[];
  /**
   * Global args: the automatic platform args (BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT, TARGETPLATFORM,
   * TARGETOS, TARGETARCH, TARGETVARIANT, TARGETSTAGE; build args override them) plus the global ARG values. FROM
   * sees these; inside a stage they are visible only after `ARG name` re-declares them.
   */
  globalArgs: Record<string, string>;
  /** Index of the target stage. */
  target: number;
  /** Stages the target needs (itself included), in a valid build order (ascending index). */
  order: number[];
  /** The build args as given. */
  buildArgs: Record<string, string>;
  /**
   * Predefined proxy args given as build args (HTTP_PROXY, HTTPS_PROXY, FTP_PROXY, NO_PROXY, ALL_PROXY, any case):
   * add them to every RUN's environment without declaration; never persist them or put them in history.
   */
  proxyEnv: Record<string, string>;
  /** The escape token, for {@linkcode createShellLexer}. */
  escapeToken: "\\" | "`";
  /** Human-readable warnings (unused build args, reserved stage names, parser warnings). */
  warnings: string[];
}

const PROXY_ARGS = ["http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"];
const BUILTIN_ARGS = new Set([
  "BUILDPLATFORM",
  "BUILDOS",
  "BUILDOSVERSION",
  "BUILDARCH",
  "BUILDVARIANT",
  "TARGETPLATFORM",
  "TARGETOS",
  "TARGETOSVERSION",
  "TARGETARCH",
  "TARGETVARIANT",
  "TARGETSTAGE",
  "SOURCE_DATE_EPOCH",
]);

function stageDeps(instrs: readonly Instruction[], via: "copy" | "mount" | "onbuild" | undefined): {
  from: string;
  via: "copy" | "mount" | "onbuild";
  line: number;
}[] {
  const out: { from: string; via: "copy" | "mount" | "onbuild"; line: number }[] = [];
  for (const i of instrs) {
    if (i.kind === "copy" && i.from !== undefined) {
      out.push({ from: i.from, via: via ?? "copy", line: i.location.startLine });
    }
    if (i.kind === "run") {
      for (const spec of i.mountSpecs) {
        let fields: string[];
        try {
          fields = parseCsvRecord(spec);
        } catch {
          continue;
        }
        for (const f of fields) {
          const eq = f.indexOf("=");
          if (eq > 0 && f.slice(0, eq).toLowerCase() === "from" && f.slice(eq + 1) !== "") {
            out.push({ from: f.slice(eq + 1), via: via ?? "mount", line: i.location.startLine });
          }
        }
      }
    }
  }
  return out;
}

/**
 * Plans a build: types the instructions ({@linkcode toStages}), evaluates global ARGs and the automatic platform
 * args, resolves each FROM (image, `scratch`, or an earlier stage, case-insensitive) and its `--platform`, builds
 * the dependency graph (FROM stage, `COPY --from`, `RUN --mount from=`, ONBUILD triggers of a base stage), picks the
 * target and the stages it needs.
 *
 * `--from` may name a stage (case-insensitive), a stage index, or else an image. Naming the current or a later
 * stage is an error (stages are built in file order).
 *
 * @param result A parse result.
 * @param options Build args, target, platforms.
 * @returns The plan.
 * @throws {DockerfileError} `FILE:LINE: ...` for invalid stages and bad references; a `KilnError` for an unknown
 *   target.
 *
 * @example Usage
 * ```ts
 * import { parseDockerfile, planBuild } from "./mod.ts";
 * const df = "ARG V=3.19\nFROM alpine:$V AS build\nRUN make\nFROM scratch AS unused\nFROM scratch\nCOPY --from=build /out /\n";
 * const plan = planBuild(parseDockerfile(df), { buildArgs: { V: "3.20" } });
 * console.assert(plan.stages[0]!.base.kind === "image" && plan.target === 2);
 * console.assert(plan.order.join(",") === "0,2");
 * ```
 */
export function planBuild(result: ParseResult, options: PlanOptions = {}): BuildPlan {
  const filename = options.filename ?? result.filename;
  const { stages, metaArgs } = toStages(result, { filename });
  const buildArgs: Record<string, string> = { ...(options.buildArgs ?? {}) };
  const lexer = createShellLexer(
    result.escapeToken,
    options.maxExpansion === undefined ? {} : { maxExpansion: options.maxExpansion },
  );
  const fail = (msg: string, line: number): never => {
    throw new DockerfileError(msg, { file: filename, line });
  };
  const frontend = frontendDirectives(result, { buildArgs, filename });
  const warnings: string[] = [...frontend.warnings];
  const findings: CheckFinding[] = [];
  for (const w of result.warnings) {
    if (w.url?.includes("no-empty-continuation")) {
      findings.push({ rule: "NoEmptyContinuation", line: w.line, message: w.message });
    } else warnings.push(`${filename}:${w.line}: ${w.message}`);
  }

  // Target (needed for TARGETSTAGE).
  let target = stages.length - 1;
  if (options.target !== undefined && options.target !== "") {
    const t = options.target.toLowerCase();
    const i = stages.findIndex((s) => s.name === t);
    if (i < 0) {
      throw new KilnError(`target stage ${goQuote(options.target)} could not be found in ${filename}`);
    }
    target = i;
  }

  // Automatic platform args, overridable by build args.
  const bp = options.buildPlatform ?? { os: "linux", architecture: "amd64" };
  const tp = options.targetPlatform ?? bp;
  const globalArgs: Record<string, string> = {};
  const auto: [string, string][] = [
    ["BUILDPLATFORM", formatPlatform(bp)],
    ["BUILDOS", bp.os],
    ["BUILDOSVERSION", bp["os.version"] ?? ""],
    ["BUILDARCH", bp.architecture],
    ["BUILDVARIANT", bp.variant ?? ""],
    ["TARGETPLATFORM", formatPlatform(tp)],
    ["TARGETOS", tp.os],
    ["TARGETOSVERSION", tp["os.version"] ?? ""],
    ["TARGETARCH", tp.architecture],
    ["TARGETVARIANT", tp.variant ?? ""],
    ["TARGETSTAGE", stages[target]!.name ?? "default"],
  ];
  for (const [k, v] of auto) globalArgs[k] = Object.hasOwn(buildArgs, k) ? buildArgs[k]! : v;

  // Global ARGs.
  const declared = new Set<string>();
  for (const cmd of metaArgs) {
    for (const a of cmd.args) {
      declared.add(a.key);
      let value: string | undefined;
      if (Object.hasOwn(buildArgs, a.key)) value = buildArgs[a.key];
      else if (a.value !== undefined) {
        try {
          value = lexer.processWord(a.value, globalArgs).value;
        } catch (e) {
          if (e instanceof ShellExpansionError) fail(e.message, cmd.location.startLine);
          throw e;
        }
      }
      if (value !== undefined) globalArgs[a.key] = value;
    }
  }

  // Stages: FROM expansion and base resolution.
  const planned: PlannedStage[] = [];
  const byName = new Map<string, number>();
  for (const st of stages) {
    const line = st.from.location.startLine;
    let image: string;
    const used = new Set<string>();
    try {
      const r = lexer.processWord(st.from.image, globalArgs);
      image = r.value;
      r.usedVars.forEach((v) => used.add(v));
    } catch (e) {
      if (e instanceof ShellExpansionError) return fail(e.message, line);
      throw e;
    }
    if (image === "") fail(`base name (${st.from.image}) should not be blank`, line);
    const p: PlannedStage = {
      index: st.index,
      stage: st,
      instructions: st.instructions,
      base: { kind: "scratch" },
      dependencies: [],
      usedGlobalArgs: [],
    };
    if (st.name !== undefined) p.name = st.name;
    if (st.from.platform !== undefined) {
      let text: string;
      try {
        const r = lexer.processWord(st.from.platform, globalArgs);
        text = r.value;
        r.usedVars.forEach((v) => used.add(v));
      } catch (e) {
        if (e instanceof ShellExpansionError) {
          return fail(`failed to process arguments for platform: ${e.message}`, line);
        }
        throw e;
      }
      if (text === "") fail(`empty platform value from expression ${st.from.platform}`, line);
      const plat = parsePlatform(text, tp.os);
      if (!plat) fail(`failed to parse platform ${st.from.platform}: ${goQuote(text)} is not a valid platform`, line);
      p.platform = plat!;
    }
    const baseIdx = byName.get(image.toLowerCase());
    if (baseIdx !== undefined) {
      p.base = { kind: "stage", index: baseIdx };
      p.dependencies.push({ kind: "stage", index: baseIdx, via: "from", line });
    } else if (image === "scratch") p.base = { kind: "scratch" };
    else p.base = { kind: "image", ref: image };
    p.usedGlobalArgs = [...used];
    if (st.name !== undefined) {
      if (st.name === "scratch" || st.name === "context") {
        findings.push({ rule: "ReservedStageName", line, message: `stage name ${goQuote(st.name)} is reserved` });
      }
      byName.set(st.name, st.index);
    }
    planned.push(p);
  }

  warnings.push(...applyChecks(findings, { checks: frontend.checks, filename }));

  // Dependencies from COPY --from, RUN --mount from=, and ONBUILD triggers inherited from a base stage.
  for (const p of planned) {
    const refs = stageDeps(p.stage.instructions, undefined);
    if (p.base.kind === "stage") {
      const triggers = planned[p.base.index]!.stage.instructions.flatMap((i) =>
        i.kind === "onbuild" && i.trigger ? [i.trigger] : []
      );
      for (const r of stageDeps(triggers, "onbuild")) refs.push({ ...r, line: p.stage.from.location.startLine });
    }
    for (const r of refs) {
      let idx: number | undefined;
      if (/^[+-]?\d+$/.test(r.from)) {
        const n = Number(r.from);
        if (n < 0 || n >= planned.length) fail(`invalid stage index ${n} in --from=${r.from}`, r.line);
        idx = n;
      } else idx = byName.get(r.from.toLowerCase());
      if (idx === undefined) {
        p.dependencies.push({ kind: "image", ref: r.from, via: r.via, line: r.line });
        continue;
      }
      if (idx >= p.index) {
        const what = idx === p.index ? "the current stage" : "a later stage";
        fail(
          `--from=${r.from} refers to ${what} (${planned[idx]!.name ?? `stage ${idx}`}); ` +
            `it needs to be defined before stage ${p.name ?? p.index}`,
          r.line,
        );
      }
      p.dependencies.push({ kind: "stage", index: idx, via: r.via, line: r.line });
    }
  }

  // Stages the target needs.
  const needed = new Set<number>();
  const visit = (i: number) => {
    if (needed.has(i)) return;
    needed.add(i);
    for (const d of planned[i]!.dependencies) if (d.kind === "stage") visit(d.index!);
  };
  visit(target);
  const order = [...needed].sort((a, b) => a - b);

  // Unused build args (declared nowhere the build reaches, not predefined).
  for (const i of order) {
    for (const ins of planned[i]!.stage.instructions) {
      if (ins.kind === "arg") ins.args.forEach((a) => declared.add(a.key));
    }
  }
  const proxyEnv: Record<string, string> = {};
  const unused: string[] = [];
  for (const [k, v] of Object.entries(buildArgs)) {
    if (PROXY_ARGS.includes(k.toLowerCase())) {
      proxyEnv[k] = v;
      continue;
    }
    if (declared.has(k) || BUILTIN_ARGS.has(k) || k.startsWith("BUILDKIT_")) continue;
    unused.push(k);
  }
  if (unused.length) warnings.push(`One or more build-args [${unused.sort().join(" ")}] were not consumed`);

  return {
    stages: planned,
    metaArgs,
    globalArgs,
    target,
    order,
    buildArgs,
    proxyEnv,
    escapeToken: result.escapeToken,
    warnings,
  };
}
