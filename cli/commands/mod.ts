/**
 * The table of kiln subcommands. Each lives in its own file; add new ones here.
 *
 * @module
 */
import type { CliCommand } from "../command.ts";
import { versionCommand } from "./version.ts";
import { buildCommand } from "./build.ts";
import { copyCommand } from "./copy.ts";
import { inspectCommand } from "./inspect.ts";
import { parseCommand } from "./parse.ts";
import { warmCommand } from "./warm.ts";
import { loginCommand } from "./login.ts";
import { pushCommand } from "./push.ts";

/** All subcommands, in help order. */
export const commands: readonly CliCommand[] = [
  buildCommand,
  warmCommand,
  pushCommand,
  loginCommand,
  parseCommand,
  copyCommand,
  inspectCommand,
  versionCommand,
];
