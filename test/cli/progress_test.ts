/**
 * What a CI log shows (issue 18): in a pipe, no control characters; a line when a base image starts and ends
 * extracting (not silence billed to the first RUN), a summary at the end; `--progress=json` gives every progress
 * event as a JSON line; `--progress=tty` draws the live display even into a pipe. And the per-layer progress line of
 * a long extraction (extractImage with a short tick).
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { REPO_ROOT, skipUnless } from "../fixtures/tools.ts";
import { startBusyboxRegistry } from "../fixtures/busybox_image.ts";
import { tempDir } from "../fixtures/temp.ts";
import { extractImage } from "../../lib/executor/_base.ts";
import { remoteImage } from "../../lib/registry/mod.ts";
import { createLogger } from "../../lib/util/mod.ts";

const ignore = skipUnless("progress output tests", "busybox", "docker-registry", "umoci", "skopeo", "root");

async function kilnBuild(args: string[]): Promise<{ code: number; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli/main.ts"), "build", ...args],
    env: { NO_COLOR: "", TERM: "xterm-256color" }, // colour would be allowed on a terminal: stderr is a pipe here
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

Deno.test({
  name: "kiln build in a pipe: plain lines (no control characters), base extraction lines, a step summary; json events",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await startBusyboxRegistry();
    try {
      const ctx = tempDir("kiln-progress-");
      Deno.writeTextFileSync(join(ctx, "f"), "x\n");
      Deno.writeTextFileSync(
        join(ctx, "Dockerfile"),
        `FROM ${b.ref}\nRUN echo to-out && echo to-err >&2\nCOPY f /f\nENV A=1\n`,
      );
      const common = ["-c", ctx, "--insecure-registry", b.registry.host, "--work-dir", join(ctx, ".w")];
      const plain = await kilnBuild([...common, "-d", `${b.registry.host}/p/plain:1`]);
      assertEquals(plain.code, 0, plain.stderr);
      const control = [...plain.stderr].filter((ch) => (ch < " " && ch !== "\n" && ch !== "\t") || ch === "\x7f");
      assertEquals(control, [], `control characters in a pipe:\n${plain.stderr}`);
      assertMatch(plain.stderr, /INFO Pulling and extracting FROM \S+busybox:latest: 1 layer\(s\), [\d.]+ [kM]?B\n/);
      assertMatch(plain.stderr, /INFO Extracted FROM \S+busybox:latest \([\d.]+ [kM]?B\) in \d+\.\d\ds\n/);
      // The extraction comes before the RUN it was needed for, and is not inside its "done" line.
      assert(plain.stderr.indexOf("Extracted FROM") < plain.stderr.indexOf("STEP 1/3 done"), plain.stderr);
      assertMatch(
        plain.stderr,
        /INFO Summary: 3 step\(s\) in \d+\.\d\ds; .* of new layers; 1 base image\(s\), .*; pushed /,
      );
      assertMatch(plain.stderr, /INFO +1\/3 +\d+\.\d\ds +- {2}RUN echo to-out && echo to-err >&2\n/); // no files changed
      assertMatch(plain.stderr, /INFO +2\/3 +\d+\.\d\ds +[\d.]+ [kM]?B {2}COPY f \/f\n/);
      assertMatch(plain.stderr, /INFO +3\/3 +\d+\.\d\ds +- {2}ENV A=1\n/);

      const json = await kilnBuild([...common, "-d", `${b.registry.host}/p/json:1`, "--progress=json", "-v", "warn"]);
      assertEquals(json.code, 0, json.stderr);
      const events = json.stderr.trim().split("\n").map((l) => JSON.parse(l).progress);
      const types = new Set(events.map((e) => e.type));
      for (const t of ["stage", "step-start", "step-done", "output", "base", "blob", "output-written"]) {
        assert(types.has(t), `no ${t} event in ${[...types]}`);
      }
      const out = events.filter((e) => e.type === "output").map((e) => `${e.stream}:${e.line}`);
      assertEquals(out, ["stdout:to-out", "stderr:to-err"]);
      assert(events.some((e) => e.type === "blob" && e.how === "uploaded"), "an uploaded blob");

      // --progress=tty draws the live display even into a pipe (asked for); test/cli/tty_progress_test.ts drives it
      // in a real terminal.
      const tty = await kilnBuild([...common, "--no-push", "--progress=tty"]);
      assertEquals(tty.code, 0, tty.stderr);
      assert(tty.stderr.includes("\x1b["), "escape sequences when asked for");
      assertMatch(tty.stderr, /✔ STEP 2\/3: COPY f \/f {2}\d+\.\ds, [\d.]+ [kM]?B/);
    } finally {
      await b.stop();
    }
  },
});

Deno.test({
  name: "extracting a base layer that takes longer than the tick logs its progress (bytes, time, rate)",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await startBusyboxRegistry();
    try {
      const img = await remoteImage(b.ref, { insecureRegistries: [b.registry.host] });
      const lines: string[] = [];
      const root = tempDir("kiln-progress-root-");
      const r = await extractImage(await img.layers(), root, {
        where: "Dockerfile:1",
        what: "FROM busybox",
        log: createLogger({ write: (l) => lines.push(l) }),
        tickMs: 0,
      });
      assert(r.bytes > 0);
      assertMatch(lines[0]!, /^INFO Pulling and extracting FROM busybox: 1 layer\(s\), /);
      assert(
        lines.some((l) => /^INFO {3}layer 1\/1 [0-9a-f]{12}: [\d.]+ [kM]?B unpacked in \d+s/.test(l)),
        lines.join("\n"),
      );
      assertMatch(lines.at(-1)!, /^INFO Extracted FROM busybox \(.*\) in \d+\.\d\ds$/);
    } finally {
      await b.stop();
    }
  },
});
