/**
 * The table of kiln subcommands. Each lives in its own file; add new ones here.
 *
 * @module
 */
import type { CliCommand } from "../command.ts";
import { versionCommand } from "./version.ts";

/** All subcommands, in help order. */
export const commands: readonly CliCommand[] = [
  versionCommand,
];
