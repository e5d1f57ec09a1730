/**
 * The registry layer cache (kaniko's `--cache-repo REPO`): each entry is the image `REPO:<key>`, in kaniko's form,
 * so kaniko and kiln can share a cache repository and `skopeo`/`crane` can inspect it.
 *
 * @module
 */
import { describeError, type Digest, isDigest, type Platform } from "../util/mod.ts";
import { compressedLayer, type Descriptor, type Layer, parseConfig, parseManifest } from "../image/mod.ts";
import {
  createRegistryClient,
  fetchManifest,
  openBlob,
  parseReference,
  pushImage,
  type Reference,
  ReferenceSyntaxError,
  type RegistryClient,
  RegistryError,
  type RegistryOptions,
} from "../registry/mod.ts";
import type { CacheCallOptions, CacheEntry, CacheKey, CachePut, LayerCache, LayerCacheOptions } from "./types.ts";
import { checkKey, CorruptEntryError, entryImage, shortKey, storeContext, toEntry } from "./_entry.ts";

/** Config blobs larger than this are not read (a cache entry's config is a few hundred bytes). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** Options for {@linkcode registryCache}. */
export interface RegistryCacheOptions extends LayerCacheOptions {
  /**
   * The cache repository, `host[:port]/path` without tag or digest (`reg.example/app/cache`; a name without a
   * host is on Docker Hub). Its tags are the keys.
   */
  repository: string | Reference;
  /**
   * Registry options (insecure hosts, certificates, credentials, retries, timeouts), as the build's pushes use
   * them: the cache repository is reached with the push-side settings (`insecure`, `skipTlsVerify`, `pushRetry`),
   * for lookups too. Mirrors and registry maps are not used: the cache is this repository only.
   */
  registry?: Omit<RegistryOptions, "signal" | "logger" | "platform">;
  /** Platform recorded in the configs of stored entries (default linux/amd64; the key already covers it). */
  platform?: Platform;
}

/** A {@linkcode LayerCache} in a registry repository. */
export interface RegistryLayerCache extends LayerCache {
  /** The cache repository, `host/repository` (what {@linkcode RegistryLayerCache.name} says too). */
  readonly repository: string;
}

/**
 * Parses a cache repository reference (`host[:port]/path`, no tag or digest).
 *
 * @param text The reference.
 * @returns Registry and repository.
 * @throws {ReferenceSyntaxError} When it is not a repository reference, or has a tag or digest.
 *
 * @example Usage
 * ```ts
 * import { parseCacheRepository } from "./registry.ts";
 * const r = parseCacheRepository("127.0.0.1:5000/team/app/cache");
 * console.assert(r.registry === "127.0.0.1:5000" && r.repository === "team/app/cache" && r.tag === undefined);
 * ```
 */
export function parseCacheRepository(text: string): Reference {
  const ref = parseReference(text, { defaultTag: "" });
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new ReferenceSyntaxError(text, "a cache repository takes no tag or digest (the cache keys are its tags)");
  }
  return { registry: ref.registry, repository: ref.repository };
}

/** A request the cache repository answered with 404: a tag (or repository) that does not exist. */
function isNotFound(err: unknown): boolean {
  return err instanceof RegistryError && err.status === 404;
}

/** The repository cannot be used (unreachable, refusing, failing after retries): stop asking it. */
function isStoreFailure(err: unknown): boolean {
  return err instanceof RegistryError && err.status !== 404;
}

/**
 * A layer cache in a registry repository, compatible with kaniko's: the entry for key K is the image `REPO:K`, with
 * OCI media types, 0 or 1 layer, and a config holding `created` (the TTL's clock), `rootfs.diff_ids` and one
 * history entry `created_by`.
 *
 * - `get` fetches the manifest and the (small) config only: the entry's `layer` is the remote blob, downloaded
 *   (and verified) only when opened, and it carries `origin`, so pushing an image with it to another repository of
 *   the same registry mounts the blob instead of uploading it. `sourceRepository` is `host/repository`.
 * - A missing tag is a silent miss. An expired entry is a miss (logged at debug). A malformed entry (more than one
 *   layer, diff_ids that do not match, no `created`, a missing or corrupt config) is a miss with a warning. An
 *   unreachable or refusing repository (network error, 401/403, 5xx after the retries) is a warning and a miss,
 *   and the cache stops asking it for the rest of its life (so a build does not wait for it at every step).
 * - `put` pushes the entry (the layer blob is skipped when present, mounted when its `origin` is in the same
 *   registry). A failure is a warning; after a network error or 401/403 no more puts are tried.
 *
 * Warnings name the cache repository and the key's first 12 characters, never credentials.
 *
 * @param options Repository, registry options, TTL, logger, clock.
 * @returns The cache.
 *
 * @example Usage
 * ```ts ignore
 * import { registryCache } from "./registry.ts";
 * const cache = registryCache({ repository: "127.0.0.1:5000/app/cache", registry: { insecureRegistries: ["127.0.0.1:5000"] } });
 * const hit = await cache.get("0".repeat(64));
 * if (!hit) await cache.put("0".repeat(64), { createdBy: "RUN true" });
 * ```
 */
export function registryCache(options: RegistryCacheOptions): RegistryLayerCache {
  const ctx = storeContext(options);
  const repo = typeof options.repository === "string"
    ? parseCacheRepository(options.repository)
    : { registry: options.repository.registry, repository: options.repository.repository };
  const name = `${repo.registry}/${repo.repository}`;
  const regOpts: RegistryOptions = { ...options.registry, logger: ctx.logger };
  let lookupsOff = false;
  let putsOff = false;
  // Layers are opened after get() returned, maybe much later: their blobs go through a client of their own, made
  // on first use and never closed (as lib/registry's remoteImage does for the layers it returns).
  let blobs: RegistryClient | undefined;
  const blobClient = () => blobs ??= createRegistryClient("push", regOpts);

  const remoteLayer = (ref: Reference, d: Descriptor, diffId: string | undefined): Layer => {
    const layer = compressedLayer({
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      ...(diffId && isDigest(diffId) ? { diffId: diffId as Digest } : {}),
      open: () => openBlob(ref, d, { client: blobClient() }),
    });
    layer.origin = { registry: repo.registry, repository: repo.repository };
    return layer;
  };

  return {
    name,
    repository: name,
    async get(key: CacheKey, call: CacheCallOptions = {}): Promise<CacheEntry | undefined> {
      checkKey(key);
      if (lookupsOff) return undefined;
      const ref: Reference = { ...repo, tag: key };
      const where = `${name}:${shortKey(key)}`;
      const client = createRegistryClient("push", { ...regOpts, ...(call.signal ? { signal: call.signal } : {}) });
      try {
        let fetched;
        try {
          fetched = await fetchManifest(ref, { client });
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
        const parsed = parseManifest(fetched.raw, { mediaType: fetched.mediaType, source: where });
        if (parsed.kind !== "image") throw new CorruptEntryError("it is an image index, not an image");
        const m = parsed.manifest;
        if (m.config.size > MAX_CONFIG_BYTES) {
          throw new CorruptEntryError(`its config is ${m.config.size} bytes, larger than a cache entry's`);
        }
        let rawConfig: Uint8Array;
        try {
          rawConfig = new Uint8Array(await new Response(await openBlob(ref, m.config, { client })).arrayBuffer());
        } catch (err) {
          if (isStoreFailure(err)) throw err;
          throw new CorruptEntryError(`its config cannot be read: ${describeError(err)}`, err);
        }
        const config = parseConfig(rawConfig, where);
        const d = m.layers[0];
        const diffIds = config.rootfs?.diff_ids;
        const entry = toEntry({
          manifest: m,
          config,
          ...(d ? { layer: remoteLayer(ref, d, diffIds?.length === 1 ? diffIds[0] : undefined) } : {}),
          sourceRepository: name,
        }, ctx);
        if (!entry) ctx.logger.debug("layer cache entry expired", { cache: name, key: shortKey(key) });
        return entry;
      } catch (err) {
        if (call.signal?.aborted) throw err;
        if (isStoreFailure(err)) {
          lookupsOff = true;
          if ((err as RegistryError).status === 0 || [401, 403].includes((err as RegistryError).status)) putsOff = true;
          ctx.logger.warn(
            `Cannot look up layer cache entry ${where}: ${describeError(err)}; not asking ${name} again`,
          );
        } else {
          ctx.logger.warn(`Cannot use layer cache entry ${where}: ${describeError(err)}; treating it as a miss`);
        }
        return undefined;
      } finally {
        client.close();
      }
    },
    async put(key: CacheKey, entry: CachePut, call: CacheCallOptions = {}): Promise<void> {
      checkKey(key);
      if (putsOff) return;
      const image = entryImage(entry, entry.created ?? ctx.now(), options.platform);
      try {
        await pushImage([{ ...repo, tag: key }], image, {
          ...regOpts,
          ...(call.signal ? { signal: call.signal } : {}),
        });
      } catch (err) {
        if (call.signal?.aborted) throw err;
        const refused = err instanceof RegistryError && (err.status === 0 || [401, 403].includes(err.status));
        if (refused) putsOff = true;
        ctx.logger.warn(
          `Cannot store layer cache entry ${name}:${shortKey(key)}: ${describeError(err)}${
            refused ? `; not pushing to ${name} again` : ""
          }`,
        );
      }
    },
  } satisfies RegistryLayerCache;
}

/**
 * The repositories a push can cross-repository mount the blobs of cache hits from: the distinct
 * `sourceRepository` (`host/repository`) of the entries, as lib/output's `mountFrom` takes them (lib/registry's
 * `PushOptions.mountFrom` takes them through `parseReference`). A layer from {@linkcode registryCache} also carries
 * `origin`, which `pushImage` tries first by itself; this is for images whose layers were rebuilt from the entries'
 * descriptors, or to name the sources explicitly.
 *
 * @param entries Cache hits (undefined ones are skipped).
 * @returns Each source repository once.
 *
 * @example Usage
 * ```ts
 * import { cacheMountSources } from "./registry.ts";
 * const from = cacheMountSources([{ created: new Date(), sourceRepository: "127.0.0.1:5000/app/cache" }, undefined]);
 * console.assert(from.length === 1 && from[0] === "127.0.0.1:5000/app/cache");
 * ```
 */
export function cacheMountSources(entries: Iterable<CacheEntry | undefined>): string[] {
  const seen = new Set<string>();
  for (const e of entries) if (e?.sourceRepository) seen.add(e.sourceRepository);
  return [...seen];
}
