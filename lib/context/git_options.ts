/**
 * Parsing kaniko's `--git` flag values.
 *
 * @module
 */
import { UsageError } from "../util/mod.ts";
import type { GitOptions } from "./types.ts";

function bool(key: string, v: string): boolean {
  const l = v.toLowerCase();
  if (["true", "1", "yes", "t"].includes(l)) return true;
  if (["false", "0", "no", "f"].includes(l)) return false;
  throw new UsageError(`Invalid --git value ${key}=${v}: expected true or false`);
}

/**
 * Parses the values of kaniko's repeatable `--git` flag into {@linkcode GitOptions}. Each value is `key=value`
 * or several of them separated by commas; keys are `branch`, `single-branch`, `recurse-submodules`,
 * `insecure-skip-tls`. Later values win. Throws a UsageError for an unknown key or a bad boolean.
 *
 * @param values The flag values as given.
 * @returns The options.
 *
 * @example Usage
 * ```ts
 * import { parseGitOptions } from "./git_options.ts";
 * const o = parseGitOptions(["branch=main,single-branch=true", "recurse-submodules=true"]);
 * console.assert(o.branch === "main" && o.singleBranch && o.recurseSubmodules);
 * ```
 */
export function parseGitOptions(values: readonly string[]): GitOptions {
  const out: GitOptions = {};
  for (const value of values) {
    for (const item of value.split(",")) {
      if (item.trim() === "") continue;
      const eq = item.indexOf("=");
      if (eq < 0) throw new UsageError(`Invalid --git value "${item}": expected key=value`);
      const key = item.slice(0, eq).trim();
      const v = item.slice(eq + 1).trim();
      switch (key) {
        case "branch":
          out.branch = v;
          break;
        case "single-branch":
          out.singleBranch = bool(key, v);
          break;
        case "recurse-submodules":
          out.recurseSubmodules = bool(key, v);
          break;
        case "insecure-skip-tls":
          out.insecureSkipTls = bool(key, v);
          break;
        default:
          throw new UsageError(
            `Invalid --git key "${key}": expected branch, single-branch, recurse-submodules or insecure-skip-tls`,
          );
      }
    }
  }
  return out;
}
