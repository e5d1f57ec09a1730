/**
 * `planFromDockerfile()`: a thin adapter from lib/dockerfile's {@linkcode planBuild} (stages, bases, dependencies,
 * target, needed stages, global and automatic platform args, proxy args, unused-build-arg warnings) to the
 * executor's {@linkcode BuildPlan}. Each instruction becomes a {@linkcode PlannedStep} whose words are expanded only
 * when the executor reaches it, by lib/dockerfile's {@linkcode expandInstruction}, with the variables of the
 * stage's {@linkcode createStageScope} (lib/executor/stage.ts): one implementation of BuildKit's ARG/ENV scoping.
 *
 * @module
 */
import { parseDockerfile } from "../dockerfile/parser.ts";
import { type Instruction, toStages } from "../dockerfile/instructions.ts";
import { createShellLexer, type ShellEnv, type ShellLexer } from "../dockerfile/shell_lexer.ts";
import { DockerfileError, ShellExpansionError } from "../dockerfile/errors.ts";
import { expandInstruction } from "../dockerfile/expand.ts";
import { planBuild } from "../dockerfile/plan.ts";
import type { Platform } from "../image/types.ts";
import { formatPlatform } from "../image/platform.ts";
import type { BuildPlan, CommandForm, PlannedStep, StagePlan, Step } from "./steps.ts";
import { heredocRunCommand, parseMountFlag } from "./mounts/mod.ts";
import type { StepFile } from "./mounts/heredoc_run.ts";

/** Options for {@linkcode planFromDockerfile}. */
export interface PlanOptions {
  /** Dockerfile name for messages (default `Dockerfile`). */
  file?: string;
  /** `--build-arg` values (a bare `--build-arg K` is resolved from the caller's environment before this). */
  buildArgs?: ReadonlyMap<string, string>;
  /** `--target` stage name (default: the last stage). */
  target?: string;
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

/** What planning one instruction needs. */
interface StepPlanning {
  lexer: ShellLexer;
  file: string;
  allow: readonly Entitlement[];
}

function commandOf(command: readonly string[], prependShell: boolean): CommandForm {
  return prependShell ? { shell: true, command: command.join(" ") } : { shell: false, argv: [...command] };
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
export function planFromDockerfile(text: string, options: PlanOptions = {}): BuildPlan {
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
  const lexer = createShellLexer(
    p.escapeToken,
    options.maxExpansion === undefined ? {} : { maxExpansion: options.maxExpansion },
  );
  const planning: StepPlanning = { lexer, file, allow: options.allow ?? [] };
  const needed = new Set(p.order);
  // A `--from` with a variable names its stage only at dispatch: every stage before it is kept.
  let keepBefore = -1;
  for (const i of p.order) {
    if (p.stages[i]!.dependencies.some((d) => d.kind === "image" && d.ref?.includes("$"))) keepBefore = i;
  }
  const kept = p.stages.filter((s) =>
    s.index <= p.target && (!options.skipUnusedStages || needed.has(s.index) || s.index < keepBefore)
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
      steps: s.instructions.map((ins) => planStep(ins, planning)),
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
 * @returns Steps, located at the FROM line.
 *
 * @example Usage
 * ```ts
 * import { planOnbuildTriggers } from "./plan.ts";
 * const steps = planOnbuildTriggers(["ENV A=1"], { file: "Dockerfile", line: 1 });
 * console.assert(steps.length === 1 && steps[0]!.kind === "env");
 * ```
 */
export function planOnbuildTriggers(
  triggers: readonly string[],
  options: { file: string; line: number; allow?: readonly Entitlement[] },
): PlannedStep[] {
  const planning: StepPlanning = { lexer: createShellLexer("\\"), file: options.file, allow: options.allow ?? [] };
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
    ins = {
      ...ins,
      location: { startLine: options.line, endLine: options.line },
      original: `ONBUILD ${t}`,
    } as Instruction;
    return planStep(ins, planning);
  });
}

/** Heredoc bodies with `<<-` tabs stripped. */
function body(data: string, chomp: boolean): string {
  return chomp ? data.replace(/(^|\n)\t+/g, "$1") : data;
}

/**
 * BuildKit reads `?ref=`, `?tag=`, `?branch=`, `?subdir=`, `?checksum=`… on an http(s) `.git` URL as git options;
 * kiln's git source takes only the `#ref:subdir` fragment, and such a URL would otherwise be downloaded as a file.
 */
function rejectGitQuery(src: string, fail: (msg: string) => never): void {
  if (!/^https?:\/\//i.test(src)) return;
  let u: URL;
  try {
    u = new URL(src);
  } catch {
    return;
  }
  if (u.search !== "" && /\.git\/?$/.test(u.pathname)) {
    fail(
      `ADD ${src}: git URL query parameters (${u.search}) are not supported by kiln; use ${u.origin}${u.pathname}#<ref>[:<subdir>]`,
    );
  }
}

function planStep(ins: Instruction, planning: StepPlanning): PlannedStep {
  const { lexer, file } = planning;
  const line = ins.location.startLine;
  const base = { line, text: ins.original };
  const fail = (msg: string): never => {
    throw new DockerfileError(msg, { file, line, endLine: ins.location.endLine });
  };
  /** One word expanded with BuildKit's lexer (words expandInstruction leaves alone: `COPY --from`, mounts). */
  const word = (w: string, vars: ShellEnv): string => {
    try {
      return lexer.processWord(w, vars).value;
    } catch (e) {
      if (e instanceof ShellExpansionError) fail(e.message);
      throw e;
    }
  };
  /** The instruction with lib/dockerfile's dispatch-time expansion. */
  const expand = <T extends Instruction>(i: T, vars: ShellEnv): T =>
    expandInstruction(i, vars, { lexer, filename: file });
  const mk = (resolve: (vars: ShellEnv) => Step): PlannedStep => ({
    ...base,
    kind: ins.kind === "add" ? "copy" : ins.kind === "from" ? "run" : ins.kind,
    resolve,
  });
  switch (ins.kind) {
    case "from":
      return fail("FROM inside a stage");
    case "run": {
      const insecure = ins.security === "insecure";
      if (insecure && !planning.allow.includes("security.insecure")) {
        fail(
          "RUN --security=insecure needs the security.insecure entitlement: run kiln with --allow security.insecure " +
            "(the step then runs with every capability, no seccomp filter and no masked /proc paths)",
        );
      }
      if (ins.devices.length > 0) fail("RUN --device is not supported by kiln");
      let cmd = commandOf(ins.command, ins.prependShell);
      let files: StepFile[] = [];
      if (
        ins.heredocs.length === 1 && ins.prependShell &&
        body(ins.heredocs[0]!.data, ins.heredocs[0]!.chomp).startsWith("#!")
      ) {
        // A lone `#!` heredoc runs as a script file (lib/executor/mounts heredocRunCommand), as BuildKit does.
        const h = ins.heredocs[0]!;
        const hr = heredocRunCommand({
          cmdLine: ins.command[0] ?? "",
          heredocs: [{ name: h.name, content: h.data, chomp: h.chomp }],
        });
        if (hr.files.length > 0) {
          cmd = { shell: false, argv: hr.argv };
          files = hr.files;
        }
      }
      if (ins.heredocs.length > 0 && files.length === 0) {
        const first = ins.heredocs[0]!;
        if (
          ins.heredocs.length === 1 && ins.prependShell &&
          /^\s*<<-?\s*["']?[^\s"']+["']?\s*$/.test(ins.command[0] ?? "")
        ) {
          cmd = { shell: true, command: body(first.data, first.chomp) };
        } else if (ins.prependShell) {
          let c = ins.command[0] ?? "";
          for (const h of ins.heredocs) c += "\n" + body(h.data, h.chomp) + h.name;
          cmd = { shell: true, command: c };
        } else fail("RUN heredocs need the shell form");
      }
      const network = ins.network;
      const where = `${file}:${line}`;
      return mk((vars) => {
        const mounts = ins.mountSpecs.map((m) => parseMountFlag(word(m, vars), { location: where }));
        return {
          kind: "run",
          cmd,
          ...(network !== undefined ? { network } : {}),
          ...(mounts.length ? { mounts } : {}),
          ...(files.length ? { files } : {}),
          ...(insecure ? { security: "insecure" as const } : {}),
        };
      });
    }
    case "copy":
    case "add":
      return mk((vars) => {
        const x = expand(ins, vars);
        if (x.kind === "add") x.sources.forEach((src) => rejectGitQuery(src, fail));
        const from = x.kind === "copy" && x.from !== undefined ? word(x.from, vars) : undefined;
        return {
          kind: "copy",
          add: x.kind === "add",
          sources: x.sources,
          dest: x.dest,
          ...(from !== undefined ? { from } : {}),
          ...(x.chown !== undefined ? { chown: x.chown } : {}),
          ...(x.chmod !== undefined ? { chmod: x.chmod } : {}),
          ...(x.link ? { link: true } : {}),
          ...(x.kind === "copy" && x.parents ? { parents: true } : {}),
          ...(x.excludes.length ? { exclude: x.excludes } : {}),
          ...(x.sourceContents.length
            ? { inline: x.sourceContents.map((h) => ({ name: h.name, content: h.data })) }
            : {}),
          ...(x.kind === "add" && x.checksum !== undefined ? { checksum: x.checksum } : {}),
          ...(x.kind === "add" && x.keepGitDir ? { keepGitDir: true } : {}),
          ...(x.kind === "add" && x.unpack !== undefined ? { unpack: x.unpack } : {}),
        };
      });
    case "env":
    case "label":
      return mk((vars) => {
        const pairs = expand(ins, vars).pairs.map((p): [string, string] => [p.key, p.value]);
        return ins.kind === "env" ? { kind: "env", pairs } : { kind: "label", pairs };
      });
    case "arg":
      // The stage's scope applies ARG (lib/dockerfile createStageScope().declareArgs(step.arg)).
      return {
        ...mk(() => ({ kind: "arg", args: ins.args.map((a) => ({ name: a.key })) })),
        arg: ins,
      };
    case "user":
      return mk((vars) => ({ kind: "user", user: expand(ins, vars).user }));
    case "workdir":
      return mk((vars) => ({ kind: "workdir", path: expand(ins, vars).path }));
    case "expose":
      return mk((vars) => ({ kind: "expose", ports: expand(ins, vars).ports }));
    case "volume":
      return mk((vars) => ({ kind: "volume", paths: expand(ins, vars).paths }));
    case "cmd":
      return mk(() => ({ kind: "cmd", cmd: commandOf(ins.command, ins.prependShell) }));
    case "entrypoint":
      return mk(() => ({ kind: "entrypoint", cmd: commandOf(ins.command, ins.prependShell) }));
    case "shell":
      return mk(() => ({ kind: "shell", argv: [...ins.shell] }));
    case "stopsignal":
      return mk((vars) => ({ kind: "stopsignal", signal: expand(ins, vars).signal }));
    case "maintainer":
      return mk(() => ({ kind: "maintainer", name: ins.maintainer }));
    case "onbuild":
      return mk(() => ({ kind: "onbuild", expression: ins.expression }));
    case "healthcheck": {
      const t = ins.test;
      const cmd: CommandForm | null = t[0] === "NONE"
        ? null
        : t[0] === "CMD-SHELL"
        ? { shell: true, command: t[1] ?? "" }
        : { shell: false, argv: t.slice(1) };
      const ns = (v: number | undefined) => (v === undefined || v === 0 ? undefined : `${v}ns`);
      const flags = {
        ...(ns(ins.interval) ? { interval: ns(ins.interval)! } : {}),
        ...(ns(ins.timeout) ? { timeout: ns(ins.timeout)! } : {}),
        ...(ns(ins.startPeriod) ? { startPeriod: ns(ins.startPeriod)! } : {}),
        ...(ns(ins.startInterval) ? { startInterval: ns(ins.startInterval)! } : {}),
        ...(ins.retries !== undefined && ins.retries !== 0 ? { retries: String(ins.retries) } : {}),
      };
      return mk(() => ({ kind: "healthcheck", cmd, flags }));
    }
  }
}
