/**
 * Private helpers shared by the cache stores: the image an entry is stored as, and the checks that turn a stored
 * image back into a {@linkcode CacheEntry} (or say why it is not one).
 *
 * @module
 */
import { type Digest, isDigest, KilnError, type Logger, nullLogger, type Platform } from "../util/mod.ts";
import { type History, type Image, type ImageConfig, imageFromParts, type Layer, type Manifest } from "../image/mod.ts";
import type { CacheEntry, CacheKey, CachePut, LayerCacheOptions } from "./types.ts";

/** kaniko's default `--cache-ttl`: two weeks. */
export const DEFAULT_CACHE_TTL_MS = 336 * 3600 * 1000;

/** The platform recorded in entry configs when none is given (informational: the key covers the platform). */
const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };

/** Options and clock of a store, with defaults applied. */
export interface StoreContext {
  /** Entries older than this are misses. */
  ttlMs: number;
  /** Where warnings go. */
  logger: Logger;
  /** The clock. */
  now: () => Date;
}

/**
 * The options every store takes, with defaults.
 *
 * @param options The store's options.
 * @returns TTL, logger and clock.
 */
export function storeContext(options: LayerCacheOptions): StoreContext {
  const ttlMs = options.ttlMs ?? DEFAULT_CACHE_TTL_MS;
  if (!(ttlMs >= 0)) throw new RangeError(`Cannot use cache TTL ${ttlMs} ms: it must be a number >= 0`);
  return { ttlMs, logger: options.logger ?? nullLogger, now: options.now ?? (() => new Date()) };
}

/**
 * Throws a TypeError unless `key` is a cache key (64 lowercase hex characters).
 *
 * @param key The key.
 */
export function checkKey(key: CacheKey): void {
  if (!/^[a-f0-9]{64}$/.test(key)) {
    throw new TypeError(`Cannot use cache key ${JSON.stringify(key)}: expected 64 lowercase hex characters`);
  }
}

/**
 * How keys are shown in messages: their first 12 characters.
 *
 * @param key The key.
 * @returns `3f2a9c1b0d4e…`.
 */
export function shortKey(key: CacheKey): string {
  return `${key.slice(0, 12)}…`;
}

/** A stored entry that is not a valid cache entry (wrong shape, missing or corrupt blob). */
export class CorruptEntryError extends KilnError {
  /**
   * Creates the error.
   *
   * @param reason Why, e.g. `its manifest has 2 layers`.
   * @param cause The underlying error.
   */
  constructor(reason: string, cause?: unknown) {
    super(reason, cause === undefined ? {} : { cause });
    this.name = "CorruptEntryError";
  }
}

/**
 * The image a cache entry is stored as (kaniko's form): 0 or 1 layer, a config with `created` (the TTL's clock),
 * `rootfs.diff_ids` and one history entry `created_by`, OCI media types.
 *
 * @param entry What to store.
 * @param created The entry time.
 * @param platform Recorded in the config (default linux/amd64).
 * @returns The image.
 */
export function entryImage(entry: CachePut, created: Date, platform: Platform = DEFAULT_PLATFORM): Image {
  const time = created.toISOString();
  const history: History = { created: time, created_by: entry.createdBy };
  if (!entry.layer) history.empty_layer = true;
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: time,
    config: {},
    rootfs: { type: "layers", diff_ids: [] },
    history: [history],
  };
  return imageFromParts({ config, layers: entry.layer ? [entry.layer] : [] });
}

/** What {@linkcode toEntry} checks. */
export interface StoredEntry {
  /** The entry's manifest. */
  manifest: Manifest;
  /** Its config. */
  config: ImageConfig;
  /** Its layer (lazy), when the manifest has one. */
  layer?: Layer;
  /** Where the layer's blob lives in a registry. */
  sourceRepository?: string;
}

/**
 * Checks a stored entry and makes the {@linkcode CacheEntry}: `undefined` when it is expired (older than the TTL);
 * throws {@linkcode CorruptEntryError} when it has more than one layer, diff_ids that do not match its layers, or
 * no valid `created` time.
 *
 * @param stored Manifest, config and layer.
 * @param ctx TTL and clock.
 * @returns The entry, or undefined when expired.
 */
export function toEntry(stored: StoredEntry, ctx: StoreContext): CacheEntry | undefined {
  const { manifest, config } = stored;
  if (manifest.layers.length > 1) {
    throw new CorruptEntryError(`its manifest has ${manifest.layers.length} layers, a cache entry has at most 1`);
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
    throw new CorruptEntryError(
      `its config lists ${
        Array.isArray(diffIds) ? diffIds.length : "no"
      } diff_ids for ${manifest.layers.length} layers`,
    );
  }
  if (!diffIds.every((d) => typeof d === "string" && isDigest(d))) {
    throw new CorruptEntryError("its config has a diff_id that is not a sha256 digest");
  }
  const created = typeof config.created === "string" ? new Date(config.created) : undefined;
  if (!created || Number.isNaN(created.getTime())) {
    throw new CorruptEntryError("its config has no valid created time (the TTL's clock)");
  }
  if (created.getTime() + ctx.ttlMs < ctx.now().getTime()) return undefined;
  const entry: CacheEntry = { created };
  const createdBy = config.history?.find((h) => h.created_by !== undefined)?.created_by;
  if (createdBy !== undefined) entry.createdBy = createdBy;
  if (manifest.layers.length === 1) {
    if (!stored.layer) throw new CorruptEntryError("its layer cannot be read");
    entry.layer = stored.layer;
    entry.diffId = diffIds[0] as Digest;
    if (stored.sourceRepository) entry.sourceRepository = stored.sourceRepository;
  }
  return entry;
}
