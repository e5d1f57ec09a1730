/**
 * Process liveness, for lock files that record their holder's pid.
 *
 * @module
 */
import process from "node:process";

/**
 * Whether a process with this pid exists on this host (signal 0; EPERM means it exists but is not ours).
 *
 * @param pid The process id.
 * @returns True if it is alive.
 *
 * @example Usage
 * ```ts
 * import { isProcessAlive } from "./process.ts";
 * console.assert(isProcessAlive(Deno.pid));
 * ```
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}
