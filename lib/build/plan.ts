/**
 * `planFromDockerfile()`: turns Dockerfile text into the executor's {@linkcode BuildPlan} — stages split at FROM,
 * global ARGs resolved with `--build-arg`, FROM expanded with them, the target chosen and, on request, unused
 * stages dropped — and each instruction into a {@linkcode PlannedStep} that expands its words (BuildKit's shell
 * lexer) only when the executor reaches it, with the variables in effect there.
 *
 * @module
 */
import { parseDockerfile } from "../dockerfile/parser.ts";
import type { Node } from "../dockerfile/ast.ts";
import { createShellLexer, type ShellLexer } from "../dockerfile/shell_lexer.ts";
import { DockerfileError } from "../dockerfile/errors.ts";
import type { Platform } from "../image/types.ts";
import { formatPlatform } from "../image/platform.ts";
import type { HealthcheckFlags } from "./config.ts";
import type { BuildPlan, CommandForm, PlannedStep, StagePlan, Step } from "./steps.ts";

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

function parseFlags(node: Node, allowed: readonly string[], file: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of node.flags) {
    const m = /^--([A-Za-z0-9-]+)(?:=([\s\S]*))?$/.exec(f);
    if (!m) throw new DockerfileError(`invalid flag "${f}"`, { file, line: node.startLine });
    const name = m[1]!;
    if (!allowed.includes(name)) {
      throw new DockerfileError(`${node.keywordOriginal.toUpperCase()} --${name} is not supported by kiln yet`, {
        file,
        line: node.startLine,
      });
    }
    out.set(name, [...(out.get(name) ?? []), m[2] ?? "true"]);
  }
  return out;
}

function one(flags: Map<string, string[]>, name: string): string | undefined {
  const v = flags.get(name);
  return v === undefined ? undefined : v[v.length - 1];
}

function commandOf(node: Node, args: string[] = node.args): CommandForm {
  if (node.json) return { shell: false, argv: [...args] };
  return { shell: true, command: args.join(" ") };
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
  const lexer = createShellLexer(parsed.escapeToken);
  const buildArgs = options.buildArgs ?? new Map<string, string>();
  const auto = platformArgs(options.platform);
  const metaArgs = new Map<string, string>(auto);
  const fail = (msg: string, node: Node): never => {
    throw new DockerfileError(msg, { file, line: node.startLine, endLine: node.endLine });
  };
  const expandWord = (w: string, vars: ReadonlyMap<string, string>, node: Node): string => {
    try {
      return lexer.processWord(w, vars).value;
    } catch (e) {
      throw new DockerfileError((e as Error).message, { file, line: node.startLine, cause: e });
    }
  };

  const stages: StagePlan[] = [];
  let current: StagePlan | undefined;
  for (const node of parsed.nodes) {
    if (node.keyword === "from") {
      const flags = parseFlags(node, ["platform"], file);
      const args = node.args;
      if (args.length !== 1 && !(args.length === 3 && args[1]!.toLowerCase() === "as")) {
        fail("FROM requires either one or three arguments", node);
      }
      const base = expandWord(args[0]!, metaArgs, node);
      if (base === "") fail(`FROM ${args[0]}: base name expands to an empty string`, node);
      const name = args.length === 3 ? args[2]!.toLowerCase() : undefined;
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) fail(`invalid stage name "${args[2]}"`, node);
      if (name !== undefined && stages.some((s) => s.name === name)) fail(`duplicate stage name "${name}"`, node);
      const platform = one(flags, "platform");
      current = {
        index: stages.length,
        ...(name !== undefined ? { name } : {}),
        base,
        ...(platform !== undefined ? { platform: expandWord(platform, metaArgs, node) } : {}),
        line: node.startLine,
        text: node.original,
        steps: [],
      };
      stages.push(current);
      continue;
    }
    if (!current) {
      if (node.keyword !== "arg") fail(`${node.keywordOriginal.toUpperCase()} before the first FROM`, node);
      for (const w of node.args) {
        const eq = w.indexOf("=");
        const key = eq < 0 ? w : w.slice(0, eq);
        const def = eq < 0 ? undefined : expandWord(w.slice(eq + 1), metaArgs, node);
        const v = buildArgs.get(key) ?? def;
        if (v !== undefined) metaArgs.set(key, v);
      }
      continue;
    }
    current.steps.push(planStep(node, lexer, file, expandWord));
  }
  if (stages.length === 0) throw new DockerfileError("the Dockerfile has no FROM instruction", { file, line: 0 });

  let target = stages.length - 1;
  if (options.target !== undefined && options.target !== "") {
    const t = stages.find((s) => s.name === options.target!.toLowerCase() || String(s.index) === options.target);
    if (!t) {
      throw new DockerfileError(`target stage "${options.target}" could not be found`, { file, line: 0 });
    }
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
      for (const st of s.steps) {
        const from = /--from=(\S+)/.exec(st.text)?.[1];
        const f = from === undefined ? undefined : ref(from);
        if (f && f.index < i) need.add(f.index);
      }
    }
    kept = kept.filter((s) => need.has(s.index));
  }
  return {
    stages: kept,
    target: kept.findIndex((s) => s.index === target),
    metaArgs,
    buildArgs,
    file,
  };
}

function planStep(
  node: Node,
  lexer: ShellLexer,
  file: string,
  expandWord: (w: string, vars: ReadonlyMap<string, string>, node: Node) => string,
): PlannedStep {
  const kw = node.keyword;
  const base = { line: node.startLine, text: node.original };
  const fail = (msg: string): never => {
    throw new DockerfileError(msg, { file, line: node.startLine, endLine: node.endLine });
  };
  const words = (vars: ReadonlyMap<string, string>) => node.args.map((a) => expandWord(a, vars, node));
  const pairs = (vars: ReadonlyMap<string, string>): [string, string][] => {
    const out: [string, string][] = [];
    for (let i = 0; i + 1 < node.args.length; i += 3) {
      out.push([expandWord(node.args[i]!, vars, node), expandWord(node.args[i + 1]!, vars, node)]);
    }
    return out;
  };
  const mk = (kind: Step["kind"], resolve: (vars: ReadonlyMap<string, string>) => Step): PlannedStep => ({
    ...base,
    kind,
    resolve,
  });
  if (node.heredocs.length > 0 && kw !== "copy" && kw !== "add") {
    fail(`${kw.toUpperCase()} heredocs are not supported by kiln yet`);
  }
  switch (kw) {
    case "run": {
      const flags = parseFlags(node, ["network"], file);
      const network = one(flags, "network");
      if (network !== undefined && !["default", "none", "host"].includes(network)) {
        fail(`RUN --network=${network}: expected default, none or host`);
      }
      return mk("run", () => ({
        kind: "run",
        cmd: commandOf(node),
        ...(network !== undefined ? { network: network as "default" | "none" | "host" } : {}),
      }));
    }
    case "copy":
    case "add": {
      if (node.heredocs.length > 0) fail(`${kw.toUpperCase()} with heredocs is not supported by kiln yet`);
      const allowed = kw === "copy"
        ? ["from", "chown", "chmod", "link", "parents", "exclude"]
        : ["chown", "chmod", "link", "exclude", "checksum", "keep-git-dir", "unpack"];
      const flags = parseFlags(node, allowed, file);
      if (node.args.length < 2) fail(`${kw.toUpperCase()} requires at least two arguments`);
      return mk("copy", (vars) => {
        const all = words(vars);
        const f = (n: string) => {
          const v = one(flags, n);
          return v === undefined ? undefined : expandWord(v, vars, node);
        };
        const from = f("from"), chown = f("chown"), chmod = f("chmod");
        return {
          kind: "copy",
          add: kw === "add",
          sources: all.slice(0, -1),
          dest: all[all.length - 1]!,
          ...(from !== undefined ? { from } : {}),
          ...(chown !== undefined ? { chown } : {}),
          ...(chmod !== undefined ? { chmod } : {}),
          ...(flags.has("link") && one(flags, "link") !== "false" ? { link: true } : {}),
          ...(flags.has("parents") && one(flags, "parents") !== "false" ? { parents: true } : {}),
          ...(flags.has("exclude") ? { exclude: flags.get("exclude")!.map((x) => expandWord(x, vars, node)) } : {}),
        };
      });
    }
    case "env":
      parseFlags(node, [], file);
      return mk("env", (vars) => ({ kind: "env", pairs: pairs(vars) }));
    case "label":
      parseFlags(node, [], file);
      return mk("label", (vars) => ({ kind: "label", pairs: pairs(vars) }));
    case "arg":
      parseFlags(node, [], file);
      return mk("arg", (vars) => ({
        kind: "arg",
        args: node.args.map((w) => {
          const eq = w.indexOf("=");
          if (eq < 0) return { name: w };
          return { name: w.slice(0, eq), value: expandWord(w.slice(eq + 1), vars, node) };
        }),
      }));
    case "user":
      parseFlags(node, [], file);
      return mk("user", (vars) => ({ kind: "user", user: words(vars).join(" ") }));
    case "workdir":
      parseFlags(node, [], file);
      return mk("workdir", (vars) => ({ kind: "workdir", path: words(vars).join(" ") }));
    case "expose":
      parseFlags(node, [], file);
      return mk("expose", (vars) => ({
        kind: "expose",
        ports: node.args.flatMap((a) => lexer.processWords(a, vars).words),
      }));
    case "volume":
      parseFlags(node, [], file);
      return mk("volume", (vars) => ({ kind: "volume", paths: words(vars) }));
    case "cmd":
      parseFlags(node, [], file);
      return mk("cmd", () => ({ kind: "cmd", cmd: commandOf(node) }));
    case "entrypoint":
      parseFlags(node, [], file);
      return mk("entrypoint", () => ({ kind: "entrypoint", cmd: commandOf(node) }));
    case "shell":
      parseFlags(node, [], file);
      if (!node.json) fail("SHELL requires the arguments to be in JSON form");
      return mk("shell", () => ({ kind: "shell", argv: [...node.args] }));
    case "stopsignal":
      parseFlags(node, [], file);
      return mk("stopsignal", (vars) => ({ kind: "stopsignal", signal: words(vars).join(" ") }));
    case "maintainer":
      parseFlags(node, [], file);
      return mk("maintainer", () => ({ kind: "maintainer", name: node.args.join(" ") }));
    case "onbuild": {
      if (!node.child) fail("ONBUILD requires an instruction");
      const expr = node.original.replace(/^\s*onbuild\s+/i, "");
      return mk("onbuild", () => ({ kind: "onbuild", expression: expr }));
    }
    case "healthcheck": {
      const flags = parseFlags(node, ["interval", "timeout", "start-period", "start-interval", "retries"], file);
      const type = (node.args[0] ?? "").toUpperCase();
      if (type !== "NONE" && type !== "CMD") fail(`HEALTHCHECK: unknown type "${node.args[0]}" (expected CMD or NONE)`);
      if (type === "NONE" && (node.args.length > 1 || node.flags.length > 0)) {
        fail("HEALTHCHECK NONE takes no arguments");
      }
      const hf: HealthcheckFlags = {};
      const setIf = (k: keyof HealthcheckFlags, n: string) => {
        const v = one(flags, n);
        if (v !== undefined) hf[k] = v;
      };
      setIf("interval", "interval");
      setIf("timeout", "timeout");
      setIf("startPeriod", "start-period");
      setIf("startInterval", "start-interval");
      setIf("retries", "retries");
      const rest = node.args.slice(1);
      if (type === "CMD" && rest.length === 0) fail("HEALTHCHECK CMD requires a command");
      return mk("healthcheck", () => ({
        kind: "healthcheck",
        cmd: type === "NONE" ? null : commandOf(node, rest),
        flags: hf,
      }));
    }
    default:
      return fail(`unknown instruction: ${node.keywordOriginal.toUpperCase()}`);
  }
}
