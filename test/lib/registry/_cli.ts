/**
 * Runs kiln's CLI in-process for tests.
 *
 * @module
 */
import { main } from "../../../cli/main.ts";
import type { CliIO } from "../../../cli/command.ts";

/** Runs the CLI in-process; returns exit code, stdout, stderr. */
export async function kiln(args: string[], env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  const bytes: Uint8Array[] = [];
  const io: CliIO = {
    stdout: (d) => {
      if (typeof d === "string") out += d;
      else bytes.push(d), out += new TextDecoder().decode(d);
      return Promise.resolve();
    },
    stderr: (d) => {
      err += d;
      return Promise.resolve();
    },
    stdin: () => new Blob([]).stream(),
    env: { HOME: "/nonexistent", ...env },
    cwd: Deno.cwd(),
    signal: new AbortController().signal,
  };
  const code = await main(args, io);
  return { code, out, err };
}
