/**
 * The OCI-layout layer cache (`--cache-repo oci:PATH`): entries are manifests in one OCI image layout on disk,
 * named by their key.
 *
 * @module
 */
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { describeError, type Digest, exists, type Platform } from "../util/mod.ts";
import { isImageMediaType, type Layer, layoutIndex, REF_NAME_ANNOTATION, writeLayout } from "../image/mod.ts";
import type { CacheCallOptions, CacheEntry, CacheKey, CachePut, LayerCache, LayerCacheOptions } from "./types.ts";
import { checkKey, CorruptEntryError, entryImage, shortKey, storeContext, toEntry } from "./_entry.ts";

/**
 * Removes the layer's blob from the layout when it is there with the wrong size (truncated), so that writeLayout,
 * which skips blobs that exist, writes it again.
 */
async function dropDamagedBlob(path: string, layer: Layer): Promise<void> {
  let digest: Digest;
  let size: number;
  try {
    [digest, size] = await Promise.all([layer.digest(), layer.size()]);
  } catch {
    return; // A stream layer: its digest is known only once written.
  }
  const blob = join(path, "blobs", "sha256", digest.slice("sha256:".length));
  const st = await stat(blob).catch(() => undefined);
  if (st && st.size !== size) await rm(blob, { force: true });
}

/** Options for {@linkcode layoutCache}. */
export interface LayoutCacheOptions extends LayerCacheOptions {
  /** The layout directory (created by the first `put`). */
  path: string;
  /** Platform recorded in the configs of stored entries (default linux/amd64; the key already covers it). */
  platform?: Platform;
}

/**
 * A layer cache in an OCI image layout: the entry for key K is the image manifest whose index.json entry is
 * annotated `org.opencontainers.image.ref.name: K` (the last such entry wins, as in kaniko), in the same form as
 * {@linkcode registryCache}'s entries (0 or 1 layer, config `created`, `rootfs.diff_ids`, one history entry).
 *
 * - `put` goes through lib/image's `writeLayout`: blobs are verified into temp files and renamed, index.json is
 *   replaced under the layout's lock file, so several builds (processes) may share the layout at once; an
 *   existing entry with the key loses its name.
 * - `get` reads index.json, the manifest and the config (both verified by digest), and checks that the layer
 *   blob exists with the manifest's size; the layer's digest is verified while it is read (a mismatch errors the
 *   stream at its end), so a corrupt blob never passes for the layer. A layout (or key) that does not exist is a
 *   silent miss, an expired entry a miss logged at debug, anything unreadable or malformed a warning and a miss.
 *
 * @param options Path, TTL, logger, clock.
 * @returns The cache.
 *
 * @example Usage
 * ```ts
 * import { layoutCache } from "./layout.ts";
 * const path = await Deno.makeTempDir();
 * try {
 *   const cache = layoutCache({ path: `${path}/cache` });
 *   const key = "ab".repeat(32);
 *   await cache.put(key, { createdBy: "RUN true" });
 *   console.assert((await cache.get(key))?.createdBy === "RUN true");
 * } finally {
 *   await Deno.remove(path, { recursive: true });
 * }
 * ```
 */
export function layoutCache(options: LayoutCacheOptions): LayerCache {
  const ctx = storeContext(options);
  const path = options.path;
  const name = `oci:${path}`;
  return {
    name,
    async get(key: CacheKey, call: CacheCallOptions = {}): Promise<CacheEntry | undefined> {
      checkKey(key);
      call.signal?.throwIfAborted();
      const where = `${name}:${shortKey(key)}`;
      try {
        if (!(await exists(join(path, "index.json")))) return undefined;
        const index = await layoutIndex(path);
        const found = (await index.manifest()).manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === key)
          .at(-1);
        if (!found) return undefined;
        if (!isImageMediaType(found.mediaType)) {
          throw new CorruptEntryError(`it is a ${found.mediaType}, not an image manifest`);
        }
        const image = await index.image(found.digest);
        const [manifest, config, layers] = await Promise.all([image.manifest(), image.config(), image.layers()]);
        const d = manifest.layers[0];
        if (d && manifest.layers.length === 1) {
          // The cheap check here; the full digest is verified as the layer is read.
          const st = await stat(join(path, "blobs", "sha256", d.digest.slice("sha256:".length))).catch(() => undefined);
          if (!st?.isFile()) throw new CorruptEntryError(`its layer blob ${d.digest} is missing`);
          if (st.size !== d.size) {
            throw new CorruptEntryError(`its layer blob ${d.digest} has ${st.size} bytes, the manifest says ${d.size}`);
          }
        }
        const entry = toEntry({ manifest, config, ...(layers[0] ? { layer: layers[0] } : {}) }, ctx);
        if (!entry) ctx.logger.debug("layer cache entry expired", { cache: name, key: shortKey(key) });
        return entry;
      } catch (err) {
        if (call.signal?.aborted) throw err;
        ctx.logger.warn(`Cannot use layer cache entry ${where}: ${describeError(err)}; treating it as a miss`);
        return undefined;
      }
    },
    async put(key: CacheKey, entry: CachePut, call: CacheCallOptions = {}): Promise<void> {
      checkKey(key);
      const image = entryImage(entry, entry.created ?? ctx.now(), options.platform);
      try {
        if (entry.layer) await dropDamagedBlob(path, entry.layer);
        await writeLayout(path, image, { tags: [key], ...(call.signal ? { signal: call.signal } : {}) });
      } catch (err) {
        if (call.signal?.aborted) throw err;
        ctx.logger.warn(`Cannot store layer cache entry ${name}:${shortKey(key)}: ${describeError(err)}`);
      }
    },
  } satisfies LayerCache;
}
