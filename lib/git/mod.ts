/**
 * Git sources: cloning one ref of an http(s) repository ({@linkcode cloneGitRef}), shared by git build contexts
 * (lib/context) and `ADD <git URL>` (lib/copy). Imports only lib/util.
 *
 * @example Usage
 * ```ts ignore
 * import { cloneGitRef } from "./mod.ts";
 * const { commit } = await cloneGitRef("https://github.com/org/repo.git", "/tmp/checkout", { ref: "v1.2" });
 * ```
 *
 * @module
 */
export {
  cloneGitRef,
  type CloneGitRefOptions,
  GitCloneError,
  type GitCredentials,
  gitCredentials,
  type GitEnv,
  type GitProgress,
  parseGitmodules,
} from "./clone.ts";
