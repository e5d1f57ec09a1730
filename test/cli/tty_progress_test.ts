/**
 * The live terminal display (`--progress=auto` on a terminal): kiln runs in a real terminal (a tmux pane) while the
 * test captures the pane — during a long RUN the live area shows the running step with its elapsed time; afterwards
 * the scrollback has one line per finished step, the RUN output under its step's header, the digest, and no live area
 * left. The same build with stderr in a pipe writes no control characters at all.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { REPO_ROOT, skipUnless } from "../fixtures/tools.ts";
import { startBusyboxRegistry } from "../fixtures/busybox_image.ts";
import { tempDir } from "../fixtures/temp.ts";

const ignore = skipUnless("live terminal display", "tmux", "busybox", "docker-registry", "umoci", "skopeo", "root");

/** A tmux server of the test's own (its own socket), killed afterwards. */
function tmux(socket: string, ...args: string[]): string {
  const r = spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tmux ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function waitForPane(socket: string, re: RegExp, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  let pane = "";
  while (Date.now() < deadline) {
    pane = tmux(socket, "capture-pane", "-p", "-J", "-S", "-200", "-t", "kiln");
    if (re.test(pane)) return pane;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the pane never showed ${re}:\n${pane}`);
}

Deno.test({
  name: "kiln build on a terminal: a live area with the running step and its time, then one line per step",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await startBusyboxRegistry();
    const socket = `kiln-test-${Deno.pid}`;
    try {
      const ctx = tempDir("kiln-tty-");
      Deno.writeTextFileSync(join(ctx, "f"), "x\n");
      Deno.writeTextFileSync(
        join(ctx, "Dockerfile"),
        `FROM ${b.ref}\nRUN echo out-line-1 && echo out-line-2 >&2 && sleep 4\nCOPY f /f\nENV A=1\n`,
      );
      const cmd = [
        Deno.execPath(),
        "run",
        "-A",
        join(REPO_ROOT, "cli/main.ts"),
        "build",
        "-c",
        ctx,
        "--insecure-registry",
        b.registry.host,
        "--work-dir",
        join(ctx, ".w"),
        "-d",
        `${b.registry.host}/tty/app:1`,
      ].map((a) => `'${a}'`).join(" ");
      tmux(
        socket,
        "new-session",
        "-d",
        "-s",
        "kiln",
        "-x",
        "150",
        "-y",
        "40",
        "-e",
        "TERM=xterm-256color",
        `${cmd}; echo "EXIT=$?"; sleep 60`,
      );
      // While `sleep 4` runs: the live area names the running step and counts its seconds.
      const during = await waitForPane(socket, /=> STEP 1\/3: RUN echo out-line-1 .*sleep 4 +[1-9]\.\ds/, 30_000);
      assertMatch(during, /Building \d+\.\ds \(0\/3 steps\)/);
      assertMatch(during, /▸ STEP 1\/3: RUN echo out-line-1[^\n]*\n(?:.*\n)*?.*out-line-1/, "output under its step");
      const after = await waitForPane(socket, /EXIT=\d+/, 60_000);
      assertMatch(after, /EXIT=0/);
      assertMatch(after, /✔ STEP 1\/3: RUN echo out-line-1 .*sleep 4 {2}[4-9]\.\ds, no layer/);
      assertMatch(after, /✔ STEP 2\/3: COPY f \/f {2}\d+\.\ds, [\d.]+ [kM]?B/);
      assertMatch(after, /✔ STEP 3\/3: ENV A=1 {2}\d+\.\ds, no layer/);
      assertMatch(after, /out-line-2/);
      assertMatch(after, /\nsha256:[0-9a-f]{64}\n/, "the digest alone on its line");
      assert(!/Building \d/.test(after), `the live area is gone at the end:\n${after}`);
      assert(!/INFO STEP \d/.test(after), "the display's lines replace the plain STEP lines");
      // The same build with stderr in a pipe: plain lines, no control characters.
      const piped = new Deno.Command("sh", {
        args: ["-c", `${cmd.replace("/tty/app:1", "/tty/pipe:1")} 2>&1 >/dev/null | cat`],
        env: { TERM: "xterm-256color" },
      }).outputSync();
      const text = new TextDecoder().decode(piped.stdout);
      assertEquals(piped.code, 0, text);
      assertEquals([...text].filter((ch) => ch < " " && ch !== "\n" && ch !== "\t"), [], text);
      assertMatch(text, /INFO STEP 1\/3: RUN echo out-line-1/);
    } finally {
      spawnSync("tmux", ["-L", socket, "kill-server"]);
      await b.stop();
    }
  },
});
