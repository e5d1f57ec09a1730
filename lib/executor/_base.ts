/**
 * Private: resolving a stage's FROM to an image (scratch, a named `--build-context`, an OCI layout, a registry)
 * and extracting an image's layers into a stage rootfs.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { formatBytes, KilnError } from "../util/mod.ts";
import type { Digest, Logger } from "../util/mod.ts";
import type { Image, ImageConfig, Layer, Platform } from "../image/mod.ts";
import { isImageValue, layoutImage, selectPlatform } from "../image/mod.ts";
import { remote } from "../registry/mod.ts";
import type { RegistryOptions } from "../registry/mod.ts";
import { extractLayer } from "../fs/mod.ts";
import { lookupBaseImage } from "../cache/mod.ts";

/** A resolved base. */
export interface ResolvedBase {
  /** The image (undefined for scratch). */
  image?: Image;
  /** The digest the reference resolved to: an index's when it named one (provenance pins that, with the platform). */
  resolved?: Digest;
  /** Its config (a fresh one for scratch). */
  config: ImageConfig;
  /** Its layers. */
  layers: Layer[];
}

/** Options for {@linkcode resolveBaseImage}. */
export interface ResolveBaseOptions {
  /** `Dockerfile:LINE` of the FROM. */
  where: string;
  /** Platform to pick from indexes and to record for scratch. */
  platform: Platform;
  /** Named build contexts (`--build-context NAME=VALUE`). */
  buildContexts: Readonly<Record<string, string>>;
  /** Registry options. */
  registry: Omit<RegistryOptions, "signal" | "logger" | "platform">;
  /** Directory relative layout paths resolve against. */
  cwd: string;
  /**
   * The base-image cache dir filled by `kiln warm` (`--cache-dir` with `--cache`): a registry base found there (by
   * tag or digest, warmed within `ttlMs`) is used without any network; any other is pulled.
   */
  baseImages?: { dir: string; ttlMs?: number };
  /** Logger. */
  log: Logger;
  /** Abort signal. */
  signal?: AbortSignal;
}

function scratchConfig(p: Platform): ImageConfig {
  return {
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    config: {},
    rootfs: { type: "layers", diff_ids: [] },
  };
}

/**
 * Parses `oci-layout://DIR[:TAG]` or `oci-layout://DIR@sha256:…`.
 *
 * @param value The build-context value after `oci-layout://`.
 * @param cwd Base for relative directories.
 * @returns Directory and tag or digest.
 */
export function parseOciLayoutRef(value: string, cwd: string): { dir: string; tag?: string; digest?: Digest } {
  const at = value.lastIndexOf("@sha256:");
  if (at >= 0) return { dir: resolve(cwd, value.slice(0, at)), digest: value.slice(at + 1) as Digest };
  const slash = value.lastIndexOf("/");
  const colon = value.lastIndexOf(":");
  if (colon > slash && colon > 0) return { dir: resolve(cwd, value.slice(0, colon)), tag: value.slice(colon + 1) };
  return { dir: resolve(cwd, value) };
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Resolves a FROM value that is not an earlier stage.
 *
 * @param spec The FROM image (expanded).
 * @param opts Platform, build contexts, registry options.
 * @returns The base.
 */
export async function resolveBaseImage(spec: string, opts: ResolveBaseOptions): Promise<ResolvedBase> {
  if (spec === "scratch") return { config: scratchConfig(opts.platform), layers: [] };
  let image: Image;
  let resolved: Digest | undefined;
  const named = opts.buildContexts[spec];
  try {
    if (named !== undefined && named.startsWith("oci-layout://")) {
      const { dir, tag, digest } = parseOciLayoutRef(named.slice("oci-layout://".length), opts.cwd);
      image = await layoutImage(dir, {
        ...(tag !== undefined ? { tag } : {}),
        ...(digest !== undefined ? { digest } : {}),
        platform: opts.platform,
      });
    } else if (named !== undefined && named.startsWith("docker-image://")) {
      ({ image, resolved } = await registryBase(named.slice("docker-image://".length), opts));
    } else if (named !== undefined) {
      throw new KilnError(
        `--build-context ${spec}=${named}: only oci-layout:// and docker-image:// contexts can be used in FROM`,
      );
    } else {
      ({ image, resolved } = await registryBase(spec, opts));
    }
    const config = structuredClone(await image.config());
    const layers = await image.layers();
    return { image, config, layers, resolved: resolved ?? await image.digest() };
  } catch (e) {
    const msg = describe(e);
    throw new KilnError(`${opts.where}: FROM ${spec}: ${msg}`, { cause: e });
  }
}

/** A registry image: from the base-image cache dir when it is warmed there, else pulled. */
async function registryBase(ref: string, opts: ResolveBaseOptions): Promise<{ image: Image; resolved: Digest }> {
  if (opts.baseImages) {
    const cached = await lookupBaseImage(ref, {
      cacheDir: opts.baseImages.dir,
      platform: opts.platform,
      ...(opts.baseImages.ttlMs === undefined ? {} : { ttlMs: opts.baseImages.ttlMs }),
      logger: opts.log,
    });
    if (cached) {
      const digest = await cached.digest();
      opts.log.info(`Using ${ref} from the base-image cache dir`, { digest });
      return { image: cached, resolved: digest };
    }
  }
  const x = await remote(ref, {
    ...opts.registry,
    platform: opts.platform,
    logger: opts.log,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const resolved = await x.digest();
  if (isImageValue(x)) return { image: x, resolved };
  return { image: await x.image(selectPlatform(await x.manifest(), opts.platform, ref).digest), resolved };
}

/**
 * Extracts layers, base first, into `rootDir` (whiteouts applied, every path confined to the rootfs).
 *
 * @param layers The layers.
 * @param rootDir The rootfs directory.
 * @param opts Location for messages, logger, signal.
 */
export async function extractImage(
  layers: readonly Layer[],
  rootDir: string,
  opts: {
    where: string;
    log: Logger;
    ignore?: readonly string[];
    signal?: AbortSignal;
    /** What the layers are, for the progress lines (e.g. `FROM debian:12`). */
    what?: string;
    /** Milliseconds between progress lines of one long layer (default 10 s). */
    tickMs?: number;
    /**
     * Called every 250 ms and when a layer is done: the layer being extracted (1-based), the compressed bytes of the
     * layers before it, the uncompressed bytes of this one so far, the compressed total.
     */
    onProgress?: (p: { layer: number; layers: number; bytes: number; unpacked: number; total: number }) => void;
  },
): Promise<{ bytes: number; durationMs: number }> {
  const what = opts.what ?? "the base image";
  let total = 0;
  for (const l of layers) total += await l.size().catch(() => 0);
  const started = performance.now();
  // A line when the work starts and when it ends (a long pull is not silence billed to the step that needed it),
  // and one every tickMs for a layer that takes longer.
  opts.log.info(`Pulling and extracting ${what}: ${layers.length} layer(s), ${formatBytes(total)}`, {
    "@phase": "pull",
  });
  let before = 0; // compressed bytes of the layers done
  let nextReport = 0;
  const tickMs = opts.tickMs ?? 10_000;
  for (const [i, layer] of layers.entries()) {
    opts.signal?.throwIfAborted();
    const digest = await layer.digest().catch(() => `layer ${i}`);
    const expected = await layer.diffId().catch(() => undefined);
    const t0 = performance.now();
    // The uncompressed bytes are hashed on the way: a config whose diff_id does not match its layer is refused, not
    // copied into the image (where `umoci unpack` and registries would reject it later).
    const reader = (await layer.uncompressed()).getReader();
    const hash = createHash("sha256");
    let ended = false;
    let got = 0;
    let tick = t0 + tickMs;
    const hashed = new ReadableStream<Uint8Array>({
      async pull(c) {
        const r = await reader.read();
        if (r.done) {
          ended = true;
          c.close();
          return;
        }
        hash.update(r.value);
        got += r.value.byteLength;
        const now = performance.now();
        if (opts.onProgress && now >= nextReport) {
          nextReport = now + 250;
          opts.onProgress({ layer: i + 1, layers: layers.length, bytes: before, unpacked: got, total });
        }
        if (now >= tick) {
          tick = now + tickMs;
          const s = (now - t0) / 1000;
          opts.log.info(
            `  layer ${i + 1}/${layers.length} ${digest.slice(7, 19)}: ${formatBytes(got)} unpacked in ${
              s.toFixed(0)
            }s (${formatBytes(got / s)}/s)`,
            { "@phase": "pull" },
          );
        }
        c.enqueue(r.value);
      },
      // extractLayer stops at the tar end marker: the rest (padding) is still read below, for the hash.
      cancel: () => {},
    });
    try {
      await extractLayer(hashed, rootDir, {
        whiteouts: true,
        ...(opts.ignore ? { ignore: opts.ignore } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      while (!ended) {
        const r = await reader.read();
        if (r.done) ended = true;
        else hash.update(r.value);
      }
    } catch (e) {
      await reader.cancel().catch(() => {});
      throw new KilnError(`${opts.where}: cannot extract base layer ${digest}: ${describe(e)}`, { cause: e });
    }
    const actual = `sha256:${hash.digest("hex")}`;
    if (expected !== undefined && actual !== expected) {
      throw new KilnError(
        `${opts.where}: base layer ${digest} does not match the image config: its diff_id is ${actual}, the config ` +
          `says ${expected} (a broken image; rebuild or re-push it)`,
        { location: opts.where },
      );
    }
    opts.log.debug("extracted base layer", { digest, ms: Math.round(performance.now() - t0) });
    before += await layer.size().catch(() => 0);
    opts.onProgress?.({ layer: i + 1, layers: layers.length, bytes: before, unpacked: got, total });
  }
  const durationMs = performance.now() - started;
  opts.log.info(`Extracted ${what} (${formatBytes(total)}) in ${(durationMs / 1000).toFixed(2)}s`, {
    "@phase": "pull",
  });
  return { bytes: total, durationMs };
}
