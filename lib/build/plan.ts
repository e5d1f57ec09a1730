/**
 * `planFromDockerfile()`: turns Dockerfile text into the executor's {@linkcode BuildPlan} over lib/dockerfile's
 * typed stages (`toStages`): global ARGs resolved with `--build-arg`, FROM expanded with them, the target chosen
 * and, on request, unused stages dropped; each instruction becomes a {@linkcode PlannedStep} that expands its words
 * (BuildKit's shell lexer) only when the executor reaches it, with the variables in effect there.
 *
 * @module
 */
import { parseDockerfile } from "../dockerfile/parser.ts";
import { type Instruction, toStages } from "../dockerfile/instructions.ts";
import { createShellLexer, type ShellLexer } from "../dockerfile/shell_lexer.ts";
import { DockerfileError } from "../dockerfile/errors.ts";
import type { Platform } from "../image/types.ts";
import { formatPlatform } from "../image/platform.ts";
import type { BuildPlan, CommandForm, PlannedStep, StagePlan, Step } from "./steps.ts";
import { heredocRunCommand, parseMountFlag } from "./mounts/mod.ts";
import type { StepFile } from "./mounts/heredoc_run.ts";

/** Options for {@linkcode planFromDockerfile}. */
export interface PlanOptions {
  /** Dockerfile name for messages (default `Dockerfile`). */
  file?: string;
  /** `--build-arg` values. */
  buildArgs?: ReadonlyMap<string, string>;
  /** `--target` stage name or index (default: the last stage). */
  target?: string;
  /** Build only the stages the target needs. */
  skipUnusedStages?: boolean;
  /** Target platform (sets TARGETPLATFORM/TARGETOS/TARGETARCH and the BUILD* equivalents). */
  platform?: Platform;
}

function platformArgs(p: Platform | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (!p) return m;
  for (const pre of ["TARGET", "BUILD"]) {
    m.set(`${pre}PLATFORM`, formatPlatform(p));
    m.set(`${pre}OS`, p.os);
    m.set(`${pre}ARCH`, p.architecture);
    m.set(`${pre}VARIANT`, p.variant ?? "");
  }
  return m;
}

function commandOf(command: readonly string[], prependShell: boolean): CommandForm {
  return prependShell ? { shell: true, command: command.join(" ") } : { shell: false, argv: [...command] };
}

/**
 * Parses `text` and plans the build.
 *
 * @param text Dockerfile contents.
 * @param options Build args, target, file name.
 * @returns The plan.
 *
 * @example Usage
 * ```ts
 * import { planFromDockerfile } from "./plan.ts";
 * const plan = planFromDockerfile("FROM scratch AS a\nENV A=1\nFROM a\nLABEL x=$A\n");
 * console.assert(plan.stages.length === 2 && plan.target === 1);
 * ```
 */
export function planFromDockerfile(text: string, options: PlanOptions = {}): BuildPlan {
  const file = options.file ?? "Dockerfile";
  const parsed = parseDockerfile(text, { filename: file });
  const { stages: typed, metaArgs: metaArgInstrs } = toStages(parsed, { filename: file });
  const lexer = createShellLexer(parsed.escapeToken);
  const buildArgs = options.buildArgs ?? new Map<string, string>();
  const metaArgs = new Map<string, string>(platformArgs(options.platform));
  const expand = (w: string, vars: ReadonlyMap<string, string>, line: number): string => {
    try {
      return lexer.processWord(w, vars).value;
    } catch (e) {
      throw new DockerfileError((e as Error).message, { file, line, cause: e });
    }
  };
  for (const ins of metaArgInstrs) {
    for (const a of ins.args) {
      const def = a.value === undefined ? undefined : expand(a.value, metaArgs, ins.location.startLine);
      const v = buildArgs.get(a.key) ?? def;
      if (v !== undefined) metaArgs.set(a.key, v);
    }
  }
  const stages: StagePlan[] = typed.map((st) => {
    const line = st.from.location.startLine;
    const base = expand(st.from.image, metaArgs, line);
    if (base === "") {
      throw new DockerfileError(`FROM ${st.from.image}: base name expands to an empty string`, { file, line });
    }
    const platform = st.from.platform === undefined ? undefined : expand(st.from.platform, metaArgs, line);
    return {
      index: st.index,
      ...(st.name !== undefined ? { name: st.name } : {}),
      base,
      ...(platform !== undefined ? { platform } : {}),
      line,
      text: st.from.original,
      steps: st.instructions.map((ins) => planStep(ins, lexer, file, expand)),
    };
  });

  let target = stages.length - 1;
  if (options.target !== undefined && options.target !== "") {
    const t = stages.find((s) => s.name === options.target!.toLowerCase() || String(s.index) === options.target);
    if (!t) throw new DockerfileError(`target stage "${options.target}" could not be found`, { file, line: 0 });
    target = t.index;
  }
  let kept = stages.slice(0, target + 1);
  if (options.skipUnusedStages) {
    const need = new Set<number>([target]);
    const ref = (r: string) => stages.find((s) => s.name === r.toLowerCase() || String(s.index) === r);
    for (let i = target; i >= 0; i--) {
      if (!need.has(i)) continue;
      const s = stages[i]!;
      const b = ref(s.base);
      if (b && b.index < i) need.add(b.index);
      for (const ins of typed[i]!.instructions) {
        // COPY --from and RUN --mount=…,from= both read another stage.
        const froms = ins.kind === "copy" && ins.from !== undefined
          ? [ins.from]
          : ins.kind === "run"
          ? ins.mountSpecs.flatMap((m) => [...m.matchAll(/(?:^|,)from=([^,]+)/gi)].map((x) => x[1]!))
          : [];
        for (const from of froms) {
          const f = ref(from);
          if (f && f.index < i) need.add(f.index);
          else if (from.includes("$")) { for (let k = 0; k < i; k++) need.add(k); }
        }
      }
    }
    kept = kept.filter((s) => need.has(s.index));
  }
  return { stages: kept, target: kept.findIndex((s) => s.index === target), metaArgs, buildArgs, file };
}

/**
 * Plans the ONBUILD triggers a base image carries (config `OnBuild`), to run first in a stage built on it.
 *
 * @param triggers The trigger instructions as stored (`RUN make`, `COPY . /app`).
 * @param options Where the stage's FROM is, for messages.
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
  options: { file: string; line: number },
): PlannedStep[] {
  const lexer = createShellLexer("\\");
  const expand = (w: string, vars: ReadonlyMap<string, string>, line: number): string => {
    try {
      return lexer.processWord(w, vars).value;
    } catch (e) {
      throw new DockerfileError((e as Error).message, { file: options.file, line, cause: e });
    }
  };
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
    return planStep(ins, lexer, options.file, expand);
  });
}

/** Heredoc bodies with `<<-` tabs stripped. */
function body(data: string, chomp: boolean): string {
  return chomp ? data.replace(/(^|\n)\t+/g, "$1") : data;
}

function planStep(
  ins: Instruction,
  lexer: ShellLexer,
  file: string,
  expand: (w: string, vars: ReadonlyMap<string, string>, line: number) => string,
): PlannedStep {
  const line = ins.location.startLine;
  const base = { line, text: ins.original };
  const x = (w: string, vars: ReadonlyMap<string, string>) => expand(w, vars, line);
  const fail = (msg: string): never => {
    throw new DockerfileError(msg, { file, line, endLine: ins.location.endLine });
  };
  const mk = (resolve: (vars: ReadonlyMap<string, string>) => Step): PlannedStep => ({
    ...base,
    kind: ins.kind === "add" ? "copy" : ins.kind === "from" ? "run" : ins.kind,
    resolve,
  });
  switch (ins.kind) {
    case "from":
      return fail("FROM inside a stage");
    case "run": {
      if (ins.security === "insecure") fail("RUN --security=insecure is not supported by kiln");
      if (ins.devices.length > 0) fail("RUN --device is not supported by kiln");
      let cmd = commandOf(ins.command, ins.prependShell);
      let files: StepFile[] = [];
      if (
        ins.heredocs.length === 1 && ins.prependShell &&
        body(ins.heredocs[0]!.data, ins.heredocs[0]!.chomp).startsWith("#!")
      ) {
        // A lone `#!` heredoc runs as a script file (lib/build/mounts heredocRunCommand), as BuildKit does.
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
        const mounts = ins.mountSpecs.map((m) => parseMountFlag(x(m, vars), { location: where }));
        return {
          kind: "run",
          cmd,
          ...(network !== undefined ? { network } : {}),
          ...(mounts.length ? { mounts } : {}),
          ...(files.length ? { files } : {}),
        };
      });
    }
    case "copy":
    case "add": {
      // Heredoc bodies expand like BuildKit's: quotes and escapes kept as written.
      const rawLexer = createShellLexer("\\", { rawQuotes: true, rawEscapes: true });
      return mk((vars) => {
        const from = ins.kind === "copy" && ins.from !== undefined ? x(ins.from, vars) : undefined;
        return {
          kind: "copy",
          add: ins.kind === "add",
          sources: ins.sources.map((s) => x(s, vars)),
          dest: x(ins.dest, vars),
          ...(from !== undefined ? { from } : {}),
          ...(ins.chown !== undefined ? { chown: x(ins.chown, vars) } : {}),
          ...(ins.chmod !== undefined ? { chmod: x(ins.chmod, vars) } : {}),
          ...(ins.link ? { link: true } : {}),
          ...(ins.kind === "copy" && ins.parents ? { parents: true } : {}),
          ...(ins.excludes.length ? { exclude: ins.excludes.map((e) => x(e, vars)) } : {}),
          ...(ins.sourceContents.length
            ? {
              inline: ins.sourceContents.map((h) => ({
                name: h.name,
                content: h.expand ? rawLexer.processWord(h.data, vars).value : h.data,
              })),
            }
            : {}),
          ...(ins.kind === "add" && ins.checksum !== undefined ? { checksum: x(ins.checksum, vars) } : {}),
          ...(ins.kind === "add" && ins.keepGitDir ? { keepGitDir: true } : {}),
          ...(ins.kind === "add" && ins.unpack !== undefined ? { unpack: ins.unpack } : {}),
        };
      });
    }
    case "env":
      return mk((vars) => ({ kind: "env", pairs: ins.pairs.map((p) => [x(p.key, vars), x(p.value, vars)]) }));
    case "label":
      return mk((vars) => ({ kind: "label", pairs: ins.pairs.map((p) => [x(p.key, vars), x(p.value, vars)]) }));
    case "arg":
      return mk((vars) => ({
        kind: "arg",
        args: ins.args.map((a) => ({
          name: a.key,
          ...(a.value === undefined ? {} : { value: x(a.value, vars) }),
        })),
      }));
    case "user":
      return mk((vars) => ({ kind: "user", user: x(ins.user, vars) }));
    case "workdir":
      return mk((vars) => ({ kind: "workdir", path: x(ins.path, vars) }));
    case "expose":
      return mk((vars) => ({ kind: "expose", ports: ins.ports.flatMap((p) => lexer.processWords(p, vars).words) }));
    case "volume":
      return mk((vars) => ({ kind: "volume", paths: ins.paths.map((p) => x(p, vars)) }));
    case "cmd":
      return mk(() => ({ kind: "cmd", cmd: commandOf(ins.command, ins.prependShell) }));
    case "entrypoint":
      return mk(() => ({ kind: "entrypoint", cmd: commandOf(ins.command, ins.prependShell) }));
    case "shell":
      return mk(() => ({ kind: "shell", argv: [...ins.shell] }));
    case "stopsignal":
      return mk((vars) => ({ kind: "stopsignal", signal: x(ins.signal, vars) }));
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
