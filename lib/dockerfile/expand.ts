/**
 * Dispatch-time helpers for an executor: word expansion of an instruction with the current environment, and the
 * ARG/ENV scope of a stage with BuildKit's exact rules.
 *
 * @module
 */
import { DockerfileError, ShellExpansionError } from "./errors.ts";
import type { ArgInstruction, HeredocFile, Instruction, KeyValue } from "./instructions.ts";
import { type Mount, MountSyntaxError, parseMount } from "./mount.ts";
import { createShellLexer, type ShellEnv, type ShellLexer } from "./shell_lexer.ts";

/** Options of {@linkcode expandInstruction}. */
export interface ExpandOptions {
  /** The lexer for the file's escape token (`createShellLexer(result.escapeToken)`); default backslash. */
  lexer?: ShellLexer;
  /** File name for error messages (default `Dockerfile`). */
  filename?: string;
}

/**
 * Expands the words BuildKit expands at dispatch time, returning a new instruction of the same kind:
 * ENV and LABEL keys and values; WORKDIR, USER, STOPSIGNAL; EXPOSE ports (split into words); VOLUME paths;
 * COPY/ADD sources, dest, `--chown`, `--chmod`, `--exclude`, `--checksum` and heredoc bodies whose delimiter was
 * unquoted (bodies keep quotes); RUN `--mount` fields (then `mounts` is re-parsed from `mountSpecs`, with
 * defaults). RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK commands, MAINTAINER, ONBUILD, `COPY --from` and ARG are
 * returned unchanged (ARG is handled by {@linkcode createStageScope}; FROM by {@linkcode planBuild}).
 *
 * @param instr The instruction.
 * @param env Variables visible at this point (see {@linkcode StageScope.env}).
 * @param options Lexer and file name.
 * @returns The expanded copy.
 * @throws {DockerfileError} `FILE:LINE: failed to process "...": ...` on bad substitutions or mounts.
 *
 * @example Usage
 * ```ts
 * import { expandInstruction, parseDockerfile, toStages } from "./mod.ts";
 * const { stages } = toStages(parseDockerfile("FROM x\nCOPY --chown=$U app/ /srv/$APP/\n"));
 * const c = expandInstruction(stages[0]!.instructions[0]!, { U: "1000", APP: "web" });
 * console.assert(c.kind === "copy" && c.dest === "/srv/web/" && c.chown === "1000");
 * ```
 */
export function expandInstruction<T extends Instruction>(instr: T, env: ShellEnv, options: ExpandOptions = {}): T {
  const lexer = options.lexer ?? createShellLexer("\\");
  const word = (w: string): string => lexer.processWord(w, env).value;
  const raw = createShellLexer("\\", { skipProcessQuotes: true, maxExpansion: lexer.maxExpansion });
  const pairs = (p: KeyValue[]) => p.map((kv) => ({ key: word(kv.key), value: word(kv.value) }));
  const contents = (c: HeredocFile[]) =>
    c.map((h) => (h.expand ? { ...h, data: raw.processWord(h.data, env).value } : { ...h }));
  try {
    const i = instr as Instruction;
    let out: Instruction;
    switch (i.kind) {
      case "env":
      case "label":
        out = { ...i, pairs: pairs(i.pairs) };
        break;
      case "workdir":
        out = { ...i, path: word(i.path) };
        break;
      case "user":
        out = { ...i, user: word(i.user) };
        break;
      case "stopsignal":
        out = { ...i, signal: word(i.signal) };
        break;
      case "expose":
        out = { ...i, ports: i.ports.flatMap((p) => lexer.processWords(p, env).words) };
        break;
      case "volume":
        out = { ...i, paths: i.paths.map(word) };
        break;
      case "copy":
      case "add": {
        const o = {
          ...i,
          sources: i.sources.map(word),
          dest: word(i.dest),
          excludes: i.excludes.map(word),
          sourceContents: contents(i.sourceContents),
        };
        if (i.chown !== undefined) o.chown = word(i.chown);
        if (i.chmod !== undefined) o.chmod = word(i.chmod);
        if (o.kind === "add" && o.checksum !== undefined) o.checksum = word(o.checksum);
        out = o;
        break;
      }
      case "run":
        out = { ...i, mounts: i.mountSpecs.map((s): Mount => parseMount(s, word)) };
        break;
      default:
        out = i;
    }
    return out as T;
  } catch (e) {
    if (e instanceof ShellExpansionError || e instanceof MountSyntaxError) {
      throw new DockerfileError(e.message, {
        file: options.filename ?? "Dockerfile",
        line: instr.location.startLine,
        endLine: instr.location.endLine,
      });
    }
    throw e;
  }
}

/** A build argument declared in a stage (what BuildKit keeps in `dispatchState.buildArgs`). */
export interface ArgValue {
  /** Name. */
  key: string;
  /** Value, or undefined when declared without value and nothing supplied one. */
  value?: string;
}

/** A stage's variable state; pass it to {@linkcode createStageScope} as `parent` for `FROM <stage>`. */
export interface StageScopeState {
  /** Variables for expansion and for RUN processes, in order: image ENV, then ARG and ENV as dispatched. */
  env: [string, string][];
  /** The image config `Env` (`K=V`): base image env plus ENV instructions; never ARG values. */
  imageEnv: string[];
  /** ARGs declared so far (inherited from a parent stage first). */
  args: ArgValue[];
}

/** Options of {@linkcode createStageScope}. */
export interface StageScopeOptions {
  /** For `FROM <image>`: the base image's config `Env` (`K=V`). A default PATH is added when missing. */
  baseImageEnv?: readonly string[];
  /** For `FROM <stage>`: the parent stage's final state (its ENV and ARG values are inherited). */
  parent?: StageScopeState;
  /** Global args from {@linkcode BuildPlan.globalArgs} (automatic platform args and global ARG values). */
  globalArgs?: Readonly<Record<string, string>>;
  /** `--build-arg` values. */
  buildArgs?: Readonly<Record<string, string>>;
  /** Lexer for the file's escape token. */
  lexer?: ShellLexer;
  /** File name for messages. */
  filename?: string;
  /** OS of the stage, for the default PATH (default linux). */
  os?: string;
}

/** A stage's ARG/ENV scope during dispatch; see {@linkcode createStageScope}. */
export interface StageScope {
  /** Variables visible to expansion and to RUN now (ENV and declared ARGs; last writer wins): a new record. */
  env(): Record<string, string>;
  /**
   * The same variables as {@linkcode StageScope.env}, as a live read-only view (no copy: O(1) per call, for the
   * expansion of each instruction); it changes with the scope, so read it before the next ARG or ENV.
   */
  vars(): ReadonlyMap<string, string>;
  /** Applies an ARG instruction with BuildKit's rules; returns the resolved declarations. */
  declareArgs(instr: ArgInstruction): ArgValue[];
  /** Applies an ENV instruction that was already expanded with {@linkcode expandInstruction}. */
  setEnv(pairs: readonly KeyValue[]): void;
  /** Expands an instruction with the current variables. */
  expand<T extends Instruction>(instr: T): T;
  /** The state to keep (for the image config and for child stages). */
  snapshot(): StageScopeState;
}

const DEFAULT_PATH_LINUX = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_PATH_WINDOWS = "c:\\Windows\\System32;c:\\Windows";
/** Build args BuildKit never adds to the environment. */
const NON_ENV_ARGS = new Set(["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"]);

function splitKV(e: string): [string, string] {
  const i = e.indexOf("=");
  return i < 0 ? [e, ""] : [e.slice(0, i), e.slice(i + 1)];
}

/**
 * Creates the ARG/ENV scope of one stage, following BuildKit's dispatcher:
 * - the environment starts from the base image's `Env` (plus a default PATH), or from the parent stage's state for
 *   `FROM <stage>` (its ARG values come along: ARGs are inherited through FROM ancestry only);
 * - `ARG k=default` takes `--build-arg k` if given, else the default expanded with the current variables;
 *   `ARG k` without default takes the build arg, else the global value (global ARG or automatic platform arg),
 *   else stays unset; a value is added to the environment (it is visible to RUN but never persisted);
 * - `ENV` sets variables in both the environment and the image `Env`; later ARG/ENV of the same name win.
 *
 * @param options Base env or parent state, global args, build args, lexer.
 * @returns The scope.
 *
 * @example Usage
 * ```ts
 * import { createStageScope, parseDockerfile, toStages } from "./mod.ts";
 * const { stages } = toStages(parseDockerfile("FROM x\nARG V=1\nENV W=$V-2\n"));
 * const scope = createStageScope({ baseImageEnv: ["PATH=/bin"], buildArgs: { V: "9" } });
 * for (const i of stages[0]!.instructions) {
 *   if (i.kind === "arg") scope.declareArgs(i);
 *   if (i.kind === "env") scope.setEnv(scope.expand(i).pairs);
 * }
 * console.assert(scope.env().W === "9-2" && scope.snapshot().imageEnv.includes("W=9-2"));
 * ```
 */
export function createStageScope(options: StageScopeOptions = {}): StageScope {
  const lexer = options.lexer ?? createShellLexer("\\");
  const filename = options.filename ?? "Dockerfile";
  const globalArgs = options.globalArgs ?? {};
  const buildArgs = options.buildArgs ?? {};
  const env = new Map<string, string>();
  let imageEnv: string[];
  let args: ArgValue[];
  if (options.parent) {
    for (const [k, v] of options.parent.env) env.set(k, v);
    imageEnv = [...options.parent.imageEnv];
    args = options.parent.args.map((a) => ({ ...a }));
  } else {
    imageEnv = [...(options.baseImageEnv ?? [])];
    if (!imageEnv.some((e) => splitKV(e)[0] === "PATH")) {
      imageEnv.push("PATH=" + (options.os === "windows" ? DEFAULT_PATH_WINDOWS : DEFAULT_PATH_LINUX));
    }
    for (const e of imageEnv) env.set(...splitKV(e));
    args = [];
  }
  // Position of each name in imageEnv (the first entry of that name), so an ENV costs O(1), not O(variables).
  const imageEnvAt = new Map<string, number>();
  imageEnv.forEach((e, i) => {
    const k = splitKV(e)[0];
    if (!imageEnvAt.has(k)) imageEnvAt.set(k, i);
  });
  const scope: StageScope = {
    env: () => Object.fromEntries(env),
    vars: () => env,
    declareArgs(instr) {
      const out: ArgValue[] = [];
      const word = (w: string): string => {
        try {
          return lexer.processWord(w, env).value;
        } catch (e) {
          if (e instanceof ShellExpansionError) {
            throw new DockerfileError(e.message, {
              file: filename,
              line: instr.location.startLine,
              endLine: instr.location.endLine,
            });
          }
          throw e;
        }
      };
      for (const decl of instr.args) {
        // The name is expanded too (BuildKit's ArgCommand.Expand, kaniko): `ENV src=f` then `ARG ${src}=x` declares f.
        const key = decl.key.includes("$") ? word(decl.key) : decl.key;
        let value: string | undefined;
        if (Object.hasOwn(buildArgs, key)) value = buildArgs[key];
        else if (decl.value !== undefined) value = word(decl.value);
        else if (Object.hasOwn(globalArgs, key)) value = globalArgs[key];
        if (value !== undefined && !NON_ENV_ARGS.has(key)) {
          env.delete(key);
          env.set(key, value);
        }
        const a: ArgValue = value === undefined ? { key } : { key, value };
        args.push(a);
        out.push(a);
      }
      return out;
    },
    setEnv(pairs) {
      for (const { key, value } of pairs) {
        env.delete(key);
        env.set(key, value);
        const i = imageEnvAt.get(key);
        if (i !== undefined) imageEnv[i] = `${key}=${value}`;
        else {
          imageEnvAt.set(key, imageEnv.length);
          imageEnv.push(`${key}=${value}`);
        }
      }
    },
    expand: (instr) => expandInstruction(instr, env, { lexer, filename }),
    snapshot: () => ({ env: [...env], imageEnv: [...imageEnv], args: args.map((a) => ({ ...a })) }),
  };
  return scope;
}
