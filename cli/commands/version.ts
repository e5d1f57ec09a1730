/**
 * `kiln version`.
 *
 * @module
 */
import type { CliCommand } from "../command.ts";
import { parseFlags } from "../flags.ts";
import { VERSION } from "../../lib/version.ts";

/** Prints kiln's version. */
export const versionCommand: CliCommand = {
  name: "version",
  summary: "Print kiln's version",
  usage: "kiln version",
  flags: [],
  async run(args, io) {
    parseFlags(args, this.flags);
    await io.stdout(`kiln ${VERSION}\n`);
    return 0;
  },
};
