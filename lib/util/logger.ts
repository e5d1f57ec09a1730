/**
 * The logger interface every module takes as an option; there is no global logger.
 *
 * @module
 */

/** Log levels, most to least verbose. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "panic";

/** Output formats, kaniko's `--log-format`. */
export type LogFormat = "text" | "color" | "json";

const LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal", "panic"];

/**
 * Structured fields attached to a log line. A key starting with `@` is for machines only: JSON lines carry it
 * (without the `@`), text lines leave it out — e.g. `{ "@stream": "stderr" }` on a RUN step's output.
 */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** A logger passed explicitly to whatever needs one. */
export interface Logger {
  /** Very detailed diagnostics. */
  trace(msg: string, fields?: LogFields): void;
  /** Diagnostics. */
  debug(msg: string, fields?: LogFields): void;
  /** Progress. */
  info(msg: string, fields?: LogFields): void;
  /** Something the user should know. */
  warn(msg: string, fields?: LogFields): void;
  /** An error. */
  error(msg: string, fields?: LogFields): void;
  /** True if messages at `level` are written. */
  enabled(level: LogLevel): boolean;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Minimum level written (default `info`). */
  level?: LogLevel;
  /** Output format (default `text`). */
  format?: LogFormat;
  /** Prefix lines with an ISO timestamp (default false). */
  timestamp?: boolean;
  /** Where lines go (default: stderr). Receives one line without the newline. */
  write?: (line: string) => void;
  /** Returns the current time; for tests. */
  now?: () => Date;
}

/**
 * Parses a level name, throwing a RangeError for an unknown one.
 *
 * @param s Level name.
 * @returns The level.
 *
 * @example Usage
 * ```ts
 * import { parseLogLevel } from "./logger.ts";
 * console.assert(parseLogLevel("debug") === "debug");
 * ```
 */
export function parseLogLevel(s: string): LogLevel {
  const l = s.toLowerCase() as LogLevel;
  if (!LEVELS.includes(l)) throw new RangeError(`Cannot use log level "${s}": expected one of ${LEVELS.join(", ")}`);
  return l;
}

const COLORS: Record<LogLevel, string> = {
  trace: "\x1b[90m",
  debug: "\x1b[36m",
  info: "\x1b[32m",
  warn: "\x1b[33m",
  error: "\x1b[31m",
  fatal: "\x1b[35m",
  panic: "\x1b[35m",
};

/**
 * Creates a logger writing one line per message.
 *
 * @param options Level, format, timestamps and sink.
 * @returns A logger.
 *
 * @example Usage
 * ```ts
 * import { createLogger } from "./logger.ts";
 * const lines: string[] = [];
 * const log = createLogger({ write: (l) => lines.push(l) });
 * log.info("hello", { step: 1 });
 * console.assert(lines[0] === "INFO hello step=1");
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LEVELS.indexOf(options.level ?? "info");
  const format = options.format ?? "text";
  const write = options.write ?? ((line: string) => console.error(line));
  const now = options.now ?? (() => new Date());
  function make(base: LogFields): Logger {
    function emit(level: LogLevel, msg: string, fields?: LogFields): void {
      if (LEVELS.indexOf(level) < min) return;
      const all: LogFields = { ...base, ...fields };
      if (format === "json") {
        const obj: Record<string, unknown> = { level, msg };
        if (options.timestamp) obj.time = now().toISOString();
        for (const [k, v] of Object.entries(all)) if (v !== undefined) obj[k.startsWith("@") ? k.slice(1) : k] = v;
        write(JSON.stringify(obj));
        return;
      }
      const kv = Object.entries(all).filter(([k, v]) => v !== undefined && !k.startsWith("@")).map(([k, v]) => {
        const s = String(v);
        return `${k}=${/[\s"=]/.test(s) || s === "" ? JSON.stringify(s) : s}`;
      });
      let lvl = level.toUpperCase();
      if (format === "color") lvl = `${COLORS[level]}${lvl}\x1b[0m`;
      const ts = options.timestamp ? `${now().toISOString()} ` : "";
      write(`${ts}${lvl} ${msg}${kv.length ? " " + kv.join(" ") : ""}`);
    }
    return {
      trace: (m, f) => emit("trace", m, f),
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      enabled: (level) => LEVELS.indexOf(level) >= min,
      with: (fields) => make({ ...base, ...fields }),
    };
  }
  return make({});
}

/**
 * A logger that discards everything.
 *
 * @example Usage
 * ```ts
 * import { nullLogger } from "./logger.ts";
 * nullLogger.info("ignored");
 * ```
 */
export const nullLogger: Logger = createLogger({ level: "panic", write: () => {} });
