/**
 * The layer cache (kaniko's `--cache`, `--cache-repo`, `--cache-ttl`): the {@linkcode LayerCache} contract and its
 * two stores, a registry repository ({@linkcode registryCache}, entries `REPO:<key>` as kaniko writes them) and an
 * OCI image layout on disk ({@linkcode layoutCache}, `--cache-repo oci:PATH`); {@linkcode openLayerCache} picks
 * one from a `--cache-repo` value, {@linkcode inferCacheRepo} gives kaniko's default repository.
 *
 * A store never fails a build: a missing entry is a miss, an unreachable or refusing store or a corrupt entry is a
 * warning and a miss. Hits are lazy: nothing of the layer is downloaded until it is opened.
 *
 * ```ts ignore
 * import { inferCacheRepo, openLayerCache } from "./mod.ts";
 * const cache = openLayerCache(inferCacheRepo(["127.0.0.1:5000/app:1"])!, {
 *   registry: { insecureRegistries: ["127.0.0.1:5000"] },
 *   ttlMs: 24 * 3600 * 1000,
 * });
 * const key = "0".repeat(64);
 * const hit = await cache.get(key);
 * if (hit) console.log(hit.createdBy, hit.layer ? await hit.layer.digest() : "no layer");
 * else await cache.put(key, { createdBy: "RUN make" });
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./registry.ts";
export * from "./layout.ts";
export * from "./open.ts";
export { canonicalJson, chainKey } from "./key.ts";
export { hashSources, type HashSourcesOptions } from "./sources.ts";
export * from "./base_images.ts";
