/**
 * Pure helpers that update an image's runtime config the way Dockerfile instructions do (Docker/BuildKit
 * semantics): environment replacement in place, exposed ports, shell-form commands, healthchecks.
 *
 * @module
 */
import type { ContainerConfig, HealthConfig } from "../image/mod.ts";
import { KilnError } from "../util/mod.ts";

/** Docker's default PATH for Linux images, used when a config has none. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Returns `env` with `key` set to `value`: an existing entry keeps its place, a new one is appended.
 *
 * @param env `K=V` strings.
 * @param key Variable name.
 * @param value New value.
 * @returns The new list.
 *
 * @example Usage
 * ```ts
 * import { setEnv } from "./config.ts";
 * console.assert(setEnv(["A=1", "B=2"], "A", "3").join() === "A=3,B=2");
 * ```
 */
export function setEnv(env: readonly string[], key: string, value: string): string[] {
  const out = [...env];
  const i = out.findIndex((e) => e === key || e.startsWith(key + "="));
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

/**
 * Looks a variable up in `K=V` strings.
 *
 * @param env `K=V` strings.
 * @param key Variable name.
 * @returns Its value, or undefined.
 *
 * @example Usage
 * ```ts
 * import { getEnv } from "./config.ts";
 * console.assert(getEnv(["A=1=2"], "A") === "1=2");
 * ```
 */
export function getEnv(env: readonly string[] | undefined, key: string): string | undefined {
  for (const e of env ?? []) {
    const k = e.indexOf("=");
    if ((k < 0 ? e : e.slice(0, k)) === key) return k < 0 ? "" : e.slice(k + 1);
  }
  return undefined;
}

/**
 * Turns `K=V` strings into a map (later entries win).
 *
 * @param env `K=V` strings.
 * @returns A map.
 *
 * @example Usage
 * ```ts
 * import { envMap } from "./config.ts";
 * console.assert(envMap(["A=1"]).get("A") === "1");
 * ```
 */
export function envMap(env: readonly string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env ?? []) {
    const k = e.indexOf("=");
    if (k < 0) m.set(e, "");
    else m.set(e.slice(0, k), e.slice(k + 1));
  }
  return m;
}

/**
 * Normalizes an EXPOSE word (`80`, `80/TCP`, `53/udp`, `8000-8002/tcp`) into config keys.
 *
 * @param word The port spec, already expanded.
 * @param where Location for errors (e.g. `Dockerfile:7`).
 * @returns Keys like `80/tcp`.
 *
 * @example Usage
 * ```ts
 * import { exposedPortKeys } from "./config.ts";
 * console.assert(exposedPortKeys("80", "x").join() === "80/tcp");
 * ```
 */
export function exposedPortKeys(word: string, where: string): string[] {
  const m = /^(?:[^:]*:)?(\d+)(?:-(\d+))?(?:\/([A-Za-z]+))?$/.exec(word.trim());
  if (!m) throw new KilnError(`${where}: EXPOSE: invalid port "${word}"`);
  const proto = (m[3] ?? "tcp").toLowerCase();
  if (!["tcp", "udp", "sctp"].includes(proto)) throw new KilnError(`${where}: EXPOSE: invalid protocol "${m[3]}"`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 0 || b > 65535 || b < a) throw new KilnError(`${where}: EXPOSE: invalid port range "${word}"`);
  const out: string[] = [];
  for (let p = a; p <= b; p++) out.push(`${p}/${proto}`);
  return out;
}

/**
 * The argv for a shell-form command: the stage's SHELL (default `/bin/sh -c`) plus the command line.
 *
 * @param config The current config (for `Shell`).
 * @param command The command line.
 * @returns argv.
 *
 * @example Usage
 * ```ts
 * import { shellForm } from "./config.ts";
 * console.assert(shellForm({}, "echo hi").join(" ") === "/bin/sh -c echo hi");
 * ```
 */
export function shellForm(config: ContainerConfig, command: string): string[] {
  const shell = config.Shell && config.Shell.length > 0 ? config.Shell : ["/bin/sh", "-c"];
  return [...shell, command];
}

const DURATION_RE = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * Parses a Go-style duration (`30s`, `1m30s`, `500ms`) into nanoseconds.
 *
 * @param s The duration.
 * @param where Location for errors.
 * @returns Nanoseconds.
 *
 * @example Usage
 * ```ts
 * import { parseDuration } from "./config.ts";
 * console.assert(parseDuration("1m30s", "x") === 90e9);
 * ```
 */
export function parseDuration(s: string, where: string): number {
  if (s === "0") return 0;
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(DURATION_RE)) {
    total += Number(m[1]) * UNIT_NS[m[2]!]!;
    consumed += m[0].length;
  }
  if (consumed !== s.length || s.length === 0) throw new KilnError(`${where}: invalid duration "${s}"`);
  return Math.round(total);
}

/** HEALTHCHECK flags as written in the Dockerfile. */
export interface HealthcheckFlags {
  /** `--interval`. */
  interval?: string;
  /** `--timeout`. */
  timeout?: string;
  /** `--start-period`. */
  startPeriod?: string;
  /** `--start-interval`. */
  startInterval?: string;
  /** `--retries`. */
  retries?: string;
}

/**
 * Builds a HealthConfig from HEALTHCHECK parts.
 *
 * @param test `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", cmd]`.
 * @param flags Options.
 * @param where Location for errors.
 * @returns The health config.
 *
 * @example Usage
 * ```ts
 * import { healthConfig } from "./config.ts";
 * console.assert(healthConfig(["CMD-SHELL", "true"], { interval: "5s" }, "x").Interval === 5e9);
 * ```
 */
export function healthConfig(test: string[], flags: HealthcheckFlags, where: string): HealthConfig {
  const h: HealthConfig = { Test: test };
  if (test[0] === "NONE") return h;
  if (flags.interval !== undefined) h.Interval = parseDuration(flags.interval, where);
  if (flags.timeout !== undefined) h.Timeout = parseDuration(flags.timeout, where);
  if (flags.startPeriod !== undefined) h.StartPeriod = parseDuration(flags.startPeriod, where);
  if (flags.startInterval !== undefined) h.StartInterval = parseDuration(flags.startInterval, where);
  if (flags.retries !== undefined) {
    const r = Number(flags.retries);
    if (!Number.isInteger(r) || r < 0) {
      throw new KilnError(`${where}: HEALTHCHECK: invalid --retries "${flags.retries}"`);
    }
    h.Retries = r;
  }
  return h;
}

const SIGNALS = new Set([
  "HUP",
  "INT",
  "QUIT",
  "ILL",
  "TRAP",
  "ABRT",
  "IOT",
  "BUS",
  "FPE",
  "KILL",
  "USR1",
  "SEGV",
  "USR2",
  "PIPE",
  "ALRM",
  "TERM",
  "STKFLT",
  "CHLD",
  "CONT",
  "STOP",
  "TSTP",
  "TTIN",
  "TTOU",
  "URG",
  "XCPU",
  "XFSZ",
  "VTALRM",
  "PROF",
  "WINCH",
  "IO",
  "POLL",
  "PWR",
  "SYS",
]);

/**
 * Validates a STOPSIGNAL value (`SIGTERM`, `TERM`, `9`, `SIGRTMIN+3`) and returns it as written.
 *
 * @param s The signal.
 * @param where Location for errors.
 * @returns The signal text.
 *
 * @example Usage
 * ```ts
 * import { checkStopSignal } from "./config.ts";
 * console.assert(checkStopSignal("SIGKILL", "x") === "SIGKILL");
 * ```
 */
export function checkStopSignal(s: string, where: string): string {
  if (/^\d+$/.test(s) && Number(s) > 0 && Number(s) < 65) return s;
  const name = s.toUpperCase().replace(/^SIG/, "");
  if (SIGNALS.has(name) || /^RTM(IN|AX)([+-]\d+)?$/.test(name)) return s;
  throw new KilnError(`${where}: STOPSIGNAL: unknown signal "${s}"`);
}
