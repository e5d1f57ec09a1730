/**
 * OCI image layout directories (`oci-layout`, `index.json`, `blobs/sha256/…`): read images and indexes by tag
 * (`org.opencontainers.image.ref.name`) or digest, and write several images and tags into one layout.
 *
 * @module
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { KilnError } from "../util/errors.ts";
import { type Digest, sha256 } from "../util/digest.ts";
import type { Descriptor, Image, ImageIndex, Index, Platform } from "./types.ts";
import { imageFromManifest, indexFromManifest, isImageValue } from "./image.ts";
import { isImageMediaType, isIndexMediaType, MediaTypes } from "./media_types.ts";
import { ManifestError, parseManifest, toJsonBytes } from "./manifest.ts";
import { NotComputedError } from "./layer.ts";
import { selectPlatform } from "./platform.ts";
import { bytesStream, verifyStream } from "./_streams.ts";
import { exists, fileStream, mapLimit, writeBlobFile, writeFileAtomic } from "./_fs.ts";

/** The annotation naming a tag in a layout's index.json. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

function blobPath(dir: string, digest: Digest): string {
  return join(dir, "blobs", "sha256", digest.slice(7));
}

async function readIndexJson(dir: string): Promise<{ raw: Uint8Array; index: Index }> {
  let raw: Uint8Array;
  try {
    await stat(join(dir, "oci-layout"));
    raw = await readFile(join(dir, "index.json"));
  } catch (err) {
    throw new KilnError(`Cannot read OCI layout ${dir}: no oci-layout or index.json`, { cause: err });
  }
  const p = parseManifest(raw, { mediaType: MediaTypes.OCI_INDEX, source: `${dir}/index.json` });
  if (p.kind !== "index") throw new ManifestError(`Cannot read OCI layout ${dir}: index.json is not an index`);
  return { raw, index: p.manifest };
}

function layoutAccess(dir: string) {
  const openBlob = async (d: Descriptor) => {
    const path = blobPath(dir, d.digest);
    if (!(await exists(path))) throw new KilnError(`Cannot read blob ${d.digest} from OCI layout ${dir}: missing`);
    return fileStream(path).pipeThrough(verifyStream(d, `blob ${d.digest} in ${dir}`));
  };
  const fetchManifest = async (d: Descriptor) => {
    const raw = await readFile(blobPath(dir, d.digest)).catch((err) => {
      throw new KilnError(`Cannot read manifest ${d.digest} from OCI layout ${dir}: missing`, { cause: err });
    });
    if (sha256(raw) !== d.digest) throw new KilnError(`Cannot read manifest ${d.digest} from ${dir}: digest mismatch`);
    return { raw: new Uint8Array(raw), mediaType: d.mediaType };
  };
  return { openBlob, fetchManifest };
}

/**
 * The layout's top-level index (`index.json`).
 *
 * @param dir Layout directory.
 * @returns The index.
 *
 * @example Usage
 * ```ts ignore
 * const idx = await layoutIndex("out/layout");
 * console.log((await idx.manifest()).manifests.length);
 * ```
 */
export async function layoutIndex(dir: string): Promise<ImageIndex> {
  const { raw } = await readIndexJson(dir);
  return indexFromManifest({ rawManifest: raw, mediaType: MediaTypes.OCI_INDEX, ...layoutAccess(dir), source: dir });
}

/** Options for {@linkcode layoutImage}. */
export interface LayoutImageOptions {
  /** Tag (`org.opencontainers.image.ref.name`). Without tag or digest, the layout must hold one entry. */
  tag?: string;
  /** Manifest digest. */
  digest?: Digest;
  /** Platform to choose when the entry is an index (default: fail unless `platform` given → host choice by caller). */
  platform?: Platform;
}

/**
 * Finds the descriptor in a layout's index.json for a tag or digest.
 *
 * @param dir Layout directory.
 * @param opts Tag or digest.
 * @returns The descriptor.
 *
 * @example Usage
 * ```ts ignore
 * const d = await layoutDescriptor("out/layout", { tag: "latest" });
 * ```
 */
export async function layoutDescriptor(dir: string, opts: { tag?: string; digest?: Digest } = {}): Promise<Descriptor> {
  const { index } = await readIndexJson(dir);
  let found: Descriptor | undefined;
  if (opts.digest) found = index.manifests.find((d) => d.digest === opts.digest);
  else if (opts.tag !== undefined) {
    found = index.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === opts.tag);
  } else if (index.manifests.length === 1) found = index.manifests[0];
  else {
    throw new KilnError(
      `Cannot choose an image in OCI layout ${dir}: it holds ${index.manifests.length} entries, give a tag (oci:DIR:TAG)`,
    );
  }
  if (!found) {
    throw new KilnError(`Cannot find ${opts.digest ?? `tag "${opts.tag}"`} in OCI layout ${dir}`);
  }
  return found;
}

/**
 * Reads an image or index from a layout by tag or digest.
 *
 * @param dir Layout directory.
 * @param opts Tag or digest.
 * @returns The image or index.
 *
 * @example Usage
 * ```ts ignore
 * const x = await layoutEntry("out/layout", { tag: "latest" });
 * ```
 */
export async function layoutEntry(
  dir: string,
  opts: { tag?: string; digest?: Digest } = {},
): Promise<Image | ImageIndex> {
  const d = await layoutDescriptor(dir, opts);
  const acc = layoutAccess(dir);
  const { raw } = await acc.fetchManifest(d);
  const source = `oci:${dir}${opts.tag ? `:${opts.tag}` : ""}`;
  const p = parseManifest(raw, { mediaType: d.mediaType, source });
  if (p.kind === "index") return indexFromManifest({ rawManifest: raw, mediaType: p.mediaType, ...acc, source });
  return imageFromManifest({ rawManifest: raw, mediaType: p.mediaType, openBlob: acc.openBlob, source });
}

/**
 * Reads an image from a layout; an index entry is resolved to `opts.platform`.
 *
 * @param dir Layout directory.
 * @param opts Tag, digest, platform.
 * @returns The image.
 *
 * @example Usage
 * ```ts ignore
 * const img = await layoutImage("out/layout", { tag: "latest" });
 * console.log(await img.digest());
 * ```
 */
export async function layoutImage(dir: string, opts: LayoutImageOptions = {}): Promise<Image> {
  const x = await layoutEntry(dir, opts);
  if (isImageValue(x)) return x;
  if (!opts.platform) throw new KilnError(`Cannot read an image from OCI layout ${dir}: the entry is an index`);
  const d = selectPlatform(await x.manifest(), opts.platform, `oci:${dir}`);
  return x.image(d.digest);
}

/** Options for {@linkcode writeLayout}. */
export interface WriteLayoutOptions {
  /** Tags to record (`org.opencontainers.image.ref.name`); an existing entry with the tag loses it. */
  tags?: string[];
  /** Extra annotations for the index.json entry. */
  annotations?: Record<string, string>;
  /** Concurrent blob writes (default 4). */
  concurrency?: number;
  /** Abort signal. */
  signal?: AbortSignal;
}

async function writeLayoutBlobs(dir: string, x: Image | ImageIndex, opts: WriteLayoutOptions): Promise<Descriptor> {
  const blobs = join(dir, "blobs");
  if (isImageValue(x)) {
    const layers = await x.layers();
    await mapLimit(layers, opts.concurrency ?? 4, async (l) => {
      opts.signal?.throwIfAborted();
      let digest: Digest | undefined;
      let size: number | undefined;
      try {
        digest = await l.digest();
        size = await l.size();
      } catch (err) {
        if (!(err instanceof NotComputedError)) throw err;
      }
      if (digest && await exists(blobPath(dir, digest))) return;
      await writeBlobFile(blobs, await l.compressed(), { digest, size, source: `layer ${digest ?? ""} into ${dir}` });
    });
    const rc = await x.rawConfig();
    if (!(await exists(blobPath(dir, sha256(rc))))) await writeBlobFile(blobs, bytesStream(rc));
  } else {
    const idx = await x.manifest();
    for (const d of idx.manifests) {
      if (isImageMediaType(d.mediaType)) await writeLayoutBlobs(dir, await x.image(d.digest), opts);
      else if (isIndexMediaType(d.mediaType)) await writeLayoutBlobs(dir, await x.index(d.digest), opts);
      else throw new KilnError(`Cannot write ${d.digest} (${d.mediaType}) to OCI layout ${dir}: unsupported type`);
    }
  }
  const raw = await x.rawManifest();
  const digest = sha256(raw);
  if (!(await exists(blobPath(dir, digest)))) await writeBlobFile(blobs, bytesStream(raw));
  return { mediaType: await x.mediaType(), digest, size: raw.byteLength };
}

/**
 * Writes an image or index into an OCI layout (created if missing), adding an index.json entry per tag
 * (or one untagged entry). Blobs already present are skipped; each blob is streamed into a temp file and
 * renamed only after its digest was verified.
 *
 * @param dir Layout directory.
 * @param image Image or index.
 * @param opts Tags, annotations, concurrency.
 * @returns The manifest descriptor.
 *
 * @example Usage
 * ```ts ignore
 * const desc = await writeLayout("out/layout", image, { tags: ["latest"] });
 * ```
 */
export async function writeLayout(
  dir: string,
  image: Image | ImageIndex,
  opts: WriteLayoutOptions = {},
): Promise<Descriptor> {
  if (!(await exists(join(dir, "oci-layout")))) {
    await writeFileAtomic(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  }
  const desc = await writeLayoutBlobs(dir, image, opts);
  let index: Index = { schemaVersion: 2, mediaType: MediaTypes.OCI_INDEX, manifests: [] };
  if (await exists(join(dir, "index.json"))) index = (await readIndexJson(dir)).index;
  const tags = opts.tags ?? [];
  let manifests = index.manifests.map((d) => {
    const name = d.annotations?.[REF_NAME_ANNOTATION];
    if (name === undefined || !tags.includes(name)) return d;
    const { [REF_NAME_ANNOTATION]: _, ...rest } = d.annotations!;
    const copy: Descriptor = { ...d };
    if (Object.keys(rest).length) copy.annotations = rest;
    else delete copy.annotations;
    return copy;
  });
  // Drop untagged entries that duplicate the new one.
  manifests = manifests.filter((d) => !(d.digest === desc.digest && !d.annotations?.[REF_NAME_ANNOTATION]));
  let platform: Platform | undefined;
  if (isImageValue(image)) {
    const c = await image.config();
    if (c.os && c.architecture) {
      platform = { os: c.os, architecture: c.architecture };
      if (c.variant) platform.variant = c.variant;
    }
  }
  for (const tag of tags.length ? tags : [undefined]) {
    const d: Descriptor = { ...desc };
    const ann = { ...opts.annotations, ...(tag !== undefined ? { [REF_NAME_ANNOTATION]: tag } : {}) };
    if (Object.keys(ann).length) d.annotations = ann;
    if (platform) d.platform = platform;
    manifests.push(d);
  }
  const out: Index = { schemaVersion: 2, mediaType: MediaTypes.OCI_INDEX, manifests };
  if (index.annotations) out.annotations = index.annotations;
  await writeFileAtomic(join(dir, "index.json"), toJsonBytes(out));
  return desc;
}
