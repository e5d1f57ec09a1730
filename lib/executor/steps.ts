/**
 * The executor's view of a Dockerfile: stages whose instructions are resolved one at a time against the
 * variables in effect at that point (ENV and ARG change them as the stage runs). This keeps the executor
 * independent of the parser: lib/executor/plan.ts adapts lib/dockerfile's output to it, and tests or other front ends
 * can build a {@linkcode StagePlan} directly.
 *
 * @module
 */
import type { HealthcheckFlags } from "./config.ts";
import type { ArgInstruction } from "../dockerfile/instructions.ts";
import type { ShellEnv } from "../dockerfile/shell_lexer.ts";
import type { RunMount } from "./mounts/parse.ts";
import type { StepFile } from "./mounts/heredoc_run.ts";

/** Where an instruction came from (for messages and history). */
export interface StepSource {
  /** 1-based Dockerfile line. */
  line: number;
  /** The instruction as written (continuations joined), e.g. `RUN make install`. */
  text: string;
}

/** A command in shell form (one string for the shell) or exec form (argv). */
export type CommandForm = { shell: true; command: string } | { shell: false; argv: string[] };

/** One instruction with its variables expanded. */
export type Step =
  | {
    /** RUN. */
    kind: "run";
    /** The command. */
    cmd: CommandForm;
    /** `--network`. */
    network?: "default" | "none" | "host";
    /** `--mount`s, expanded and parsed (lib/executor/mounts). */
    mounts?: RunMount[];
    /** Files the step needs mounted read-only (a `#!` heredoc script). */
    files?: StepFile[];
    /** `--security=insecure` (granted with `--allow security.insecure`): no capability limits, filter or masks. */
    security?: "insecure";
  }
  | {
    /** COPY or ADD. */
    kind: "copy";
    /** True for ADD. */
    add: boolean;
    /** Sources (context paths, globs; URLs for ADD). */
    sources: string[];
    /** Destination in the image. */
    dest: string;
    /** `--from` (stage name, stage index, or image). */
    from?: string;
    /** `--chown`. */
    chown?: string;
    /** `--chmod`. */
    chmod?: string;
    /** `--link` (accepted; the layer is the same). */
    link?: boolean;
    /** `--exclude` patterns. */
    exclude?: string[];
    /** `--parents`. */
    parents?: boolean;
    /** Heredoc sources (`COPY <<EOF /dst`), bodies chomped and expanded. */
    inline?: { name: string; content: string }[];
    /** ADD `--checksum`. */
    checksum?: string;
    /** ADD `--keep-git-dir`. */
    keepGitDir?: boolean;
    /** ADD `--unpack` (undefined: default). */
    unpack?: boolean;
  }
  | {
    /** ENV. */
    kind: "env";
    /** Pairs in order. */
    pairs: [string, string][];
  }
  | {
    /** ARG. */
    kind: "arg";
    /** Declarations; `value` is the expanded default. */
    args: { name: string; value?: string }[];
  }
  | {
    /** LABEL. */
    kind: "label";
    /** Pairs in order. */
    pairs: [string, string][];
  }
  | {
    /** USER. */
    kind: "user";
    /** `user[:group]`. */
    user: string;
  }
  | {
    /** WORKDIR. */
    kind: "workdir";
    /** Path (relative paths resolve against the current WORKDIR). */
    path: string;
  }
  | {
    /** EXPOSE. */
    kind: "expose";
    /** Port words. */
    ports: string[];
  }
  | {
    /** VOLUME. */
    kind: "volume";
    /** Paths. */
    paths: string[];
  }
  | {
    /** CMD. */
    kind: "cmd";
    /** The command. */
    cmd: CommandForm;
  }
  | {
    /** ENTRYPOINT. */
    kind: "entrypoint";
    /** The command. */
    cmd: CommandForm;
  }
  | {
    /** SHELL. */
    kind: "shell";
    /** The shell argv. */
    argv: string[];
  }
  | {
    /** STOPSIGNAL. */
    kind: "stopsignal";
    /** The signal. */
    signal: string;
  }
  | {
    /** HEALTHCHECK. */
    kind: "healthcheck";
    /** `null` for `HEALTHCHECK NONE`, else the command. */
    cmd: CommandForm | null;
    /** Options. */
    flags: HealthcheckFlags;
  }
  | {
    /** MAINTAINER. */
    kind: "maintainer";
    /** Author. */
    name: string;
  }
  | {
    /** ONBUILD. */
    kind: "onbuild";
    /** The trigger instruction as written. */
    expression: string;
  };

/** An instruction waiting for its variables. */
export interface PlannedStep extends StepSource {
  /** Kind of the step (known before expansion). */
  kind: Step["kind"];
  /**
   * Expands the instruction with the variables in effect (the stage scope's `env()`: ENV and declared ARGs).
   *
   * @param vars Variable values.
   * @returns The expanded step.
   */
  resolve(vars: ShellEnv): Step;
  /** For ARG: the typed instruction, applied by the stage's scope (lib/dockerfile `createStageScope().declareArgs`). */
  arg?: ArgInstruction;
}

/** One stage of the build. */
export interface StagePlan {
  /** 0-based stage index. */
  index: number;
  /** `AS name` (lower-cased), if any. */
  name?: string;
  /** The base: `scratch`, an image reference, a named build context, or an earlier stage's name or index. */
  base: string;
  /** Index of the earlier stage `FROM` names (BuildKit's resolution: stage names only, case-insensitive). */
  baseStage?: number;
  /**
   * Earlier stages whose filesystem this stage reads (FROM, `COPY --from`, `RUN --mount from=`, ONBUILD triggers of
   * a base stage; every earlier stage when a `--from` holds a variable), from lib/dockerfile's dependency graph.
   */
  readsStages?: number[];
  /** `FROM --platform`, expanded. */
  platform?: string;
  /** Dockerfile line of the FROM. */
  line: number;
  /** The FROM instruction as written. */
  text: string;
  /** The stage's instructions after FROM. */
  steps: PlannedStep[];
}

/** A whole build plan. */
export interface BuildPlan {
  /** Stages to build, in order (earlier stages first). */
  stages: StagePlan[];
  /** Index of the target stage in {@linkcode stages}. */
  target: number;
  /** Global ARGs (declared before the first FROM) with their values after `--build-arg`. */
  metaArgs: ReadonlyMap<string, string>;
  /** The `--build-arg` values (only declared ARGs take effect). */
  buildArgs: ReadonlyMap<string, string>;
  /** Global args for stage scopes: automatic platform args (TARGET*, BUILD*) and global ARG values. */
  globalArgs?: Readonly<Record<string, string>>;
  /** Predefined proxy args given as build args: in every RUN's environment, never in the config or history. */
  proxyEnv?: Readonly<Record<string, string>>;
  /** The Dockerfile's escape token (for the shell lexer). */
  escapeToken?: "\\" | "`";
  /** Warnings (unused build args, parser warnings), one line each. */
  warnings?: string[];
  /** Dockerfile name for messages. */
  file: string;
}
