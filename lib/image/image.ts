/**
 * Image and index implementations shared by every source: images backed by a manifest plus a blob opener
 * (registries, layouts), and images assembled from a config and layers (mutations, builds, scratch).
 *
 * @module
 */
import { type Digest, sha256 } from "../util/mod.ts";
import type { Descriptor, Image, ImageConfig, ImageIndex, Index, Layer, Manifest } from "./types.ts";
import { ManifestError, parseConfig, parseManifest, toJsonBytes } from "./manifest.ts";
import { compressedLayer } from "./layer.ts";
import { isDockerMediaType, MediaTypes } from "./media_types.ts";
import { once, readAll } from "./_streams.ts";

/** Opens a blob by descriptor, verifying digest and size while streaming. */
export type BlobOpener = (desc: Descriptor) => Promise<ReadableStream<Uint8Array>>;

/** Fetches a child manifest's exact bytes and media type by descriptor. */
export type ManifestFetcher = (desc: Descriptor) => Promise<{ raw: Uint8Array; mediaType?: string }>;

/** Inputs of {@linkcode imageFromManifest}. */
export interface ManifestImageCore {
  /** The exact manifest bytes. */
  rawManifest: Uint8Array;
  /** Media type from the descriptor / Content-Type, if known. */
  mediaType?: string;
  /** Opens blobs (config and layers). */
  openBlob: BlobOpener;
  /** Where it came from, for messages. */
  source?: string;
}

/**
 * An image backed by manifest bytes and a blob opener; config and layers are fetched lazily and memoized.
 *
 * @param core Manifest bytes and blob access.
 * @returns The image.
 *
 * @example Usage
 * ```ts ignore
 * const img = imageFromManifest({ rawManifest, openBlob: (d) => fetchBlob(d) });
 * console.log(await img.digest());
 * ```
 */
export function imageFromManifest(core: ManifestImageCore): Image {
  const parsed = parseManifest(core.rawManifest, {
    ...(core.mediaType ? { mediaType: core.mediaType } : {}),
    ...(core.source ? { source: core.source } : {}),
  });
  if (parsed.kind !== "image") {
    throw new ManifestError(
      `Cannot use ${core.source ?? "manifest"} as an image: it is an index (${parsed.mediaType})`,
    );
  }
  const m = parsed.manifest;
  const rawConfig = once(async () => readAll(await core.openBlob(m.config)));
  const config = once(async () => parseConfig(await rawConfig(), core.source));
  const layers = once(async () => {
    const diffIds = (await config()).rootfs.diff_ids;
    const useDiff = diffIds.length === m.layers.length;
    return m.layers.map((d, i) => {
      const extra: Partial<Descriptor> = {};
      if (d.annotations) extra.annotations = d.annotations;
      if (d.urls) extra.urls = d.urls;
      return compressedLayer({
        mediaType: d.mediaType,
        digest: d.digest,
        size: d.size,
        ...(useDiff ? { diffId: diffIds[i]! } : {}),
        open: () => core.openBlob(d),
        ...(Object.keys(extra).length ? { descriptor: extra } : {}),
      });
    });
  });
  return {
    mediaType: () => Promise.resolve(parsed.mediaType),
    rawManifest: () => Promise.resolve(parsed.raw),
    manifest: () => Promise.resolve(m),
    digest: () => Promise.resolve(parsed.digest),
    rawConfig,
    config,
    layers,
  };
}

/** Inputs of {@linkcode indexFromManifest}. */
export interface ManifestIndexCore {
  /** The exact index bytes. */
  rawManifest: Uint8Array;
  /** Media type hint. */
  mediaType?: string;
  /** Fetches child manifests. */
  fetchManifest: ManifestFetcher;
  /** Opens blobs of child images. */
  openBlob: BlobOpener;
  /** Where it came from, for messages. */
  source?: string;
}

/**
 * An image index backed by its bytes; children are fetched on demand.
 *
 * @param core Index bytes, manifest and blob access.
 * @returns The index.
 *
 * @example Usage
 * ```ts ignore
 * const idx = indexFromManifest({ rawManifest, fetchManifest, openBlob });
 * const child = await idx.image((await idx.manifest()).manifests[0]!.digest);
 * ```
 */
export function indexFromManifest(core: ManifestIndexCore): ImageIndex {
  const parsed = parseManifest(core.rawManifest, {
    ...(core.mediaType ? { mediaType: core.mediaType } : {}),
    ...(core.source ? { source: core.source } : {}),
  });
  if (parsed.kind !== "index") {
    throw new ManifestError(
      `Cannot use ${core.source ?? "manifest"} as an index: it is an image (${parsed.mediaType})`,
    );
  }
  const idx = parsed.manifest;
  function find(digest: Digest): Descriptor {
    const d = idx.manifests.find((x) => x.digest === digest);
    if (!d) throw new ManifestError(`Cannot find ${digest} in index ${core.source ?? parsed.digest}`);
    return d;
  }
  function childSource(d: Descriptor): string {
    return core.source ? `${core.source.replace(/@sha256:[a-f0-9]+$/, "")}@${d.digest}` : d.digest;
  }
  return {
    mediaType: () => Promise.resolve(parsed.mediaType),
    rawManifest: () => Promise.resolve(parsed.raw),
    manifest: () => Promise.resolve(idx),
    digest: () => Promise.resolve(parsed.digest),
    async image(digest) {
      const d = find(digest);
      const { raw, mediaType } = await core.fetchManifest(d);
      return imageFromManifest({
        rawManifest: raw,
        mediaType: mediaType ?? d.mediaType,
        openBlob: core.openBlob,
        source: childSource(d),
      });
    },
    async index(digest) {
      const d = find(digest);
      const { raw, mediaType } = await core.fetchManifest(d);
      return indexFromManifest({
        ...core,
        rawManifest: raw,
        mediaType: mediaType ?? d.mediaType,
        source: childSource(d),
      });
    },
  };
}

/** Inputs of {@linkcode imageFromParts}. */
export interface ImageParts {
  /** The config; `rootfs.diff_ids` is recomputed from the layers. */
  config: ImageConfig;
  /** Layers, base first. */
  layers: Layer[];
  /** Manifest media type (default OCI). */
  mediaType?: string;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
  /** Existing layer descriptors to keep verbatim for the first layers (from a base manifest). */
  baseDescriptors?: Descriptor[];
  /** Keep the config's diff_ids as given instead of recomputing them. */
  keepDiffIds?: boolean;
  /** The exact config bytes to use (must describe `config`); keeps a source's config digest unchanged. */
  rawConfig?: Uint8Array;
}

function layerTypeFor(manifestType: string, layerType: string): string {
  const docker = isDockerMediaType(manifestType);
  if (docker && layerType === MediaTypes.OCI_LAYER_GZIP) return MediaTypes.DOCKER_LAYER;
  if (docker && layerType === MediaTypes.OCI_LAYER) return MediaTypes.DOCKER_LAYER_UNCOMPRESSED;
  if (!docker && layerType === MediaTypes.DOCKER_LAYER) return MediaTypes.OCI_LAYER_GZIP;
  if (!docker && layerType === MediaTypes.DOCKER_LAYER_UNCOMPRESSED) return MediaTypes.OCI_LAYER;
  if (!docker && layerType === MediaTypes.DOCKER_FOREIGN_LAYER) return MediaTypes.OCI_FOREIGN_LAYER_GZIP;
  return layerType;
}

/**
 * A layer's descriptor as it goes into a manifest of type `manifestType`.
 *
 * @param layer The layer.
 * @param manifestType Manifest media type (layer types follow its family).
 * @returns The descriptor.
 *
 * @example Usage
 * ```ts ignore
 * const d = await layerDescriptor(layer, MediaTypes.OCI_MANIFEST);
 * ```
 */
export async function layerDescriptor(layer: Layer, manifestType: string): Promise<Descriptor> {
  const extra = layer.descriptor ? await layer.descriptor() : {};
  const d: Descriptor = {
    mediaType: layerTypeFor(manifestType, await layer.mediaType()),
    digest: await layer.digest(),
    size: await layer.size(),
  };
  if (extra.urls) d.urls = extra.urls;
  if (extra.annotations) d.annotations = extra.annotations;
  return d;
}

/**
 * An image assembled from a config and layers. The manifest and config bytes are computed once, on first
 * access (layers must then know their digests: consume stream layers first).
 *
 * @param parts Config, layers, media type, annotations.
 * @returns The image.
 *
 * @example Usage
 * ```ts
 * import { imageFromParts } from "./image.ts";
 * const img = imageFromParts({ config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }, layers: [] });
 * console.assert((await img.manifest()).layers.length === 0);
 * ```
 */
export function imageFromParts(parts: ImageParts): Image {
  const mediaType = parts.mediaType ?? MediaTypes.OCI_MANIFEST;
  const configType = isDockerMediaType(mediaType) ? MediaTypes.DOCKER_CONFIG : MediaTypes.OCI_CONFIG;
  const config = once(async () => {
    if (parts.keepDiffIds) return parts.config;
    const diffIds: Digest[] = [];
    for (const l of parts.layers) diffIds.push(await l.diffId());
    return { ...parts.config, rootfs: { ...parts.config.rootfs, type: "layers" as const, diff_ids: diffIds } };
  });
  const rawConfig = once(async () => parts.rawConfig ?? toJsonBytes(await config()));
  const manifest = once(async (): Promise<Manifest> => {
    const rc = await rawConfig();
    const layers: Descriptor[] = [];
    for (const [i, l] of parts.layers.entries()) {
      const base = parts.baseDescriptors?.[i];
      layers.push(
        base ? { ...base, mediaType: layerTypeFor(mediaType, base.mediaType) } : await layerDescriptor(l, mediaType),
      );
    }
    const m: Manifest = {
      schemaVersion: 2,
      mediaType,
      config: { mediaType: configType, digest: sha256(rc), size: rc.byteLength },
      layers,
    };
    if (parts.annotations && Object.keys(parts.annotations).length) m.annotations = parts.annotations;
    return m;
  });
  const rawManifest = once(async () => toJsonBytes(await manifest()));
  return {
    mediaType: () => Promise.resolve(mediaType),
    rawManifest,
    manifest,
    digest: async () => sha256(await rawManifest()),
    rawConfig,
    config,
    layers: () => Promise.resolve(parts.layers),
  };
}

/** One child of an index built by {@linkcode indexFromImages}. */
export interface IndexEntry {
  /** The child image (or index). */
  image: Image | ImageIndex;
  /** Platform; for images, default taken from the config. */
  platform?: Descriptor["platform"];
  /** Descriptor annotations. */
  annotations?: Record<string, string>;
}

function isImage(x: Image | ImageIndex): x is Image {
  return "layers" in x;
}

/**
 * An image index assembled from images (multi-platform) or other indexes.
 *
 * @param entries Children.
 * @param opts Media type (default OCI index) and annotations.
 * @returns The index.
 *
 * @example Usage
 * ```ts ignore
 * const idx = indexFromImages([{ image: amd64 }, { image: arm64 }]);
 * ```
 */
export function indexFromImages(
  entries: IndexEntry[],
  opts: { mediaType?: string; annotations?: Record<string, string> } = {},
): ImageIndex {
  const mediaType = opts.mediaType ?? MediaTypes.OCI_INDEX;
  const manifest = once(async (): Promise<Index> => {
    const manifests: Descriptor[] = [];
    for (const e of entries) {
      const raw = await e.image.rawManifest();
      const d: Descriptor = { mediaType: await e.image.mediaType(), digest: sha256(raw), size: raw.byteLength };
      let platform = e.platform;
      if (!platform && isImage(e.image)) {
        const c = await e.image.config();
        platform = { architecture: c.architecture, os: c.os };
        if (c.variant) platform.variant = c.variant;
      }
      if (platform) d.platform = platform;
      if (e.annotations) d.annotations = e.annotations;
      manifests.push(d);
    }
    const idx: Index = { schemaVersion: 2, mediaType, manifests };
    if (opts.annotations) idx.annotations = opts.annotations;
    return idx;
  });
  const rawManifest = once(async () => toJsonBytes(await manifest()));
  async function child(digest: Digest): Promise<Image | ImageIndex> {
    for (const e of entries) if (sha256(await e.image.rawManifest()) === digest) return e.image;
    throw new ManifestError(`Cannot find ${digest} in the index`);
  }
  return {
    mediaType: () => Promise.resolve(mediaType),
    rawManifest,
    manifest,
    digest: async () => sha256(await rawManifest()),
    async image(digest) {
      const c = await child(digest);
      if (!isImage(c)) throw new ManifestError(`Cannot use ${digest} as an image: it is an index`);
      return c;
    },
    async index(digest) {
      const c = await child(digest);
      if (isImage(c)) throw new ManifestError(`Cannot use ${digest} as an index: it is an image`);
      return c;
    },
  };
}

/**
 * True if `x` is an {@linkcode Image} (has layers) rather than an {@linkcode ImageIndex}.
 *
 * @param x Image or index.
 * @returns Whether it is an image.
 *
 * @example Usage
 * ```ts ignore
 * if (isImageValue(x)) console.log(await x.layers());
 * ```
 */
export function isImageValue(x: Image | ImageIndex): x is Image {
  return isImage(x);
}
