/**
 * Helpers for tests that run the CLI as a real child process.
 *
 * @module
 */
import { join } from "node:path";
import process from "node:process";
import { REPO_ROOT } from "../fixtures/tools.ts";

/** A running `deno run -A cli/main.ts …`. */
export interface Kiln {
  /** Resolves with the exit status (or the signal that killed it) and stderr (head and tail). */
  done: Promise<{ code: number; signal: string | null; stderr: string }>;
  /** Resolves once stderr has matched `re`. */
  waitFor(re: RegExp): Promise<void>;
  /** Sends a signal. */
  kill(sig: Deno.Signal): void;
}

/**
 * Runs the CLI, under the `wrap` command if given (e.g. `/usr/bin/time -f %M`), with stderr piped. It uses
 * Deno.Command: node:child_process in Deno reports any child it sent a signal to as killed by that signal.
 */
export function kiln(args: string[], options: { wrap?: string[] } = {}): Kiln {
  const argv = [Deno.execPath(), "run", "-A", join(REPO_ROOT, "cli/main.ts"), ...args];
  const wrap = options.wrap ?? [];
  const child = new Deno.Command(wrap[0] ?? argv[0]!, {
    args: [...wrap.slice(1), ...(wrap.length > 0 ? argv : argv.slice(1))],
    clearEnv: true,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const read = (async () => {
    for await (const d of child.stderr.pipeThrough(new TextDecoderStream())) {
      // Keep the head (the first STEP lines) and the tail (the error), not hundreds of thousands of STEP lines.
      stderr = stderr.length < 4096 ? stderr + d : stderr.slice(0, 2048) + (stderr.slice(2048) + d).slice(-2048);
      for (const w of waiters.splice(0)) {
        if (w.re.test(stderr)) w.resolve();
        else waiters.push(w);
      }
    }
  })();
  const done = Promise.all([child.status, read]).then(([s]) => ({ code: s.code, signal: s.signal, stderr }));
  return {
    done,
    waitFor: (re) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(stderr)) return resolve();
        waiters.push({ re, resolve });
        done.then((r) => reject(new Error(`kiln exited (${r.signal ?? r.code}) before ${re}: ${r.stderr}`)));
      }),
    kill: (sig) => child.kill(sig),
  };
}
