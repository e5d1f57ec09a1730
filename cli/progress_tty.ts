/**
 * The live terminal display of `kiln build` (`--progress=tty`, and `auto` when stderr is a terminal), in the spirit
 * of BuildKit's: at the bottom of the terminal, redrawn every 200 ms, the running steps with their elapsed time and
 * phase (running, snapshot, writing the layer with its bytes so far), base images being pulled (layer i/n, bytes),
 * and blob uploads; above it, in the scrollback, one line per finished step (time, layer size or "cached"), RUN output
 * under a header line for its step, warnings, errors and kiln's other info lines.
 *
 * The frame is drawn by log-update (sindresorhus/log-update, maintained, used by thousands of CLIs): it erases and
 * rewrites only the lines that changed, wraps by display width (wide characters too), clips to the terminal's height,
 * writes above the frame for scrollback lines (`persist`), and uses synchronized output where the terminal supports
 * it — the parts a hand-written module gets wrong. It runs with `showCursor: true`, so it never hides the cursor and
 * so never installs its exit handlers (kiln's own SIGINT/SIGTERM handling decides the exit status).
 *
 * @module
 */
import { createLogUpdate } from "log-update";
import { formatBytes, type LogFields, type Logger, type LogLevel } from "../lib/util/mod.ts";
import type { BuildProgressEvent } from "../lib/executor/mod.ts";

/** Where the display writes: a terminal (stderr). */
export interface TtyStream {
  /** Writes escape sequences and text, in order. */
  write(text: string): void;
  /** Terminal width (default 80). */
  readonly columns?: number | undefined;
  /** Terminal height (default 24). */
  readonly rows?: number | undefined;
}

/** Options of {@linkcode createTtyDisplay}. */
export interface TtyDisplayOptions {
  /** ANSI colours (green ticks, dim details); off for NO_COLOR. */
  color: boolean;
  /** Redraw interval in ms (default 200). */
  intervalMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

/** The live display. */
export interface TtyDisplay {
  /** Takes a progress event of the build. */
  event(e: BuildProgressEvent): void;
  /** Writes a line to the scrollback, above the live area. */
  persist(line: string): void;
  /** Redraws now. */
  render(): void;
  /** Stops redrawing and removes the live area (the scrollback stays). */
  stop(): void;
}

interface Running {
  label: string;
  started: number;
  phase?: string;
}

interface Pull {
  label: string;
  started: number;
  text: string;
  /** The layer being extracted, and since when (for its rate). */
  layer: number;
  layerStarted: number;
}

interface Upload {
  label: string;
  started: number;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Creates the display.
 *
 * @param stream The terminal.
 * @param options Colour, interval, clock.
 * @returns The display; call `stop()` when the build ends.
 */
export function createTtyDisplay(stream: TtyStream, options: TtyDisplayOptions): TtyDisplay {
  const now = options.now ?? (() => performance.now());
  const t0 = now();
  const frame = createLogUpdate(
    {
      isTTY: true,
      write: (s: string) => {
        stream.write(s);
        return true;
      },
      get columns() {
        return stream.columns ?? 80;
      },
      get rows() {
        return stream.rows ?? 24;
      },
    } as unknown as NodeJS.WriteStream,
    { showCursor: true },
  );
  const c = (code: string, s: string) => (options.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const stages = new Map<string, string>(); // platform|stage -> "[name]"
  const running = new Map<string, Running>(); // platform|stage -> the step running there
  const pulls = new Map<string, Pull>();
  const uploads = new Map<string, Upload>();
  const headed = new Set<number>(); // steps whose output header is in the scrollback
  const stepLabels = new Map<number, string>();
  let done = 0;
  let total = 0;
  let ticks = 0;
  let stopped = false;

  const prefix = (platform: string | undefined, stage: number) => {
    const name = stages.get(`${platform ?? ""}|${stage}`);
    // A stage is named when the build has more than one (or it has a name); a one-stage build's lines have no prefix.
    const named = stages.size > 1 || stage > 0 || (name !== undefined && name !== "[stage-0]");
    return [platform ? `[${platform}]` : "", named ? name ?? "" : ""].filter(Boolean).join(" ");
  };
  const persist = (line: string) => {
    if (stopped) {
      stream.write(`${line}\n`);
      return;
    }
    frame.persist(line);
    render();
  };
  const render = () => {
    if (stopped) return;
    const t = now();
    const lines = [
      `${c("36", SPINNER[ticks++ % SPINNER.length]!)} Building ${seconds(t - t0)} (${done}/${total || "?"} steps)`,
    ];
    for (const r of running.values()) {
      lines.push(
        ` ${c("34", "=>")} ${r.label}${r.phase ? c("2", `  ${r.phase}`) : ""}  ${c("33", seconds(t - r.started))}`,
      );
    }
    for (const p of pulls.values()) {
      lines.push(` ${c("34", "=>")} ${p.label}${c("2", `  ${p.text}`)}  ${c("33", seconds(t - p.started))}`);
    }
    for (const u of uploads.values()) {
      lines.push(` ${c("34", "=>")} ${u.label}  ${c("33", seconds(t - u.started))}`);
    }
    frame(lines.join("\n"));
  };
  const timer = setInterval(render, options.intervalMs ?? 200);
  return {
    event(e) {
      switch (e.type) {
        case "stage":
          stages.set(`${e.platform ?? ""}|${e.stage}`, `[${e.name ?? `stage-${e.stage}`}]`);
          break;
        case "step-start": {
          total = Math.max(total, e.total);
          const label = [prefix(e.platform, e.stage), `STEP ${e.step}/${e.total}: ${e.instruction}`].filter(Boolean)
            .join(" ");
          running.set(`${e.platform ?? ""}|${e.stage}`, { label, started: now() });
          stepLabels.set(e.step, label);
          break;
        }
        case "phase": {
          const r = running.get(`${e.platform ?? ""}|${e.stage}`);
          if (!r) break;
          r.phase = e.phase === "snapshot"
            ? `snapshot${e.files === undefined ? "" : `: ${e.files.toLocaleString("en-US")} files walked`}`
            : `layer: ${e.entries ?? 0} ${e.entries === 1 ? "entry" : "entries"}${
              e.bytes === undefined ? "" : `, ${formatBytes(e.bytes)}`
            }`;
          break;
        }
        case "step-done": {
          done++;
          const key = `${e.platform ?? ""}|${e.stage}`;
          const r = running.get(key);
          running.delete(key);
          const what = e.cached ? "cached" : e.layerSize === undefined ? "no layer" : formatBytes(e.layerSize);
          const label = r?.label ?? `STEP ${e.step}/${e.total}: ${e.instruction}`;
          persist(`${c("32", "✔")} ${label}  ${c("2", `${seconds(e.durationMs)}, ${what}`)}`);
          break;
        }
        case "output": {
          if (!headed.has(e.step)) {
            headed.add(e.step);
            persist(`${c("36", "▸")} ${stepLabels.get(e.step) ?? `STEP ${e.step}`}`);
          }
          break;
        }
        case "pull": {
          const key = `${e.platform ?? ""}|${e.stage}`;
          const p = pulls.get(key) ?? {
            label: [prefix(e.platform, e.stage), e.what].filter(Boolean).join(" "),
            started: now(),
            text: "",
            layer: e.layer,
            layerStarted: now(),
          };
          if (p.layer !== e.layer) {
            p.layer = e.layer;
            p.layerStarted = now();
          }
          const s = (now() - p.layerStarted) / 1000;
          const rate = s >= 0.5 ? ` (${formatBytes(e.unpacked / s)}/s)` : "";
          p.text = `layer ${e.layer}/${e.layers}, ${formatBytes(e.unpacked)} unpacked${rate}, ${
            formatBytes(e.bytes)
          } of ${formatBytes(e.total)} done`;
          pulls.set(key, p);
          if (e.layer === e.layers && e.bytes >= e.total) pulls.delete(key);
          break;
        }
        case "base":
          pulls.delete(`${e.platform ?? ""}|${e.stage}`);
          persist(
            `${c("32", "✔")} ${[prefix(e.platform, e.stage), "base image"].filter(Boolean).join(" ")}: ${e.layers} ` +
              `layer(s), ${formatBytes(e.bytes)} in ${seconds(e.durationMs)}`,
          );
          break;
        case "upload": {
          const key = `${e.repository}@${e.digest}`;
          if (e.state === "start") {
            uploads.set(key, {
              label: `push ${e.digest.slice(7, 19)} (${formatBytes(e.size)}) to ${e.repository}`,
              started: now(),
            });
          } else uploads.delete(key);
          break;
        }
        default:
          break;
      }
    },
    persist,
    render,
    stop() {
      if (stopped) return;
      clearInterval(timer);
      frame.clear();
      frame.done();
      stopped = true;
    },
  };
}

/**
 * The build's logger for the live display: the lines the display shows itself (a step's start and end, base-image
 * pull progress, push progress — marked with an `@phase` field by lib/executor and lib/registry) are left out; every
 * other line goes to `base` (which writes to the scrollback).
 *
 * @param base The logger writing to the display's scrollback.
 * @returns The filtering logger.
 */
export function ttyLogger(base: Logger): Logger {
  const shown = (f?: LogFields) => f?.["@phase"] === undefined;
  return {
    trace: (m, f) => base.trace(m, f),
    debug: (m, f) => base.debug(m, f),
    info: (m, f) => shown(f) && base.info(m, f),
    warn: (m, f) => base.warn(m, f),
    error: (m, f) => base.error(m, f),
    enabled: (level: LogLevel) => base.enabled(level),
    with: (fields: LogFields) => ttyLogger(base.with(fields)),
  };
}
