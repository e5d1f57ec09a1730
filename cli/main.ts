/**
 * kiln's command-line entry point: `deno run -A cli/main.ts <command> [flags]`.
 *
 * This is the only module that reads process globals (argv, env, stdio, signals) and exits.
 * With no subcommand, or when the first word is a flag, it runs `build`, as kaniko's executor is invoked.
 *
 * @module
 */
import { basename } from "node:path";
import process from "node:process";
import { Readable } from "node:stream";
import { commands } from "./commands/mod.ts";
import type { CliCommand, CliIO } from "./command.ts";
import { formatFlagHelp } from "./flags.ts";
import { AbortedError, isKilnError, UsageError } from "../lib/util/mod.ts";

function topHelp(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    "kiln: build container images from a Dockerfile, without a daemon",
    "",
    "Usage: kiln <command> [flags]",
    "       kiln [build flags]          (kaniko executor style: same as `kiln build`)",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    "",
    "Run `kiln <command> --help` for a command's flags.",
    "",
  ].join("\n");
}

/**
 * Renders `kiln <cmd> --help`.
 *
 * @param cmd The command.
 * @returns Help text.
 */
export function commandHelp(cmd: CliCommand): string {
  const flags = formatFlagHelp(cmd.flags);
  return `${cmd.summary}\n\nUsage: ${cmd.usage}\n${flags ? `\nFlags:\n${flags}\n` : ""}`;
}

/**
 * Runs kiln with the given arguments and I/O; returns the exit status.
 *
 * @param argv Arguments after the program name.
 * @param io Standard streams, environment, signal.
 * @returns Exit status.
 */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  let args = [...argv];
  if (args.length === 0 || args[0] === "--help" || args[0] === "-h" || args[0] === "help") {
    if (args[0] === "help" && args[1]) args = [args[1], "--help"];
    else {
      if (args.length === 0 && !commands.some((c) => c.name === "build")) {
        await io.stderr(topHelp());
        return 2;
      }
      if (args.length > 0) {
        await io.stdout(topHelp());
        return 0;
      }
    }
  }
  if (args[0] === "--version") args = ["version"];
  let cmd = commands.find((c) => c.name === args[0]);
  if (cmd) args = args.slice(1);
  else if (args.length === 0 || args[0]!.startsWith("-")) cmd = commands.find((c) => c.name === "build");
  try {
    if (!cmd) throw new UsageError(`Unknown command "${args[0]}" (run \`kiln --help\` for the list)`);
    if (args.includes("--help") || args.includes("-h")) {
      await io.stdout(commandHelp(cmd));
      return 0;
    }
    return await cmd.run(args, io);
  } catch (err) {
    if (err instanceof AbortedError && io.signal.aborted && io.signal.reason instanceof AbortedError) {
      // Interrupted (SIGINT/SIGTERM): say so, whatever the step that noticed it called it.
      await io.stderr(`kiln: ${io.signal.reason.message}\n`);
      return err.exitCode;
    }
    if (isKilnError(err)) {
      await io.stderr(
        `${err.message.startsWith("kiln") || /^[^\s:]+:\d+:/.test(err.message) ? "" : "kiln: "}${err.message}\n`,
      );
      if (io.env.KILN_DEBUG && err.cause) await io.stderr(`cause: ${String(err.cause)}\n`);
      return err.exitCode;
    }
    await io.stderr(
      `kiln: internal error (a bug in kiln, please report it):\n${
        err instanceof Error ? err.stack ?? err.message : String(err)
      }\n`,
    );
    return 3;
  }
}

function writeTo(stream: NodeJS.WriteStream): (data: string | Uint8Array) => Promise<void> {
  return (data) =>
    new Promise((resolve, reject) => {
      stream.write(data, (err) => err ? reject(err) : resolve());
    });
}

/** Exit status after a signal, as shells and kaniko report it: 128 + the signal number. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

if (import.meta.main) {
  const ac = new AbortController();
  let signalled: keyof typeof SIGNAL_EXIT | undefined;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      // The first signal aborts the build, which removes its work dir on the way out; a second one exits now.
      if (signalled) process.exit(SIGNAL_EXIT[sig]);
      signalled = sig;
      ac.abort(new AbortedError(`Interrupted by ${sig}`));
    });
  }
  const io: CliIO = {
    stdout: writeTo(process.stdout),
    stderr: writeTo(process.stderr),
    stdin: () => Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>,
    env: process.env,
    cwd: process.cwd(),
    signal: ac.signal,
    stderrIsTTY: process.stderr.isTTY === true,
    stderrSize: () => ({ columns: process.stderr.columns, rows: process.stderr.rows }),
  };
  // The executor images' /kaniko/warmer is a link to the binary: under that name it is kaniko's warmer.
  const argv = process.argv.slice(2);
  const asWarmer = basename(process.argv0 ?? "") === "warmer" && !commands.some((c) => c.name === argv[0]);
  const code = await main(asWarmer ? ["warm", ...argv] : argv, io);
  process.exit(signalled ? SIGNAL_EXIT[signalled] : code);
}
