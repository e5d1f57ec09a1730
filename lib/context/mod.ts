/**
 * Build contexts: every source kaniko accepts for `--context` (local directory, `dir://`, `tar://` file or stdin,
 * `s3://`, `gs://`, Azure Blob URLs, `git://` and `https://…/repo.git`, `https://…/context.tar.gz`), plus
 * `--context-sub-path` and `--dockerfile` resolution. Cloud SDKs and isomorphic-git are imported lazily.
 *
 * @example Usage
 * ```ts ignore
 * import { resolveContext, resolveDockerfile } from "./mod.ts";
 * const ctx = await resolveContext("s3://bucket/ctx.tar.gz", { workDir: "/tmp/kiln", env: Deno.env.toObject() });
 * const df = await resolveDockerfile("Dockerfile", ctx.dir, { workDir: "/tmp/kiln" });
 * await df.cleanup();
 * await ctx.cleanup();
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./errors.ts";
export { isRemoteContext, parseContextSpec } from "./spec.ts";
export type { ContextSpec } from "./spec.ts";
export { parseGitOptions } from "./git_options.ts";
export { cloneGitRef, GitCloneError } from "./git.ts";
export type { CloneGitRefOptions } from "./git.ts";
export { createContextSource } from "./source.ts";
export type { AnyContextSource } from "./source.ts";
export { resolveContext } from "./resolve.ts";
export type { ResolveContextOptions, ResolvedContext } from "./resolve.ts";
export { resolveDockerfile } from "./dockerfile.ts";
export type { ResolvedDockerfile, ResolveDockerfileOptions } from "./dockerfile.ts";
export {
  createIgnoreMatcher,
  dockerignoreCandidates,
  type IgnoreMatcher,
  loadDockerignore,
  type LoadDockerignoreOptions,
  parseDockerignore,
} from "./dockerignore.ts";
