/**
 * `kiln parse [--dump=buildkit|json] [--build-arg K=V]... [--target T] [--platform P] FILE`: parses a Dockerfile
 * (FILE `-` reads standard input) and prints BuildKit's AST dump or the typed, ARG-resolved stages.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import type { CliCommand, CliIO } from "../command.ts";
import { list, parseFlags, str } from "../flags.ts";
import { KilnError, UsageError } from "../../lib/util/mod.ts";
import {
  type BuildPlan,
  createShellLexer,
  createStageScope,
  dumpBuildkit,
  type Instruction,
  parseDockerfile,
  parsePlatformSpec,
  planBuild,
  type PlatformSpec as Platform,
  type StageScopeState,
} from "../../lib/dockerfile/mod.ts";
import { buildArgsFromFlags } from "../common_flags.ts";

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream) {
    chunks.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function platformFlag(v: string | undefined, name: string): Platform | undefined {
  if (v === undefined) return undefined;
  const p = parsePlatformSpec(v);
  if (!p) throw new UsageError(`Invalid value for --${name}: "${v}" (expected os/arch[/variant])`);
  return p;
}

/** Resolves ARG/ENV through the needed stages (base image ENV is unknown here, so it starts empty). */
function resolvedStages(plan: BuildPlan, filename: string): unknown[] {
  const lexer = createShellLexer(plan.escapeToken);
  const states = new Map<number, StageScopeState>();
  const needed = new Set(plan.order);
  return plan.stages.map((p) => {
    const common = {
      index: p.index,
      name: p.name ?? null,
      needed: needed.has(p.index),
      base: p.base,
      platform: p.platform ?? null,
      dependencies: p.dependencies,
      location: p.stage.location,
    };
    if (!needed.has(p.index)) return { ...common, instructions: p.stage.instructions };
    const parent = p.base.kind === "stage" ? states.get(p.base.index) : undefined;
    const scope = createStageScope({
      ...(parent ? { parent } : { baseImageEnv: [] }),
      globalArgs: plan.globalArgs,
      buildArgs: plan.buildArgs,
      lexer,
      filename,
    });
    const instructions = p.stage.instructions.map((i): Instruction | Record<string, unknown> => {
      if (i.kind === "arg") return { ...i, resolved: scope.declareArgs(i) };
      const x = scope.expand(i);
      if (x.kind === "env") scope.setEnv(x.pairs);
      return x;
    });
    const snap = scope.snapshot();
    states.set(p.index, snap);
    return { ...common, instructions, env: Object.fromEntries(snap.env), imageEnv: snap.imageEnv };
  });
}

/** `kiln parse`. */
export const parseCommand: CliCommand = {
  name: "parse",
  summary: "Parse a Dockerfile and print BuildKit's AST dump or the typed stages",
  usage: "kiln parse [--dump=buildkit|json] [--build-arg K=V]... [--target T] FILE   (FILE - reads stdin)",
  flags: [
    { name: "dump", type: "string", value: "buildkit|json", default: "buildkit", help: "Output format" },
    { name: "build-arg", type: "list", value: "K=V", help: "Build argument; a bare K takes K from the environment" },
    { name: "target", type: "string", value: "STAGE", help: "Target stage (json dump)" },
    { name: "platform", type: "string", value: "OS/ARCH", help: "Target platform (json dump; default build platform)" },
    { name: "build-platform", type: "string", value: "OS/ARCH", help: "Build platform (default linux/amd64)" },
  ],
  async run(args: readonly string[], io: CliIO): Promise<number> {
    const { values, positionals } = parseFlags(args, this.flags, io.env);
    const dump = str(values, "dump") ?? "buildkit";
    if (dump !== "buildkit" && dump !== "json") {
      throw new UsageError(`Invalid value for --dump: "${dump}" (expected buildkit or json)`);
    }
    if (positionals.length !== 1) {
      throw new UsageError("Expected exactly one FILE (or - for stdin); see `kiln parse --help`");
    }
    const file = positionals[0]!;
    let bytes: Uint8Array;
    if (file === "-") bytes = await readAll(io.stdin());
    else {
      try {
        bytes = await readFile(file.startsWith("/") ? file : `${io.cwd}/${file}`);
      } catch (e) {
        const code = (e as { code?: string }).code;
        throw new KilnError(
          `Cannot read Dockerfile ${file}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`,
          { cause: e },
        );
      }
    }
    const filename = file === "-" ? "<stdin>" : file;
    const result = parseDockerfile(bytes, { filename });
    if (dump === "buildkit") {
      await io.stdout(dumpBuildkit(result));
      return 0;
    }
    const buildPlatform = platformFlag(str(values, "build-platform"), "build-platform");
    const targetPlatform = platformFlag(str(values, "platform"), "platform");
    const target = str(values, "target");
    const plan = planBuild(result, {
      buildArgs: buildArgsFromFlags(list(values, "build-arg"), io.env),
      ...(target !== undefined ? { target } : {}),
      ...(buildPlatform ? { buildPlatform } : {}),
      ...(targetPlatform ? { targetPlatform } : {}),
    });
    for (const w of plan.warnings) await io.stderr(`warning: ${w}\n`);
    const out = {
      file: filename,
      escapeToken: plan.escapeToken,
      directives: result.directives,
      target: plan.target,
      order: plan.order,
      globalArgs: plan.globalArgs,
      metaArgs: plan.metaArgs,
      stages: resolvedStages(plan, filename),
    };
    await io.stdout(JSON.stringify(out, null, 2) + "\n");
    return 0;
  },
};
