/**
 * The layer cache's contract: a store of step results by cache key. Two implementations: a registry repository
 * (kaniko's `--cache-repo REPO`, each entry the image `REPO:<key>`) and an OCI image layout (`--cache-repo
 * oci:PATH`, each entry a manifest whose `org.opencontainers.image.ref.name` is the key). Others (S3, GCS, Azure)
 * implement the same interface.
 *
 * @module
 */
import type { Digest, Logger } from "../util/mod.ts";
import type { Layer } from "../image/mod.ts";

/** A cache key: 64 lowercase hex characters (a sha256), valid as a registry tag. */
export type CacheKey = string;

/** What a cached step left behind. */
export interface CacheEntry {
  /**
   * The step's layer, or undefined when the step changed no file. Lazy: nothing is downloaded until it is opened,
   * and its `digest()`, `size()`, `diffId()` and `mediaType()` answer from the entry's manifest and config.
   */
  layer?: Layer;
  /** The layer's uncompressed digest (config `rootfs.diff_ids[0]`), with `layer`. */
  diffId?: Digest;
  /** When the entry was written (config `created`): entries older than the TTL are misses. */
  created: Date;
  /** The history `created_by` recorded with it. */
  createdBy?: string;
  /**
   * Where the layer's blob lives when it is in a registry (`host/repository`): a push to another repository of the
   * same registry can mount it instead of uploading it.
   */
  sourceRepository?: string;
}

/** What {@linkcode LayerCache.put} stores. */
export interface CachePut {
  /** The step's layer (a layer file of this build), or undefined when the step changed nothing. */
  layer?: Layer;
  /** History `created_by` of the step. */
  createdBy: string;
  /** Entry time (default now; `--reproducible` builds still record the real time: it is the TTL's clock). */
  created?: Date;
}

/** Per-call options. */
export interface CacheCallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
}

/** A layer cache. Never throws for a store problem: a failing or refusing store is a warning and a miss. */
export interface LayerCache {
  /** What to call it in messages (`registry.example/app/cache`, `oci:/cache`); never holds credentials. */
  readonly name: string;
  /**
   * For a store in a registry, its repository as `host/repository`: a push to another repository of the same
   * registry can mount cached blobs from it (lib/output `mountFrom`; lib/registry `PushOptions.mountFrom` after
   * `parseReference`). Undefined for stores elsewhere.
   */
  readonly repository?: string;
  /**
   * Looks a key up. Missing, expired (older than the TTL), unreadable or corrupt entries (digest mismatch, a
   * missing blob, more than one layer) are `undefined`, the last three with a warning on the logger.
   */
  get(key: CacheKey, options?: CacheCallOptions): Promise<CacheEntry | undefined>;
  /** Stores an entry (replacing one with the same key). A failure is a warning, never an error. */
  put(key: CacheKey, entry: CachePut, options?: CacheCallOptions): Promise<void>;
}

/** Options every store takes. */
export interface LayerCacheOptions {
  /** Entries older than this are misses (kaniko `--cache-ttl`, default 336 h). */
  ttlMs?: number;
  /** Logger for warnings. */
  logger?: Logger;
  /** The clock (tests). */
  now?: () => Date;
}
