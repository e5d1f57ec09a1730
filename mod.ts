/**
 * kiln: a daemonless container-image builder. {@linkcode build} takes a Dockerfile and a context and writes the
 * image to registries, an OCI layout, a docker archive and digest files; lib/image, lib/registry, lib/dockerfile,
 * lib/tar and lib/compress are the pieces it is made of, exported here too.
 *
 * @example Build examples/hello (FROM scratch: no registry, no network) into an OCI layout, reproducibly
 * ```ts
 * import { build } from "./mod.ts";
 * const out = Deno.makeTempDirSync();
 * const result = await build({
 *   context: new URL("./examples/hello", import.meta.url).pathname,
 *   buildArgs: { GREETING: "hi" },
 *   outputs: { noPush: true, ociLayoutPath: `${out}/layout` },
 *   layers: { reproducible: true },
 *   workDir: `${out}/work`,
 * });
 * console.assert(result.config.config?.Env?.includes("GREETING=hi"));
 * console.assert(result.manifest.layers.length === 3 && result.outputs[0]?.kind === "oci-layout");
 * Deno.removeSync(out, { recursive: true });
 * ```
 *
 * @example Hash bytes
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
export * from "./lib/executor/mod.ts";
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
