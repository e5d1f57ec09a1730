/**
 * kiln's Dockerfile front end, conformant with BuildKit's `frontend/dockerfile`.
 *
 * Three layers, each usable alone:
 *
 * 1. **Parse** — {@linkcode parseDockerfile}`(text, {filename})` → {@linkcode ParseResult}
 *    `{nodes, escapeToken, directives, warnings, filename}`. Each {@linkcode Node} has `keyword`, `flags` (raw
 *    `--x=y` strings), `args`, `json`, `heredocs` ({@linkcode Heredoc}: `name`, `content`, `chomp`, `expand`,
 *    `fileDescriptor`), `child` (ONBUILD), `startLine`/`endLine`. {@linkcode dumpBuildkit} prints BuildKit's
 *    `result` format. Malformed input throws {@linkcode DockerfileError} whose message is `FILE:LINE: detail`.
 * 2. **Type** — {@linkcode toStages}`(result)` → `{stages, metaArgs}`; {@linkcode parseInstruction}`(node)` for one
 *    node (e.g. an ONBUILD trigger from a base image: `parseInstruction(parseDockerfile(trigger).nodes[0])`).
 *    {@linkcode Instruction} is a union keyed by `kind` (`from run copy add env arg label user workdir expose volume
 *    cmd entrypoint shell stopsignal healthcheck onbuild maintainer`); every member has `location
 *    {startLine,endLine}` and `original`. Flags are validated (unknown/duplicate/missing value are errors);
 *    `RUN --mount` values are parsed into {@linkcode Mount}. Word arguments stay unexpanded.
 * 3. **Plan** — {@linkcode planBuild}`(result, {buildArgs, target, buildPlatform, targetPlatform})` →
 *    {@linkcode BuildPlan} `{stages: PlannedStage[] (index, name, stage, base: image|stage|scratch, platform,
 *    dependencies), metaArgs, globalArgs, target, order (needed stages in build order), proxyEnv, warnings}`.
 *    Build args come in as a record (the CLI resolves `--build-arg` words: cli/common_flags.ts).
 * 4. **Dispatch helpers** — {@linkcode createStageScope}`({baseImageEnv | parent, globalArgs, buildArgs, lexer})`
 *    tracks a stage's ARG/ENV exactly as BuildKit (`declareArgs`, `setEnv`, `env()`, `expand`, `snapshot()`);
 *    {@linkcode expandInstruction}`(instr, env, {lexer})` expands the words BuildKit expands for that instruction.
 *    {@linkcode createShellLexer}`(escapeToken)` gives `processWord(word, env) → {value, usedVars, unsetVars}` and
 *    `processWords(word, env) → {words, ...}` with all of BuildKit's `${...}` forms.
 *
 * An executor's loop: `plan = planBuild(parseDockerfile(text, {filename}), opts)`; for each `i` of `plan.order`:
 * base from `plan.stages[i].base` (image → pull with `platform`; stage → its saved result and `snapshot()`);
 * `scope = createStageScope({baseImageEnv | parent, globalArgs: plan.globalArgs, buildArgs: plan.buildArgs,
 * lexer: createShellLexer(plan.escapeToken)})`; then per instruction: `arg` → `scope.declareArgs(i)`; otherwise
 * `x = scope.expand(i)` and apply it (`env` → also `scope.setEnv(x.pairs)`); RUN gets `scope.env()` plus
 * `plan.proxyEnv`.
 *
 * @example Parse, type and expand
 * ```ts
 * import { createShellLexer, parseDockerfile, toStages } from "./mod.ts";
 * const result = parseDockerfile("FROM alpine\nWORKDIR /src/$APP\n", { filename: "Dockerfile" });
 * const { stages } = toStages(result);
 * const wd = stages[0]!.instructions[0]!;
 * if (wd.kind === "workdir") {
 *   const lex = createShellLexer(result.escapeToken);
 *   console.assert(lex.processWord(wd.path, { APP: "web" }).value === "/src/web");
 * }
 * ```
 *
 * @module
 */
export type { Directive, Heredoc, Node, Node as DockerfileNode, ParseResult, ParseWarning } from "./ast.ts";
export { chompHeredoc } from "./ast.ts";
export { DockerfileError, type DockerfileErrorOptions, ShellExpansionError } from "./errors.ts";
export { parseDockerfile, parseHeredocWord, type ParseOptions } from "./parser.ts";
export { dumpBuildkit, dumpNode } from "./dump.ts";
export {
  createShellLexer,
  type ProcessWordResult,
  type ProcessWordsResult,
  type ShellEnv,
  type ShellLexer,
  type ShellLexerOptions,
} from "./shell_lexer.ts";
export { type CacheSharing, type Mount, MountSyntaxError, type MountType, parseMount } from "./mount.ts";
export {
  type AddInstruction,
  type ArgDecl,
  type ArgInstruction,
  type CmdInstruction,
  type CopyAddBase,
  type CopyInstruction,
  type EntrypointInstruction,
  type EnvInstruction,
  type ExposeInstruction,
  type FromInstruction,
  type HealthcheckInstruction,
  type HeredocFile,
  type Instruction,
  INSTRUCTION_KINDS,
  type InstructionBase,
  type InstructionOptions,
  isValidChmod,
  type KeyValue,
  type LabelInstruction,
  type Location,
  type MaintainerInstruction,
  type OnbuildInstruction,
  parseInstruction,
  type RunInstruction,
  type ShellInstruction,
  type Stage,
  type StagesResult,
  type StopsignalInstruction,
  toStages,
  type UserInstruction,
  type VolumeInstruction,
  type WorkdirInstruction,
} from "./instructions.ts";
// One platform model for the image and the Dockerfile: lib/util/platform.ts.
export { parsePlatformSpec } from "../util/mod.ts";
/** @deprecated Use `Platform` from lib/util/platform.ts (also exported by lib/image and the root module). */
export type { Platform as PlatformSpec } from "../util/mod.ts";
export {
  type ArgValue,
  createStageScope,
  expandInstruction,
  type ExpandOptions,
  type StageScope,
  type StageScopeOptions,
  type StageScopeState,
} from "./expand.ts";
export {
  type BuildPlan,
  planBuild,
  type PlannedStage,
  type PlanOptions,
  type StageBase,
  type StageDependency,
} from "./plan.ts";
export {
  applyChecks,
  type CheckFinding,
  type CheckOptions,
  type FrontendDirectives,
  frontendDirectives,
  KILN_CHECK_RULES,
  parseCheckDirective,
} from "./frontend.ts";
export { goParseDuration as parseGoDuration } from "./_go.ts";
