/**
 * Typed Dockerfile instructions (BuildKit instructions/commands.go + parse.go): a discriminated union keyed by
 * `kind`, with validated flags, and the split of a file into stages.
 *
 * @module
 */
import { chompHeredoc, type Heredoc, type Node, type ParseResult } from "./ast.ts";
import { DockerfileError } from "./errors.ts";
import { goParseDuration, goQuote } from "./_go.ts";
import { type Mount, MountSyntaxError, parseMount } from "./mount.ts";
import { parseHeredocWord } from "./parser.ts";
import { LineError } from "./_line_parsers.ts";

/** 1-based line range of an instruction. */
export interface Location {
  /** First physical line. */
  startLine: number;
  /** Last physical line (continuations and heredoc bodies included). */
  endLine: number;
}

/** Fields every instruction has. */
export interface InstructionBase {
  /** Where it is. */
  location: Location;
  /** The logical source line (BuildKit `Original`), for history `created_by` and messages. */
  original: string;
}

/** A key/value pair of ENV or LABEL, unexpanded (quotes still in). */
export interface KeyValue {
  /** Key as written. */
  key: string;
  /** Value as written. */
  value: string;
}

/** A heredoc used as a COPY/ADD source or a RUN file. */
export interface HeredocFile {
  /** Delimiter name (COPY/ADD: the destination file name). */
  name: string;
  /** Body: for COPY/ADD already chomped when `<<-`; for RUN as written (see `chomp`). */
  data: string;
  /** `<<-` was used. */
  chomp: boolean;
  /** Build-time `$var` expansion applies (delimiter not quoted). */
  expand: boolean;
}

/** `FROM [--platform=p] image [AS name]`. */
export interface FromInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "from";
  /** Base image text, unexpanded (may reference global ARGs; `scratch`, an image ref or an earlier stage name). */
  image: string;
  /** Stage name, lower-cased; undefined without `AS`. */
  stageName?: string;
  /** `--platform` value, unexpanded. */
  platform?: string;
}

/** `RUN`. */
export interface RunInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "run";
  /**
   * Exec form: the argv; shell form: one string (run via SHELL). Never expanded by the builder. Empty for a bare
   * `RUN`, which BuildKit accepts and runs as SHELL + `""`.
   */
  command: string[];
  /** True for shell form: prepend the SHELL. */
  prependShell: boolean;
  /**
   * Heredoc files (bodies as written; chomp them when `chomp`). BuildKit's rule: one heredoc that is the whole
   * command (`RUN <<EOF`) runs its body — as an executable file when it starts with `#!`, else as the shell
   * command string; otherwise the command becomes `command[0] + "\n" + data + name` for every file, run by the shell.
   */
  heredocs: HeredocFile[];
  /** `--mount` values as written (expand with {@linkcode expandInstruction} to get final `mounts`). */
  mountSpecs: string[];
  /** Mounts parsed from `mountSpecs` (fields with `$` are resolved at expansion). */
  mounts: Mount[];
  /** `--network`. */
  network?: "default" | "none" | "host";
  /** `--security`. */
  security?: "sandbox" | "insecure";
  /** `--device` values (labs). */
  devices: string[];
}

/** Fields COPY and ADD share. */
export interface CopyAddBase extends InstructionBase {
  /** Source paths/URLs, unexpanded. */
  sources: string[];
  /** Inline heredoc sources (`COPY <<EOF /dst`). */
  sourceContents: HeredocFile[];
  /** Destination, unexpanded. */
  dest: string;
  /** `--chown=user[:group]`. */
  chown?: string;
  /** `--chmod=` octal or symbolic. */
  chmod?: string;
  /** `--link`. */
  link: boolean;
  /** `--exclude` patterns. */
  excludes: string[];
  /** JSON form was used. */
  json: boolean;
}

/** `COPY`. */
export interface CopyInstruction extends CopyAddBase {
  /** Discriminator. */
  kind: "copy";
  /** `--from=` stage name, stage index or image, unexpanded. */
  from?: string;
  /** `--parents`. */
  parents: boolean;
}

/** `ADD`. */
export interface AddInstruction extends CopyAddBase {
  /** Discriminator. */
  kind: "add";
  /** `--keep-git-dir`. */
  keepGitDir: boolean;
  /** `--checksum=`. */
  checksum?: string;
  /** `--unpack`; undefined = default (local archives unpacked, remote not). */
  unpack?: boolean;
}

/** `ENV k=v ...`. */
export interface EnvInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "env";
  /** Pairs, unexpanded. */
  pairs: KeyValue[];
}

/** `LABEL k=v ...`. */
export interface LabelInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "label";
  /** Pairs, unexpanded. */
  pairs: KeyValue[];
}

/** One ARG declaration. */
export interface ArgDecl {
  /** Name. */
  key: string;
  /** Default, unexpanded; undefined when none was given. */
  value?: string;
  /** Description from a comment line above starting with the name (`# foo sets foo`), as BuildKit's outline. */
  comment?: string;
}

/** `ARG name[=default] ...`. */
export interface ArgInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "arg";
  /** Declarations. */
  args: ArgDecl[];
}

/** `USER`. */
export interface UserInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "user";
  /** `user[:group]`, unexpanded. */
  user: string;
}

/** `WORKDIR`. */
export interface WorkdirInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "workdir";
  /** Path, unexpanded. */
  path: string;
}

/** `EXPOSE`. */
export interface ExposeInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "expose";
  /** Port specs (`80`, `53/udp`, `8000-8010`), unexpanded. */
  ports: string[];
}

/** `VOLUME`. */
export interface VolumeInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "volume";
  /** Paths, unexpanded. */
  paths: string[];
}

/** `CMD`. */
export interface CmdInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "cmd";
  /** Exec form argv or one shell string. */
  command: string[];
  /** Shell form. */
  prependShell: boolean;
}

/** `ENTRYPOINT`. */
export interface EntrypointInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "entrypoint";
  /** Exec form argv or one shell string (empty: reset). */
  command: string[];
  /** Shell form. */
  prependShell: boolean;
}

/** `SHELL [...]`. */
export interface ShellInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "shell";
  /** The new shell argv. */
  shell: string[];
}

/** `STOPSIGNAL`. */
export interface StopsignalInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "stopsignal";
  /** Signal, unexpanded. */
  signal: string;
}

/** `HEALTHCHECK`. Durations are nanoseconds (OCI/Docker config units); 0/undefined means "use the default". */
export interface HealthcheckInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "healthcheck";
  /** `["NONE"]`, `["CMD", ...argv]` or `["CMD-SHELL", cmd]` (the Docker config `Test`). */
  test: string[];
  /** `--interval`. */
  interval?: number;
  /** `--timeout`. */
  timeout?: number;
  /** `--start-period`. */
  startPeriod?: number;
  /** `--start-interval`. */
  startInterval?: number;
  /** `--retries`. */
  retries?: number;
}

/** `ONBUILD <instruction>`. */
export interface OnbuildInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "onbuild";
  /** The trigger text as stored in the image config `OnBuild` (heredoc bodies appended as BuildKit does). */
  expression: string;
  /**
   * The trigger, typed, when it parses (BuildKit only checks ONBUILD/FROM/MAINTAINER here; anything else wrong with a
   * trigger surfaces in the build that runs it, so an invalid trigger is not an error in this file).
   */
  trigger?: Instruction;
}

/** `MAINTAINER` (deprecated; sets `author`). */
export interface MaintainerInstruction extends InstructionBase {
  /** Discriminator. */
  kind: "maintainer";
  /** Name. */
  maintainer: string;
}

/** Any Dockerfile instruction; switch on `kind`. */
export type Instruction =
  | FromInstruction
  | RunInstruction
  | CopyInstruction
  | AddInstruction
  | EnvInstruction
  | ArgInstruction
  | LabelInstruction
  | UserInstruction
  | WorkdirInstruction
  | ExposeInstruction
  | VolumeInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

/** One build stage: its FROM and the instructions after it. */
export interface Stage {
  /** Lower-cased name from `AS`, or undefined. */
  name?: string;
  /** Description from a comment line above FROM starting with the stage name (`# base is ...`). */
  comment?: string;
  /** 0-based position. */
  index: number;
  /** The FROM instruction. */
  from: FromInstruction;
  /** Instructions after FROM, in order. */
  instructions: Instruction[];
  /** From the FROM line to the stage's last instruction. */
  location: Location;
}

/** What {@linkcode toStages} returns. */
export interface StagesResult {
  /** Stages in order. */
  stages: Stage[];
  /** ARG instructions before the first FROM (global scope). */
  metaArgs: ArgInstruction[];
}

/** Options for {@linkcode parseInstruction} and {@linkcode toStages}. */
export interface InstructionOptions {
  /** File name for messages (default: the parse result's, else `Dockerfile`). */
  filename?: string;
}

type FlagType = "bool" | "string" | "strings";

interface FlagValues {
  bool(name: string): boolean | undefined;
  str(name: string): string | undefined;
  strs(name: string): string[];
}

/** BuildKit's BFlags: `--name=value`, booleans `--name`/`--name=true|false`, repeatable string lists. */
function parseFlags(flags: readonly string[], spec: Record<string, FlagType>): FlagValues {
  const values = new Map<string, string | string[]>();
  for (const a of flags) {
    if (a === "--") break;
    if (!a.startsWith("--")) throw new LineError(`arg should start with -- : ${a}`);
    let name = a.slice(2);
    let value = "";
    const eq = name.indexOf("=");
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const type = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!type) {
      const known = Object.keys(spec);
      throw new LineError(
        `unknown flag: ${name}` + (known.length ? ` (allowed: ${known.map((k) => "--" + k).join(", ")})` : ""),
      );
    }
    if (values.has(name) && type !== "strings") throw new LineError(`duplicate flag specified: ${name}`);
    if (type === "bool") {
      if (eq >= 0 && value === "") throw new LineError(`missing a value on flag: ${name}`);
      const l = value.toLowerCase();
      if (l === "true" || l === "") values.set(name, "true");
      else if (l === "false") values.set(name, "false");
      else throw new LineError(`expecting boolean value for flag ${name}, not: ${value}`);
    } else {
      if (eq < 0) throw new LineError(`missing a value on flag: ${name}`);
      if (type === "string") values.set(name, value);
      else values.set(name, [...((values.get(name) as string[] | undefined) ?? []), value]);
    }
  }
  return {
    bool: (n) => values.has(n) ? values.get(n) === "true" : undefined,
    str: (n) => values.get(n) as string | undefined,
    strs: (n) => (values.get(n) as string[] | undefined) ?? [],
  };
}

const VALID_STAGE_NAME = /^[a-z][a-z0-9\-_.]*$/;
const CHMOD_SYMBOLIC = /^[ugoa]*[-+=](?:[rwxXst]*|[ugo])(?:,[ugoa]*[-+=](?:[rwxXst]*|[ugo]))*$/;

/**
 * Validates a `--chmod` value (octal up to 7777, or symbolic like `u=rwX,go=rX`); values with `$` pass (checked after
 * expansion).
 *
 * @param v Value.
 * @returns Whether it is acceptable.
 */
export function isValidChmod(v: string): boolean {
  if (v.includes("$")) return true;
  if (/^[0-7]+$/.test(v)) return parseInt(v, 8) <= 0o7777;
  return CHMOD_SYMBOLIC.test(v);
}

/** BuildKit's getComment: the rest of the first comment line that starts with `name `. */
function commentFor(comments: readonly string[], name: string): string | undefined {
  if (name === "") return undefined;
  for (const line of comments) if (line.startsWith(name + " ")) return line.slice(name.length + 1);
  return undefined;
}

function loc(node: Node): Location {
  return { startLine: node.startLine, endLine: node.endLine };
}

function upper(node: Node): string {
  return node.keyword.toUpperCase();
}

function exactlyOne(node: Node): string {
  if (node.args.length !== 1) throw new LineError(`${upper(node)} requires exactly one argument`);
  return node.args[0]!;
}

function atLeastOne(node: Node): void {
  if (node.args.length === 0) throw new LineError(`${upper(node)} requires at least one argument`);
}

function keyValues(node: Node): KeyValue[] {
  atLeastOne(node);
  if (node.args.length % 3 !== 0) throw new LineError(`Bad input to ${upper(node)}, too many arguments`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < node.args.length; i += 3) {
    if (node.args[i] === "") throw new LineError(`${upper(node)} names can not be blank`);
    pairs.push({ key: node.args[i]!, value: node.args[i + 1]! });
  }
  return pairs;
}

function mustHeredoc(word: string): Heredoc | undefined {
  try {
    return parseHeredocWord(word);
  } catch {
    return undefined;
  }
}

function sourcesAndDest(node: Node): Pick<CopyAddBase, "sources" | "sourceContents" | "dest" | "json"> {
  const name = upper(node);
  if (node.args.length < 2) {
    throw new LineError(
      `${name} requires at least two arguments, but only ${
        node.args.length === 0 ? "none was" : "one was"
      } provided. Destination could not be determined.`,
    );
  }
  const dest = node.args[node.args.length - 1]!;
  // As BuildKit, also in JSON form (where no body exists, so a `<<NAME` source is an empty inline file).
  if (mustHeredoc(dest)) throw new LineError(`${name} cannot accept a heredoc as a destination`);
  const byName = new Map(node.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const sourceContents: HeredocFile[] = [];
  for (const src of node.args.slice(0, -1)) {
    const h = mustHeredoc(src);
    if (h) {
      const body = byName.get(h.name)?.content ?? "";
      sourceContents.push({
        name: h.name,
        data: h.chomp ? chompHeredoc(body) : body,
        chomp: h.chomp,
        expand: h.expand,
      });
    } else sources.push(src);
  }
  return { sources, sourceContents, dest, json: node.json };
}

function shellDependent(node: Node): string[] {
  if (node.args.length === 0) return [];
  return node.json ? [...node.args] : [node.args.join(" ")];
}

function duration(flags: FlagValues, name: string): number | undefined {
  const s = flags.str(name);
  if (s === undefined || s === "") return undefined;
  const d = goParseDuration(s);
  if (d === undefined) throw new LineError(`invalid duration for --${name}: ${goQuote(s)}`);
  if (d === 0) return undefined;
  if (d < 1e6) throw new LineError(`Interval "${name}" cannot be less than 1ms`);
  return d;
}

function parseNode(node: Node): Instruction {
  const base = { location: loc(node), original: node.original };
  const noFlags = () => parseFlags(node.flags, {});
  switch (node.keyword) {
    case "from": {
      const f = parseFlags(node.flags, { platform: "string" });
      const a = node.args;
      let stageName: string | undefined;
      if (a.length === 3 && a[1]!.toLowerCase() === "as") {
        stageName = a[2]!.toLowerCase();
        if (!VALID_STAGE_NAME.test(stageName)) {
          throw new LineError(
            `invalid name for build stage: ${goQuote(a[2]!)}, name can't start with a number or contain symbols`,
          );
        }
      } else if (a.length !== 1) throw new LineError("FROM requires either one or three arguments");
      const out: FromInstruction = { kind: "from", ...base, image: a[0]! };
      if (stageName !== undefined) out.stageName = stageName;
      const p = f.str("platform");
      if (p !== undefined && p !== "") out.platform = p;
      return out;
    }
    case "run": {
      const f = parseFlags(node.flags, { mount: "strings", network: "string", security: "string", device: "strings" });
      const mountSpecs = f.strs("mount");
      const mounts = mountSpecs.map((s) => parseMount(s));
      const out: RunInstruction = {
        kind: "run",
        ...base,
        command: shellDependent(node),
        prependShell: !node.json,
        heredocs: node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp, expand: h.expand })),
        mountSpecs,
        mounts,
        devices: f.strs("device"),
      };
      const net = f.str("network");
      if (net !== undefined) {
        if (net !== "default" && net !== "none" && net !== "host" && net !== "") {
          throw new LineError(`network mode ${goQuote(net)} not supported (use default, none or host)`);
        }
        out.network = net === "" ? "default" : net;
      }
      const sec = f.str("security");
      if (sec !== undefined) {
        if (sec !== "sandbox" && sec !== "insecure") {
          throw new LineError(`security mode ${goQuote(sec)} not supported (use sandbox or insecure)`);
        }
        out.security = sec;
      }
      return out;
    }
    case "copy":
    case "add": {
      const isCopy = node.keyword === "copy";
      const f = parseFlags(
        node.flags,
        isCopy
          ? { from: "string", chown: "string", chmod: "string", link: "bool", parents: "bool", exclude: "strings" }
          : {
            chown: "string",
            chmod: "string",
            link: "bool",
            "keep-git-dir": "bool",
            checksum: "string",
            unpack: "bool",
            exclude: "strings",
          },
      );
      const sd = sourcesAndDest(node);
      const chmod = f.str("chmod");
      if (chmod !== undefined && chmod !== "" && !isValidChmod(chmod)) {
        throw new LineError(`invalid chmod parameter ${goQuote(chmod)}: must be octal (e.g. 755) or symbolic (u+x)`);
      }
      const common = { ...base, ...sd, link: f.bool("link") ?? false, excludes: f.strs("exclude") };
      const setOpt = (o: CopyAddBase) => {
        const chown = f.str("chown");
        if (chown !== undefined && chown !== "") o.chown = chown;
        if (chmod !== undefined && chmod !== "") o.chmod = chmod;
      };
      if (isCopy) {
        const out: CopyInstruction = { kind: "copy", ...common, parents: f.bool("parents") ?? false };
        setOpt(out);
        const from = f.str("from");
        if (from !== undefined && from !== "") out.from = from;
        return out;
      }
      const out: AddInstruction = { kind: "add", ...common, keepGitDir: f.bool("keep-git-dir") ?? false };
      setOpt(out);
      const checksum = f.str("checksum");
      if (checksum !== undefined && checksum !== "") out.checksum = checksum;
      const unpack = f.bool("unpack");
      if (unpack !== undefined) out.unpack = unpack;
      return out;
    }
    case "env":
      noFlags();
      return { kind: "env", ...base, pairs: keyValues(node) };
    case "label":
      noFlags();
      return { kind: "label", ...base, pairs: keyValues(node) };
    case "arg": {
      noFlags();
      atLeastOne(node);
      const args = node.args.map((a): ArgDecl => {
        const i = a.indexOf("=");
        const d: ArgDecl = i < 0 ? { key: a } : { key: a.slice(0, i), value: a.slice(i + 1) };
        const comment = commentFor(node.comments, d.key);
        if (comment !== undefined) d.comment = comment;
        return d;
      });
      return { kind: "arg", ...base, args };
    }
    case "user":
      noFlags();
      return { kind: "user", ...base, user: exactlyOne(node) };
    case "workdir":
      noFlags();
      return { kind: "workdir", ...base, path: exactlyOne(node) };
    case "stopsignal":
      noFlags();
      return { kind: "stopsignal", ...base, signal: exactlyOne(node) };
    case "maintainer":
      noFlags();
      return { kind: "maintainer", ...base, maintainer: exactlyOne(node) };
    case "expose":
      noFlags();
      atLeastOne(node);
      return { kind: "expose", ...base, ports: [...node.args] };
    case "volume":
      noFlags();
      atLeastOne(node);
      for (const v of node.args) if (v === "") throw new LineError("VOLUME specified can not be an empty string");
      return { kind: "volume", ...base, paths: [...node.args] };
    case "cmd":
      noFlags();
      return { kind: "cmd", ...base, command: shellDependent(node), prependShell: !node.json };
    case "entrypoint":
      noFlags();
      return { kind: "entrypoint", ...base, command: shellDependent(node), prependShell: !node.json };
    case "shell": {
      noFlags();
      const s = shellDependent(node);
      if (s.length === 0) throw new LineError("SHELL requires at least one argument");
      if (!node.json) throw new LineError("SHELL requires the arguments to be in JSON form");
      return { kind: "shell", ...base, shell: s };
    }
    case "healthcheck": {
      atLeastOne(node);
      const typ = node.args[0]!.toUpperCase();
      const rest = node.args.slice(1);
      const f = parseFlags(node.flags, {
        interval: "string",
        timeout: "string",
        "start-period": "string",
        "start-interval": "string",
        retries: "string",
      });
      if (typ === "NONE") {
        // BuildKit ignores the options of HEALTHCHECK NONE.
        if (rest.length !== 0) throw new LineError("HEALTHCHECK NONE takes no arguments");
        return { kind: "healthcheck", ...base, test: ["NONE"] };
      }
      if (typ !== "CMD") throw new LineError(`Unknown type ${goQuote(typ)} in HEALTHCHECK (try CMD)`);
      const cmd = rest.length === 0 ? [] : node.json ? rest : [rest.join(" ")];
      if (cmd.length === 0) throw new LineError("Missing command after HEALTHCHECK CMD");
      const out: HealthcheckInstruction = {
        kind: "healthcheck",
        ...base,
        test: [node.json ? "CMD" : "CMD-SHELL", ...cmd],
      };
      const set = (k: "interval" | "timeout" | "startPeriod" | "startInterval", flag: string) => {
        const d = duration(f, flag);
        if (d !== undefined) out[k] = d;
      };
      set("interval", "interval");
      set("timeout", "timeout");
      set("startPeriod", "start-period");
      set("startInterval", "start-interval");
      const r = f.str("retries");
      if (r !== undefined && r !== "") {
        if (!/^[+-]?[0-9]+$/.test(r) || Math.abs(Number(r)) > 2147483647) {
          throw new LineError(`invalid value for --retries: ${goQuote(r)}`);
        }
        const n = Number(r);
        if (n < 0) throw new LineError(`--retries cannot be negative (${n})`);
        out.retries = n;
      }
      return out;
    }
    case "onbuild": {
      noFlags();
      const child = node.child;
      if (!child) throw new LineError("ONBUILD requires at least one argument");
      const trig = child.keyword.toUpperCase();
      if (trig === "ONBUILD") throw new LineError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trig === "MAINTAINER" || trig === "FROM") throw new LineError(`${trig} isn't allowed as an ONBUILD trigger`);
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, "");
      for (const h of node.heredocs) expression += "\n" + h.content + h.name;
      const out: OnbuildInstruction = { kind: "onbuild", ...base, expression };
      try {
        out.trigger = parseNode({ ...child, heredocs: node.heredocs });
      } catch (e) {
        if (!(e instanceof LineError || e instanceof MountSyntaxError)) throw e;
      }
      return out;
    }
    default:
      throw new LineError(`unknown instruction: ${node.keywordOriginal}`);
  }
}

/**
 * Turns one parsed node into a typed, validated instruction.
 *
 * @param node A node from {@linkcode parseDockerfile}.
 * @param options File name for messages.
 * @returns The instruction.
 * @throws {DockerfileError} For an unknown instruction, bad flags or bad arguments.
 *
 * @example Usage
 * ```ts
 * import { parseDockerfile, parseInstruction } from "./mod.ts";
 * const node = parseDockerfile("COPY --from=build --chmod=755 /out/app /usr/bin/\n").nodes[0]!;
 * const i = parseInstruction(node);
 * console.assert(i.kind === "copy" && i.from === "build" && i.dest === "/usr/bin/");
 * ```
 */
export function parseInstruction(node: Node, options: InstructionOptions = {}): Instruction {
  try {
    return parseNode(node);
  } catch (e) {
    if (e instanceof LineError || e instanceof MountSyntaxError) {
      throw new DockerfileError(e.message, {
        file: options.filename ?? "Dockerfile",
        line: node.startLine,
        endLine: node.endLine,
      });
    }
    throw e;
  }
}

/**
 * Types every instruction and groups them into stages (BuildKit `instructions.Parse`): ARGs before the first FROM
 * are global `metaArgs`; anything else before FROM is an error; stage names must be unique.
 *
 * @param result A parse result.
 * @param options File name for messages (default: the result's).
 * @returns Stages and meta ARGs.
 * @throws {DockerfileError} On the first invalid instruction.
 *
 * @example Usage
 * ```ts
 * import { parseDockerfile, toStages } from "./mod.ts";
 * const { stages, metaArgs } = toStages(parseDockerfile("ARG V=1\nFROM alpine:$V AS base\nRUN echo hi\n"));
 * console.assert(metaArgs.length === 1 && stages[0]!.name === "base");
 * console.assert(stages[0]!.instructions[0]!.kind === "run");
 * ```
 */
export function toStages(result: ParseResult, options: InstructionOptions = {}): StagesResult {
  const filename = options.filename ?? result.filename;
  const stages: Stage[] = [];
  const metaArgs: ArgInstruction[] = [];
  const names = new Map<string, number>();
  for (const node of result.nodes) {
    const ins = parseInstruction(node, { filename });
    if (ins.kind === "from") {
      if (ins.stageName !== undefined) {
        if (names.has(ins.stageName)) {
          throw new DockerfileError(`duplicate stage name ${goQuote(ins.stageName)}`, {
            file: filename,
            line: node.startLine,
          });
        }
        names.set(ins.stageName, stages.length);
      }
      const st: Stage = { index: stages.length, from: ins, instructions: [], location: { ...ins.location } };
      if (ins.stageName !== undefined) {
        st.name = ins.stageName;
        const comment = commentFor(node.comments, ins.stageName);
        if (comment !== undefined) st.comment = comment;
      }
      stages.push(st);
      continue;
    }
    const cur = stages[stages.length - 1];
    if (!cur) {
      if (ins.kind === "arg") {
        metaArgs.push(ins);
        continue;
      }
      throw new DockerfileError("no build stage in current context (a Dockerfile must start with FROM)", {
        file: filename,
        line: node.startLine,
      });
    }
    cur.instructions.push(ins);
    cur.location.endLine = ins.location.endLine;
  }
  if (stages.length === 0) {
    throw new DockerfileError("dockerfile contains no stages to build (no FROM)", {
      file: filename,
      line: result.nodes[result.nodes.length - 1]?.endLine ?? 1,
    });
  }
  return { stages, metaArgs };
}

/** Every instruction `kind`, in the order of the Dockerfile reference. */
export const INSTRUCTION_KINDS: readonly Instruction["kind"][] = [
  "from",
  "run",
  "copy",
  "add",
  "env",
  "arg",
  "label",
  "user",
  "workdir",
  "expose",
  "volume",
  "cmd",
  "entrypoint",
  "shell",
  "stopsignal",
  "healthcheck",
  "onbuild",
  "maintainer",
];
