/**
 * Detecting whether kiln runs inside a container (in-place mode refuses to run elsewhere).
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";

/** Options of {@linkcode detectContainer}. */
export interface DetectContainerOptions {
  /** Root to probe (default `/`); tests point it at a fixture. */
  root?: string;
  /** The process environment (kiln's lib never reads it itself); `container=…` means a container. */
  env?: Record<string, string | undefined>;
}

/** Result of {@linkcode detectContainer}. */
export interface ContainerDetection {
  /** Whether a container was detected. */
  inContainer: boolean;
  /** What gave it away, e.g. `/.dockerenv exists`. */
  reason?: string;
}

const CGROUP_HINTS = /docker|kubepods|containerd|lxc|libpod|podman|crio|garden|buildkit|actions_job/;

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * Detects a container the way kaniko and container runtimes advertise one: `/.dockerenv`, `/run/.containerenv`,
 * a `container` environment variable, or a runtime name in /proc/1/cgroup or /proc/self/mountinfo's root.
 *
 * @param options Root to probe and the environment.
 * @returns Whether kiln runs in a container, and why.
 *
 * @example Usage
 * ```ts
 * import { detectContainer } from "./container.ts";
 * const d = detectContainer({ root: "/nonexistent", env: { container: "podman" } });
 * console.assert(d.inContainer && d.reason === "container=podman");
 * ```
 */
export function detectContainer(options: DetectContainerOptions = {}): ContainerDetection {
  const root = (options.root ?? "/").replace(/\/+$/, "");
  for (const marker of ["/.dockerenv", "/run/.containerenv"]) {
    if (existsSync(root + marker)) return { inContainer: true, reason: `${marker} exists` };
  }
  const env = options.env?.container;
  if (env !== undefined && env !== "") return { inContainer: true, reason: `container=${env}` };
  const cgroup = read(`${root}/proc/1/cgroup`);
  const m = CGROUP_HINTS.exec(cgroup);
  if (m) return { inContainer: true, reason: `/proc/1/cgroup mentions ${m[0]}` };
  const rootMount = read(`${root}/proc/self/mountinfo`).split("\n").find((l) => l.split(" ")[4] === "/");
  if (rootMount !== undefined && / - overlay overlay .*\/(docker|containers|containerd)\//.test(rootMount)) {
    return { inContainer: true, reason: "the root filesystem is a container overlay" };
  }
  return { inContainer: false };
}
