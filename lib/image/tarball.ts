/**
 * docker-archive tarballs (`docker save` format): `manifest.json` with `RepoTags`, the config JSON and layer
 * files. kiln writes Docker 25's layout (blobs under `blobs/sha256/`, plus `oci-layout` and `index.json`), with
 * layers kept compressed; `docker load`, `podman load` and `skopeo copy docker-archive:` read it. Reading
 * accepts both that layout and the classic one (`<id>/layer.tar`), compressed or not.
 *
 * @module
 */
import { open, stat } from "node:fs/promises";
import { type Digest, KilnError, readFileStream, sha256, writeStreamAtomic } from "../util/mod.ts";
import { type TarEntry, TarWriterStream } from "../tar/mod.ts";
import type { Descriptor, Image, Index, Layer } from "./types.ts";
import { imageFromParts } from "./image.ts";
import { parseConfig, toJsonBytes } from "./manifest.ts";
import { compressedLayer, uncompressedLayer } from "./layer.ts";
import { MediaTypes } from "./media_types.ts";
import { REF_NAME_ANNOTATION } from "./layout.ts";
import { bytesStream, drainDigest, once } from "./_streams.ts";

/** One image of an archive and its tags (`repo:tag`, e.g. `busybox:latest`, `localhost:5000/app:1`). */
export interface ArchiveImage {
  /** The image. */
  image: Image;
  /** Tags written to `RepoTags` (may be empty). */
  tags: string[];
}

/** Options for {@linkcode dockerArchiveStream}. */
export interface DockerArchiveWriteOptions {
  /** Modification time of archive entries, seconds (default 0). */
  mtime?: number;
  /** Abort signal. */
  signal?: AbortSignal;
}

function fileEntry(path: string, size: number, body: ReadableStream<Uint8Array>, mtime: number): TarEntry {
  return { header: { path, type: "file", mode: 0o644, uid: 0, gid: 0, mtime, size }, body };
}

function dirEntry(path: string, mtime: number): TarEntry {
  return { header: { path, type: "dir", mode: 0o755, uid: 0, gid: 0, mtime, size: 0 } };
}

/**
 * Streams a docker-archive tarball holding `images` (blobs shared between images are written once).
 *
 * @param images Images and their tags.
 * @param opts mtime and signal.
 * @returns The tar bytes.
 *
 * @example Usage
 * ```ts ignore
 * await dockerArchiveStream([{ image, tags: ["app:latest"] }]).pipeTo(fileWritable);
 * ```
 */
export function dockerArchiveStream(
  images: ArchiveImage[],
  opts: DockerArchiveWriteOptions = {},
): ReadableStream<Uint8Array> {
  const mtime = opts.mtime ?? 0;
  async function* entries(): AsyncGenerator<TarEntry> {
    const written = new Set<string>();
    const manifestJson: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
    const index: Index = { schemaVersion: 2, mediaType: MediaTypes.OCI_INDEX, manifests: [] };
    yield dirEntry("blobs", mtime);
    yield dirEntry("blobs/sha256", mtime);
    const blob = (d: Digest) => `blobs/sha256/${d.slice(7)}`;
    for (const { image, tags } of images) {
      opts.signal?.throwIfAborted();
      const layers = await image.layers();
      const layerPaths: string[] = [];
      for (const l of layers) {
        const digest = await l.digest();
        const size = await l.size();
        const path = blob(digest);
        layerPaths.push(path);
        if (written.has(path)) continue;
        written.add(path);
        yield fileEntry(path, size, await l.compressed(), mtime);
      }
      const rc = await image.rawConfig();
      const cp = blob(sha256(rc));
      if (!written.has(cp)) {
        written.add(cp);
        yield fileEntry(cp, rc.byteLength, bytesStream(rc), mtime);
      }
      const rm = await image.rawManifest();
      const mp = blob(sha256(rm));
      if (!written.has(mp)) {
        written.add(mp);
        yield fileEntry(mp, rm.byteLength, bytesStream(rm), mtime);
      }
      const desc: Descriptor = { mediaType: await image.mediaType(), digest: sha256(rm), size: rm.byteLength };
      if (tags.length) {
        for (const t of tags) {
          index.manifests.push({
            ...desc,
            annotations: { "io.containerd.image.name": t, [REF_NAME_ANNOTATION]: t.slice(t.lastIndexOf(":") + 1) },
          });
        }
      } else index.manifests.push(desc);
      manifestJson.push({ Config: cp, RepoTags: tags, Layers: layerPaths });
    }
    const small = (path: string, data: Uint8Array) => fileEntry(path, data.byteLength, bytesStream(data), mtime);
    yield small("index.json", toJsonBytes(index));
    yield small("manifest.json", toJsonBytes(manifestJson));
    yield small("oci-layout", toJsonBytes({ imageLayoutVersion: "1.0.0" }));
  }
  return ReadableStream.from(entries()).pipeThrough(new TarWriterStream());
}

/**
 * Writes a docker-archive tarball to a file, atomically: the archive is streamed into a unique temp file next to
 * `path` and renamed over it only when complete, so a failed or interrupted write (disk full, abort) leaves a
 * previous file at `path` intact and no temp file behind. Destination errors are an
 * `OutputWriteError` (lib/util/atomic_file.ts): `Cannot write docker archive PATH: no space left on device`.
 *
 * @param path Output file.
 * @param images Images and tags.
 * @param opts mtime and signal.
 *
 * @example Usage
 * ```ts ignore
 * await writeDockerArchive("image.tar", [{ image, tags: ["app:latest"] }]);
 * ```
 */
export async function writeDockerArchive(
  path: string,
  images: ArchiveImage[],
  opts: DockerArchiveWriteOptions = {},
): Promise<void> {
  await writeStreamAtomic(path, dockerArchiveStream(images, opts), {
    what: "docker archive",
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

interface TarIndexEntry {
  offset: number;
  size: number;
}

function parseOctal(b: Uint8Array): number {
  if (b[0]! & 0x80) {
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!;
    return n;
  }
  const s = new TextDecoder().decode(b).replace(/\0.*$/s, "").trim();
  return s ? parseInt(s, 8) : 0;
}

function cstr(b: Uint8Array): string {
  const z = b.indexOf(0);
  return new TextDecoder().decode(z < 0 ? b : b.subarray(0, z));
}

/** Indexes the regular files of a tar file: path → offset and size (PAX path and GNU long names understood). */
async function indexTar(path: string): Promise<Map<string, TarIndexEntry>> {
  const fh = await open(path, "r");
  const out = new Map<string, TarIndexEntry>();
  try {
    const total = (await fh.stat()).size;
    let off = 0;
    let longName: string | undefined;
    const hdr = new Uint8Array(512);
    while (off + 512 <= total) {
      await fh.read(hdr, 0, 512, off);
      if (hdr.every((x) => x === 0)) break;
      const size = parseOctal(hdr.subarray(124, 136));
      const type = String.fromCharCode(hdr[156]!);
      const magic = cstr(hdr.subarray(257, 263));
      let name = cstr(hdr.subarray(0, 100));
      const prefix = magic.startsWith("ustar") ? cstr(hdr.subarray(345, 500)) : "";
      if (prefix) name = `${prefix}/${name}`;
      const dataOff = off + 512;
      const next = dataOff + Math.ceil(size / 512) * 512;
      if (type === "x" || type === "L") {
        const data = new Uint8Array(size);
        await fh.read(data, 0, size, dataOff);
        if (type === "L") longName = cstr(data);
        else {
          const text = new TextDecoder().decode(data);
          for (const rec of text.split("\n")) {
            const m = /^\d+ path=(.*)$/s.exec(rec);
            if (m) longName = m[1];
          }
        }
      } else {
        if (type === "0" || type === "\0" || type === "7") {
          const p = (longName ?? name).replace(/^\.\//, "").replace(/^\/+/, "");
          out.set(p, { offset: dataOff, size });
        }
        longName = undefined;
      }
      off = next;
    }
  } finally {
    await fh.close();
  }
  return out;
}

async function readRange(path: string, e: TarIndexEntry): Promise<Uint8Array> {
  const fh = await open(path, "r");
  try {
    const b = new Uint8Array(e.size);
    await fh.read(b, 0, e.size, e.offset);
    return b;
  } finally {
    await fh.close();
  }
}

/** Options for {@linkcode dockerArchiveImage}. */
export interface DockerArchiveReadOptions {
  /** The tag to read (`repo:tag`, normalised like Docker); without it the archive must hold one image. */
  tag?: string;
  /** Index of the image in manifest.json (alternative to `tag`). */
  index?: number;
}

function familiar(tag: string): string {
  let t = tag.replace(/^(docker\.io|index\.docker\.io)\//, "");
  t = t.replace(/^library\//, "");
  if (!/:[^/]+$/.test(t)) t += ":latest";
  return t;
}

/**
 * Reads an image from a docker-archive tarball file (random access: layers are streamed from their offsets).
 *
 * @param path The tar file.
 * @param opts Tag or index.
 * @returns The image (manifest in OCI or Docker form depending on the layers; config bytes kept exactly).
 *
 * @example Usage
 * ```ts ignore
 * const img = await dockerArchiveImage("image.tar", { tag: "app:latest" });
 * ```
 */
export async function dockerArchiveImage(path: string, opts: DockerArchiveReadOptions = {}): Promise<Image> {
  try {
    await stat(path);
  } catch (err) {
    throw new KilnError(`Cannot read docker archive ${path}: no such file`, { cause: err });
  }
  const entries = await indexTar(path);
  const mj = entries.get("manifest.json");
  if (!mj) throw new KilnError(`Cannot read docker archive ${path}: no manifest.json`);
  let manifest: { Config: string; RepoTags?: string[] | null; Layers: string[] }[];
  try {
    manifest = JSON.parse(new TextDecoder().decode(await readRange(path, mj)));
  } catch (err) {
    throw new KilnError(`Cannot read docker archive ${path}: manifest.json is not valid JSON`, { cause: err });
  }
  let item: (typeof manifest)[number] | undefined;
  if (opts.tag !== undefined) {
    const want = familiar(opts.tag);
    item = manifest.find((m) => (m.RepoTags ?? []).some((t) => familiar(t) === want));
    if (!item) throw new KilnError(`Cannot find tag ${opts.tag} in docker archive ${path}`);
  } else if (opts.index !== undefined) {
    item = manifest[opts.index];
    if (!item) throw new KilnError(`Cannot find image #${opts.index} in docker archive ${path}`);
  } else {
    if (manifest.length !== 1) {
      throw new KilnError(
        `Cannot choose an image in docker archive ${path}: it holds ${manifest.length}, give one (docker-archive:FILE:REF)`,
      );
    }
    item = manifest[0]!;
  }
  const ce = entries.get(item.Config);
  if (!ce) throw new KilnError(`Cannot read docker archive ${path}: config ${item.Config} is missing`);
  const rawConfig = await readRange(path, ce);
  const config = parseConfig(rawConfig, `${path}:${item.Config}`);
  if (config.rootfs.diff_ids.length !== item.Layers.length) {
    throw new KilnError(
      `Cannot read docker archive ${path}: ${item.Layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`,
    );
  }
  const layers: Layer[] = [];
  for (const [i, lp] of item.Layers.entries()) {
    const e = entries.get(lp);
    if (!e) throw new KilnError(`Cannot read docker archive ${path}: layer ${lp} is missing`);
    const head = await readRange(path, { offset: e.offset, size: Math.min(4, e.size) });
    const open = () => Promise.resolve(readFileStream(path, { start: e.offset, end: e.offset + e.size }));
    const diffId = config.rootfs.diff_ids[i]!;
    if (head[0] === 0x1f && head[1] === 0x8b) {
      const digest = once(async () => (await drainDigest(await open())).digest);
      const base = compressedLayer({
        mediaType: MediaTypes.DOCKER_LAYER,
        digest: `sha256:${"0".repeat(64)}`,
        size: e.size,
        diffId,
        open,
      });
      layers.push({ ...base, digest });
    } else if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
      const digest = once(async () => (await drainDigest(await open())).digest);
      const base = compressedLayer({
        mediaType: MediaTypes.OCI_LAYER_ZSTD,
        digest: `sha256:${"0".repeat(64)}`,
        size: e.size,
        diffId,
        open,
      });
      layers.push({ ...base, digest });
    } else {
      layers.push(uncompressedLayer({ open, diffId, mediaType: MediaTypes.DOCKER_LAYER }));
    }
  }
  return imageFromParts({
    config,
    rawConfig,
    layers,
    mediaType: MediaTypes.DOCKER_MANIFEST,
    keepDiffIds: true,
  });
}

/**
 * Lists the tags in a docker-archive (`RepoTags` of every image, in order).
 *
 * @param path The tar file.
 * @returns One array of tags per image.
 *
 * @example Usage
 * ```ts ignore
 * console.log(await dockerArchiveTags("image.tar"));
 * ```
 */
export async function dockerArchiveTags(path: string): Promise<string[][]> {
  const entries = await indexTar(path);
  const mj = entries.get("manifest.json");
  if (!mj) throw new KilnError(`Cannot read docker archive ${path}: no manifest.json`);
  const manifest = JSON.parse(new TextDecoder().decode(await readRange(path, mj))) as { RepoTags?: string[] | null }[];
  return manifest.map((m) => m.RepoTags ?? []);
}
