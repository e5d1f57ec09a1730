/**
 * kiln: a daemonless container-image builder.
 *
 * ```ts
 * import { sha256 } from "./mod.ts";
 * console.log(sha256("hello"));
 * ```
 *
 * @module
 */
export * from "./lib/util/mod.ts";
export * from "./lib/tar/mod.ts";
export * from "./lib/compress/mod.ts";
export { extractEntries, extractLayer, type ExtractOptions, type ExtractStats } from "./lib/fs/mod.ts";
export * from "./lib/dockerfile/mod.ts";
export * from "./lib/image/mod.ts";
export * from "./lib/registry/mod.ts";
export * from "./lib/build/mod.ts";
export {
  ContextError,
  createContextSource,
  isRemoteContext,
  parseContextSpec,
  parseGitOptions,
  resolveContext,
  resolveDockerfile,
} from "./lib/context/mod.ts";
export type {
  ContextFetchOptions,
  ContextKind,
  ContextProgress,
  ContextSource,
  ContextSourceOptions,
  ContextSpec,
  GitOptions,
  ResolveContextOptions,
  ResolvedContext,
  ResolvedDockerfile,
  ResolveDockerfileOptions,
} from "./lib/context/mod.ts";
export { VERSION } from "./lib/version.ts";
