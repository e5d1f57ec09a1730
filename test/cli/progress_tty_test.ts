/**
 * cli/progress_tty.ts on a recording terminal (a fake clock; the writes are the escape sequences a terminal gets):
 * what the live area shows for each kind of work, what goes to the scrollback, and that `stop()` leaves no live area.
 * test/cli/tty_progress_test.ts drives the real thing in tmux.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { createTtyDisplay, ttyLogger } from "../../cli/progress_tty.ts";
import { createLogger } from "../../lib/util/mod.ts";

/** What the terminal shows: the written text with escape sequences applied well enough for these checks. */
function screen(writes: string[]): string[] {
  const lines: string[] = [""];
  let row = 0;
  // deno-lint-ignore no-control-regex
  const tokens = writes.join("").split(/(\x1b\[[0-9;?]*[A-Za-z]|\n)/);
  for (const t of tokens) {
    if (t === "\n") {
      row++;
      if (lines.length <= row) lines.push("");
    } else if (t.startsWith("\x1b[")) {
      const n = Number(/\d+/.exec(t)?.[0] ?? "1");
      const cmd = t.at(-1);
      if (cmd === "A") row = Math.max(0, row - n);
      else if (cmd === "B") row += n;
      else if (cmd === "K") lines[row] = "";
      else if (cmd === "J") lines.length = row + 1;
      while (lines.length <= row) lines.push("");
    } else if (t !== "") lines[row] = (lines[row] ?? "") + t;
  }
  return lines.filter((l) => l !== "");
}

Deno.test("the live display: running steps with phase and time, pulls, uploads; finished steps to the scrollback", () => {
  const writes: string[] = [];
  let t = 0;
  const d = createTtyDisplay({ write: (s) => writes.push(s), columns: 120, rows: 30 }, {
    color: false,
    intervalMs: 60_000,
    now: () => t,
  });
  try {
    d.event({ type: "stage", stage: 0, name: "build", base: "busybox" });
    d.event({ type: "stage", stage: 1, base: "busybox" });
    d.event({ type: "step-start", stage: 0, step: 1, total: 3, instruction: "RUN make", line: 2 });
    t = 1500;
    d.event({ type: "phase", stage: 0, phase: "snapshot", files: 12345 });
    d.event({
      type: "pull",
      stage: 1,
      what: "FROM busybox",
      layer: 1,
      layers: 2,
      bytes: 0,
      unpacked: 3 << 20,
      total: 8 << 20,
    });
    d.event({ type: "upload", state: "start", digest: `sha256:${"ab".repeat(32)}`, size: 5 << 20, repository: "app" });
    t = 2600;
    d.render();
    const live = screen(writes);
    assertMatch(live.join("\n"), /Building 2\.6s \(0\/3 steps\)/);
    assertMatch(live.join("\n"), /=> \[build\] STEP 1\/3: RUN make {2}snapshot: 12,345 files walked {2}2\.6s/);
    assertMatch(
      live.join("\n"),
      /=> \[stage-1\] FROM busybox {2}layer 1\/2, 3\.0 MB unpacked, 0 B of 8\.0 MB done {2}1\.1s/,
    );
    assertMatch(live.join("\n"), /=> push abababababab \(5\.0 MB\) to app {2}1\.1s/);
    d.event({ type: "phase", stage: 0, phase: "layer", entries: 1, bytes: 2048 });
    d.render();
    assertMatch(screen(writes).join("\n"), /STEP 1\/3: RUN make {2}layer: 1 entry, 2\.0 kB/);
    t = 4000;
    d.event({ type: "output", step: 1, stream: "stdout", line: "cc -o app" });
    d.event({
      type: "step-done",
      stage: 0,
      step: 1,
      total: 3,
      instruction: "RUN make",
      durationMs: 4000,
      layerSize: 1 << 20,
    });
    d.event({ type: "upload", state: "end", digest: `sha256:${"ab".repeat(32)}`, size: 5 << 20, repository: "app" });
    d.event({ type: "base", stage: 1, layers: 2, bytes: 8 << 20, durationMs: 900 });
    d.render();
    const after = screen(writes);
    assert(after.includes("▸ [build] STEP 1/3: RUN make"), after.join("\n"));
    assert(after.includes("✔ [build] STEP 1/3: RUN make  4.0s, 1.0 MB"), after.join("\n"));
    assert(after.includes("✔ [stage-1] base image: 2 layer(s), 8.0 MB in 0.9s"), after.join("\n"));
    assert(!after.some((l) => l.includes("=> ")), `nothing runs any more:\n${after.join("\n")}`);
  } finally {
    d.stop();
  }
  const end = screen(writes);
  assert(!end.some((l) => l.includes("Building")), `no live area after stop():\n${end.join("\n")}`);
  assertEquals(end.filter((l) => l.startsWith("✔")).length, 2);
});

Deno.test("ttyLogger leaves out the lines the display shows itself (marked @phase) and keeps every other", () => {
  const lines: string[] = [];
  const log = ttyLogger(createLogger({ write: (l) => lines.push(l) }));
  log.info("STEP 1/2: RUN make", { "@phase": "step-start" });
  log.info("Pulling and extracting FROM busybox", { "@phase": "pull" });
  log.with({ stage: 0 }).info("  pushing sha256:… to app: 10s", { "@phase": "push-progress" });
  log.info("hello from RUN", { "@stream": "stdout" });
  log.warn("a warning", { "@phase": "step-start" });
  log.info("Built image sha256:…");
  assertEquals(lines, ["INFO hello from RUN", "WARN a warning", "INFO Built image sha256:…"]);
});
