/**
 * Choosing a layer cache from kaniko's `--cache-repo` value, and kaniko's default cache repository.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import type { Platform } from "../util/mod.ts";
import { parseReference, ReferenceSyntaxError, type RegistryOptions } from "../registry/mod.ts";
import type { LayerCache, LayerCacheOptions } from "./types.ts";
import { layoutCache } from "./layout.ts";
import { registryCache } from "./registry.ts";

export { DEFAULT_CACHE_TTL_MS } from "./_entry.ts";

/** Options for {@linkcode openLayerCache}. */
export interface OpenLayerCacheOptions extends LayerCacheOptions {
  /** Registry options for a registry cache (as the build's pushes use them). */
  registry?: Omit<RegistryOptions, "signal" | "logger" | "platform">;
  /** Directory a relative `oci:PATH` is resolved against (default: the process's working directory). */
  cwd?: string;
  /** Platform recorded in the configs of stored entries (default linux/amd64). */
  platform?: Platform;
}

/**
 * Opens the layer cache a `--cache-repo` value names: `oci:PATH` is an OCI image layout on disk
 * ({@linkcode layoutCache}), anything else a registry repository (`host[:port]/path`, {@linkcode registryCache}).
 *
 * @param spec The `--cache-repo` value.
 * @param options Registry options, TTL, logger, clock, working directory.
 * @returns The cache.
 * @throws {ReferenceSyntaxError} When `spec` is neither `oci:PATH` nor a repository reference without tag.
 *
 * @example Usage
 * ```ts
 * import { openLayerCache } from "./open.ts";
 * console.assert(openLayerCache("oci:/var/cache/kiln").name === "oci:/var/cache/kiln");
 * console.assert(openLayerCache("127.0.0.1:5000/app/cache").name === "127.0.0.1:5000/app/cache");
 * ```
 */
export function openLayerCache(spec: string, options: OpenLayerCacheOptions = {}): LayerCache {
  const { registry, cwd, platform, ...common } = options;
  if (spec.startsWith("oci:")) {
    const p = spec.slice("oci:".length);
    if (!p) throw new ReferenceSyntaxError(spec, "oci: needs a directory (oci:PATH)");
    const path = isAbsolute(p) ? p : resolve(cwd ?? ".", p);
    return layoutCache({ ...common, path, ...(platform ? { platform } : {}) });
  }
  return registryCache({
    ...common,
    repository: spec,
    ...(registry ? { registry } : {}),
    ...(platform ? { platform } : {}),
  });
}

/**
 * kaniko's cache repository when `--cache-repo` is not given: the first destination's repository plus `/cache`.
 *
 * @param destinations The `--destination` references.
 * @returns `host/repository/cache`, or undefined without destinations.
 * @throws {ReferenceSyntaxError} When the first destination is not an image reference.
 *
 * @example Usage
 * ```ts
 * import { inferCacheRepo } from "./open.ts";
 * console.assert(inferCacheRepo(["reg:5000/team/app:1"]) === "reg:5000/team/app/cache");
 * console.assert(inferCacheRepo([]) === undefined);
 * ```
 */
export function inferCacheRepo(destinations: readonly string[]): string | undefined {
  const first = destinations[0];
  if (first === undefined) return undefined;
  const ref = parseReference(first);
  return `${ref.registry}/${ref.repository}/cache`;
}
