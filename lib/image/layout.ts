/**
 * OCI image layout directories (`oci-layout`, `index.json`, `blobs/sha256/…`): read images and indexes by tag
 * (`org.opencontainers.image.ref.name`) or digest, and write several images and tags into one layout.
 *
 * @module
 */
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  AbortedError,
  type Digest,
  exists,
  isKilnError,
  KilnError,
  mapLimit,
  OutputWriteError,
  readFileStream,
  sha256,
  tempPathFor,
} from "../util/mod.ts";
import type { Descriptor, Image, ImageIndex, Index, Platform } from "./types.ts";
import { imageFromManifest, indexFromManifest, isImageValue } from "./image.ts";
import { isImageMediaType, isIndexMediaType, MediaTypes } from "./media_types.ts";
import { ManifestError, parseManifest, toJsonBytes } from "./manifest.ts";
import { NotComputedError } from "./layer.ts";
import { selectPlatform } from "./platform.ts";
import { bytesStream, verifyStream } from "./_streams.ts";
import { writeBlobFile, writeFileAtomic } from "./_fs.ts";
import { withLock } from "./_lock.ts";

/** The annotation naming a tag in a layout's index.json. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

function blobPath(dir: string, digest: Digest): string {
  return join(dir, "blobs", "sha256", digest.slice(7));
}

async function readIndexJson(
  dir: string,
  options: { needLayoutFile?: boolean } = {},
): Promise<{ raw: Uint8Array; index: Index }> {
  let raw: Uint8Array;
  try {
    if (options.needLayoutFile ?? true) await stat(join(dir, "oci-layout"));
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
    return readFileStream(path).pipeThrough(verifyStream(d, `blob ${d.digest} in ${dir}`));
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

/** Where blobs go and what to call the layout in messages. */
interface BlobTarget {
  /** Directory the blobs are written into (the layout, or a fresh layout's temp dir). */
  dir: string;
  /** The layout as the caller named it. */
  shown: string;
  /** Cancels the writes. */
  signal: AbortSignal;
}

async function writeLayoutBlobs(t: BlobTarget, x: Image | ImageIndex, opts: WriteLayoutOptions): Promise<Descriptor> {
  const blobs = join(t.dir, "blobs");
  const put = (stream: ReadableStream<Uint8Array>, expected: { digest?: Digest; size?: number; source?: string }) =>
    writeBlobFile(blobs, stream, { ...expected, shownPath: t.shown, signal: t.signal });
  if (isImageValue(x)) {
    const layers = await x.layers();
    await mapLimit(layers, opts.concurrency ?? 4, async (l) => {
      t.signal.throwIfAborted();
      let digest: Digest | undefined;
      let size: number | undefined;
      try {
        digest = await l.digest();
        size = await l.size();
      } catch (err) {
        if (!(err instanceof NotComputedError)) throw err;
      }
      if (digest && await exists(blobPath(t.dir, digest))) return;
      await put(await l.compressed(), {
        ...(digest ? { digest } : {}),
        ...(size === undefined ? {} : { size }),
        source: `layer ${digest ?? ""} into ${t.shown}`,
      });
    }, { settle: true });
    const rc = await x.rawConfig();
    if (!(await exists(blobPath(t.dir, sha256(rc))))) await put(bytesStream(rc), {});
  } else {
    const idx = await x.manifest();
    for (const d of idx.manifests) {
      if (isImageMediaType(d.mediaType)) await writeLayoutBlobs(t, await x.image(d.digest), opts);
      else if (isIndexMediaType(d.mediaType)) await writeLayoutBlobs(t, await x.index(d.digest), opts);
      else throw new KilnError(`Cannot write ${d.digest} (${d.mediaType}) to OCI layout ${t.shown}: unsupported type`);
    }
  }
  const raw = await x.rawManifest();
  const digest = sha256(raw);
  if (!(await exists(blobPath(t.dir, digest)))) await put(bytesStream(raw), {});
  return { mediaType: await x.mediaType(), digest, size: raw.byteLength };
}

/** `index` with entries for `desc` under `opts.tags` (an existing entry with one of the tags loses it). */
async function withEntries(
  index: Index,
  desc: Descriptor,
  image: Image | ImageIndex,
  opts: WriteLayoutOptions,
): Promise<Index> {
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
  return out;
}

const OCI_LAYOUT_FILE = '{"imageLayoutVersion":"1.0.0"}';

/** The lock file serialising index.json updates of a layout (see ./_lock.ts). */
export const LAYOUT_LOCK_FILE = "index.json.lock";

/**
 * Adds the entries for `desc` to the index.json of the existing layout `dir` (its blobs are there), holding the
 * layout's lock so concurrent writers (other processes too) never lose each other's tags; writes `oci-layout`
 * last when it is missing, so the directory reads as a layout only once complete.
 */
async function addToIndex(
  dir: string,
  desc: Descriptor,
  image: Image | ImageIndex,
  opts: WriteLayoutOptions,
  shown: string,
): Promise<void> {
  const write = (name: string, data: Uint8Array | string) =>
    writeFileAtomic(join(dir, name), data, { what: "OCI layout", shownPath: shown });
  const update = async () => {
    let index: Index = { schemaVersion: 2, mediaType: MediaTypes.OCI_INDEX, manifests: [] };
    if (await exists(join(dir, "index.json"))) index = (await readIndexJson(dir, { needLayoutFile: false })).index;
    await write("index.json", toJsonBytes(await withEntries(index, desc, image, opts)));
    if (!(await exists(join(dir, "oci-layout")))) await write("oci-layout", OCI_LAYOUT_FILE);
  };
  await withLock(join(dir, LAYOUT_LOCK_FILE), update, opts.signal ? { signal: opts.signal } : {}).catch((e) => {
    if (isKilnError(e) || !(e as { code?: unknown }).code) throw e;
    throw new OutputWriteError("OCI layout", shown, e);
  });
}

/** Runs a file-system step of writing the layout `shown`, turning its errors into an OutputWriteError. */
async function fsStep<T>(shown: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new OutputWriteError("OCI layout", shown, e);
  }
}

/**
 * Writes an image or index into an OCI layout (created if missing), adding an index.json entry per tag
 * (or one untagged entry). Blobs already present are skipped; each blob is streamed into a temp file and
 * renamed only after its digest was verified.
 *
 * Safe against failures and concurrent writers:
 * - A new layout is written whole into a temp directory next to `dir` (`.NAME.kiln-tmp-UUID`), renamed into place
 *   when complete: an interrupted first write leaves no `dir` at all. When another writer created `dir` first, the
 *   blobs are moved into it and the entries added as below.
 * - In an existing layout, blobs are written first; then index.json is read, updated and replaced (temp file +
 *   rename) holding the lock file `index.json.lock` (O_EXCL, stale when its holder died; see ./_lock.ts), so no
 *   concurrent writer's tag is lost; `oci-layout` is written last when missing.
 * - On failure (or abort) the blobs in flight are stopped and their temp files removed before this rejects.
 *   Destination errors (ENOSPC, EACCES…) are an {@linkcode OutputWriteError}: `Cannot write OCI layout DIR: …`.
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
  const shown = dir;
  const ac = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal;
  const st = await stat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) {
    throw new OutputWriteError("OCI layout", shown, Object.assign(new Error("not a directory"), { code: "ENOTDIR" }));
  }
  try {
    if (st) {
      const desc = await writeLayoutBlobs({ dir, shown, signal }, image, opts);
      await addToIndex(dir, desc, image, opts, shown);
      return desc;
    }
    // A new layout: complete in a temp directory first.
    await fsStep(
      shown,
      mkdir(dirname(dir), { recursive: true }).catch((e) => {
        // mkdir -p reports a file among the parents as EEXIST.
        throw (e as { code?: string }).code === "EEXIST" ? new Error("a parent is not a directory") : e;
      }),
    );
    const tmp = tempPathFor(dir);
    await fsStep(shown, mkdir(tmp));
    try {
      const desc = await writeLayoutBlobs({ dir: tmp, shown, signal }, image, opts);
      const write = (name: string, data: Uint8Array | string) =>
        writeFileAtomic(join(tmp, name), data, { what: "OCI layout", shownPath: shown });
      const empty: Index = { schemaVersion: 2, mediaType: MediaTypes.OCI_INDEX, manifests: [] };
      await write("index.json", toJsonBytes(await withEntries(empty, desc, image, opts)));
      await write("oci-layout", OCI_LAYOUT_FILE);
      try {
        await rename(tmp, dir);
        return desc;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "ENOTEMPTY" && code !== "EEXIST") throw new OutputWriteError("OCI layout", shown, e);
      }
      // Another writer made the layout meanwhile: move the blobs in, then add the entries under its lock.
      const from = join(tmp, "blobs", "sha256");
      const to = join(dir, "blobs", "sha256");
      await fsStep(shown, mkdir(to, { recursive: true }));
      for (const name of await fsStep(shown, readdir(from))) {
        await fsStep(shown, rename(join(from, name), join(to, name)));
      }
      await addToIndex(dir, desc, image, opts, shown);
      return desc;
    } finally {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
    }
  } catch (e) {
    ac.abort();
    if (opts.signal?.aborted && !isKilnError(e)) throw new AbortedError(`Writing OCI layout ${shown} was aborted`);
    throw e;
  }
}
