/**
 * `RUN <<EOF` heredocs turned into what the sandbox runs, as BuildKit's dispatcher does.
 *
 * @module
 */

/** A heredoc of a RUN line (structurally the same as lib/dockerfile's `Heredoc`). */
export interface RunHeredoc {
  /** Delimiter name without quotes. */
  name: string;
  /** Body as written, each line with its `\n`, without the terminator. */
  content: string;
  /** `<<-`: strip leading tabs. */
  chomp: boolean;
}

/** A file a RUN step needs in its filesystem for the step only (mounted read-only, never snapshotted). */
export interface StepFile {
  /** Absolute path in the step, e.g. `/dev/pipes/EOF`. */
  path: string;
  /** Content. */
  content: string;
  /** Mode, e.g. 0o755. */
  mode: number;
}

/** What {@linkcode heredocRunCommand} returns. */
export interface HeredocRun {
  /** The argv for the sandbox. */
  argv: string[];
  /** Files to materialise for the step (see prepareMounts' `files`). */
  files: StepFile[];
}

/** Where shebang heredoc scripts are mounted, as in BuildKit (the sandbox makes mount points below /dev in its own /dev). */
export const DEFAULT_PIPES_DIR = "/dev/pipes";

/** Strips leading tabs from each line (`<<-`). */
export function chompTabs(s: string): string {
  return s.replace(/^\t+/gm, "");
}

/** True if the command line is nothing but one heredoc redirection (`<<EOF`, `<<-"EOF"`, `3<<EOF`). */
export function isSingleHeredoc(cmdLine: string): boolean {
  const m = /^(\d*)<<(-?)\s*([^<]*)$/.exec(cmdLine.trim());
  if (!m || m[3] === "") return false;
  // exactly one shell word after the operator
  return !/\s/.test(m[3]!.replace(/"[^"]*"|'[^']*'/g, "x"));
}

/**
 * Builds the command of a RUN with heredocs:
 * - the line is just `<<EOF` and the body starts with `#!`: the body becomes an executable file
 *   `<pipesDir>/<name>` (0755, mounted read-only for the step; default {@linkcode DEFAULT_PIPES_DIR}) that is run
 *   directly;
 * - the line is just `<<EOF`: the body is run by the stage's shell (`sh -c <body>`);
 * - otherwise the line and every body are joined back into one script for the shell, which does the
 *   redirections itself (so `RUN <<A cat > f1 && <<B cat > f2` and `RUN python3 <<EOF` work).
 *
 * @param options The shell-form command line, its heredocs, and the stage's SHELL (default `/bin/sh -c`).
 * @returns argv and step files.
 *
 * @example Usage
 * ```ts
 * import { heredocRunCommand } from "./heredoc_run.ts";
 * const r = heredocRunCommand({ cmdLine: "<<EOF", heredocs: [{ name: "EOF", content: "echo hi\n", chomp: false }] });
 * console.assert(r.argv.join(" ") === "/bin/sh -c echo hi\n");
 * ```
 */
export function heredocRunCommand(
  options: { cmdLine: string; heredocs: readonly RunHeredoc[]; shell?: readonly string[]; pipesDir?: string },
): HeredocRun {
  const shell = options.shell ?? ["/bin/sh", "-c"];
  const docs = options.heredocs;
  if (docs.length === 0) return { argv: [...shell, options.cmdLine], files: [] };
  const first = docs[0]!;
  if (docs.length === 1 && isSingleHeredoc(options.cmdLine)) {
    const data = first.chomp ? chompTabs(first.content) : first.content;
    if (data.startsWith("#!")) {
      const path = `${options.pipesDir ?? DEFAULT_PIPES_DIR}/${first.name}`;
      return { argv: [path], files: [{ path, content: data, mode: 0o755 }] };
    }
    return { argv: [...shell, data], files: [] };
  }
  let full = options.cmdLine;
  for (const d of docs) full += "\n" + d.content + d.name;
  return { argv: [...shell, full], files: [] };
}
