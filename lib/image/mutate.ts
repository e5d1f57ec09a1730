/**
 * Image mutations. Each returns a new lazy image; nothing is computed until asked, then memoized.
 *
 * @module
 */
import type { History, Image, ImageConfig, Layer } from "./types.ts";
import { imageFromParts } from "./image.ts";

/** A layer to append, with its history entry. */
export interface Addendum {
  /** The layer. */
  layer: Layer;
  /** Its history entry (default: `{created_by: "kiln"}`; `created` defaults to the config's or the epoch). */
  history?: History;
}

async function base(image: Image) {
  const [manifest, config, layers, mediaType] = await Promise.all([
    image.manifest(),
    image.config(),
    image.layers(),
    image.mediaType(),
  ]);
  return { manifest, config, layers, mediaType };
}

function lazyImage(make: () => Promise<Image>, layers: () => Promise<Layer[]>): Image {
  let p: Promise<Image> | undefined;
  const get = () => {
    if (!p) {
      p = make();
      p.catch(() => p = undefined);
    }
    return p;
  };
  return {
    mediaType: async () => (await get()).mediaType(),
    rawManifest: async () => (await get()).rawManifest(),
    manifest: async () => (await get()).manifest(),
    digest: async () => (await get()).digest(),
    rawConfig: async () => (await get()).rawConfig(),
    config: async () => (await get()).config(),
    // Layers are known without computing the manifest, so stream layers can be consumed first.
    layers,
  };
}

function rebuild(
  b: Awaited<ReturnType<typeof base>>,
  change: { config?: ImageConfig; layers?: Layer[]; annotations?: Record<string, string>; mediaType?: string },
): Image {
  const layers = change.layers ?? b.layers;
  const annotations = change.annotations ?? b.manifest.annotations;
  return imageFromParts({
    config: change.config ?? b.config,
    layers,
    mediaType: change.mediaType ?? b.mediaType,
    ...(annotations ? { annotations } : {}),
    baseDescriptors: b.manifest.layers.slice(0, Math.min(b.layers.length, layers.length)),
    keepDiffIds: !change.layers && b.config.rootfs.diff_ids.length === layers.length,
  });
}

/**
 * Appends layers (with history entries) to an image.
 *
 * @param image The base image.
 * @param additions Layers or layers with history.
 * @returns A new image.
 *
 * @example Usage
 * ```ts
 * import { appendLayers } from "./mutate.ts";
 * import { emptyImage } from "./empty.ts";
 * import { uncompressedLayer } from "./layer.ts";
 * const l = uncompressedLayer({ open: () => Promise.resolve(new Blob([new Uint8Array(1024)]).stream()) });
 * const img = appendLayers(emptyImage(), [{ layer: l, history: { created_by: "COPY . /" } }]);
 * console.assert((await img.manifest()).layers.length === 1);
 * ```
 */
export function appendLayers(image: Image, additions: (Layer | Addendum)[]): Image {
  return lazyImage(async () => {
    const b = await base(image);
    const adds = additions.map((a) => "layer" in a ? a : { layer: a });
    // Every entry gets a `created` time (umoci and others expect one): the config's, else the epoch.
    const created = b.config.created ?? "1970-01-01T00:00:00Z";
    const history = [
      ...(b.config.history ?? []),
      ...adds.map((a) => ({ created, ...(a.history ?? { created_by: "kiln" }) })),
    ];
    const config: ImageConfig = { ...b.config, history };
    return rebuild(b, { config, layers: [...b.layers, ...adds.map((a) => a.layer)] });
  }, async () => [...await image.layers(), ...additions.map((a) => "layer" in a ? a.layer : a)]);
}

/**
 * Replaces the config (diff_ids are kept consistent with the layers).
 *
 * @param image The image.
 * @param config The new config, or a function of the old one.
 * @returns A new image.
 *
 * @example Usage
 * ```ts
 * import { withConfig } from "./mutate.ts";
 * import { emptyImage } from "./empty.ts";
 * const img = withConfig(emptyImage(), (c) => ({ ...c, config: { Env: ["A=1"] } }));
 * console.assert((await img.config()).config?.Env?.[0] === "A=1");
 * ```
 */
export function withConfig(image: Image, config: ImageConfig | ((old: ImageConfig) => ImageConfig)): Image {
  return lazyImage(async () => {
    const b = await base(image);
    const c = typeof config === "function" ? config(structuredClone(b.config)) : config;
    return rebuild(b, { config: { ...c, rootfs: b.config.rootfs } });
  }, () => image.layers());
}

/**
 * Sets the config's `created` time (and every history entry's), e.g. for reproducible images.
 *
 * @param image The image.
 * @param created The time.
 * @returns A new image.
 *
 * @example Usage
 * ```ts
 * import { withCreated } from "./mutate.ts";
 * import { emptyImage } from "./empty.ts";
 * const img = withCreated(emptyImage(), new Date(0));
 * console.assert((await img.config()).created === "1970-01-01T00:00:00Z");
 * ```
 */
export function withCreated(image: Image, created: Date): Image {
  const t = created.toISOString().replace(/\.000Z$/, "Z");
  return withConfig(image, (c) => ({
    ...c,
    created: t,
    ...(c.history ? { history: c.history.map((h) => ({ ...h, created: t })) } : {}),
  }));
}

/**
 * Merges manifest annotations.
 *
 * @param image The image.
 * @param annotations Annotations to set.
 * @returns A new image.
 *
 * @example Usage
 * ```ts
 * import { withAnnotations } from "./mutate.ts";
 * import { emptyImage } from "./empty.ts";
 * const img = withAnnotations(emptyImage(), { "org.opencontainers.image.title": "x" });
 * console.assert((await img.manifest()).annotations?.["org.opencontainers.image.title"] === "x");
 * ```
 */
export function withAnnotations(image: Image, annotations: Record<string, string>): Image {
  return lazyImage(async () => {
    const b = await base(image);
    return rebuild(b, { annotations: { ...b.manifest.annotations, ...annotations } });
  }, () => image.layers());
}

/**
 * Converts an image to OCI or Docker v2.2 media types (manifest, config and layer descriptors).
 *
 * @param image The image.
 * @param format `oci` or `docker`.
 * @returns A new image.
 *
 * @example Usage
 * ```ts
 * import { withFormat } from "./mutate.ts";
 * import { emptyImage } from "./empty.ts";
 * const img = withFormat(emptyImage(), "docker");
 * console.assert((await img.mediaType()).includes("docker"));
 * ```
 */
export function withFormat(image: Image, format: "oci" | "docker"): Image {
  return lazyImage(async () => {
    const b = await base(image);
    const mediaType = format === "oci"
      ? "application/vnd.oci.image.manifest.v1+json"
      : "application/vnd.docker.distribution.manifest.v2+json";
    if (b.mediaType === mediaType) return image;
    return rebuild(b, { mediaType });
  }, () => image.layers());
}
