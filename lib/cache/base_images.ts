/**
 * The base-image cache dir (kaniko's `--cache-dir`, default `/cache`), filled by `kiln warm` and read by builds.
 *
 * Layout: one OCI image layout per platform, `<cacheDir>/<os>-<arch>[-<variant>]/` (`linux-amd64`,
 * `linux-arm-v7`; arm64's default `v8` is left out), holding every image warmed for that platform. Each warmed
 * reference is an index.json entry for the platform's image manifest whose `org.opencontainers.image.ref.name` is
 * the normalised reference (`docker.io/library/busybox:latest`, `127.0.0.1:5000/app@sha256:…`), with annotations
 * {@linkcode WARMED_ANNOTATION} (when the reference was last resolved against its registry: the TTL's clock) and,
 * when the reference named an index, {@linkcode INDEX_DIGEST_ANNOTATION}. So a build finds a base by tag or by
 * digest (the image manifest's or the index's) without any network, unlike kaniko, which stores
 * `<dir>/<digest>` tarballs and still asks the registry what a tag points to.
 *
 * Writes go through lib/image's `writeLayout`: blobs are verified into temp files and renamed, index.json is
 * replaced under the layout's lock file, so several warmers and builds may share the dir at once.
 *
 * @module
 */
import { createReadStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type Digest, KilnError, type Logger, nullLogger } from "../util/mod.ts";
import {
  type Descriptor,
  formatPlatform,
  hostPlatform,
  type Image,
  isImageMediaType,
  isImageValue,
  layoutImage,
  layoutIndex,
  type Platform,
  REF_NAME_ANNOTATION,
  selectPlatform,
  writeLayout,
} from "../image/mod.ts";
import { formatReference, parseReference, type Reference, type RegistryOptions, remote } from "../registry/mod.ts";
import { parseDockerfile, planBuild } from "../dockerfile/mod.ts";

/** Index.json annotation: when the entry's reference was last resolved against its registry (RFC 3339). */
export const WARMED_ANNOTATION = "dev.kiln.base.warmed";
/** Index.json annotation: the digest of the index the reference named, when it named one. */
export const INDEX_DIGEST_ANNOTATION = "dev.kiln.base.index-digest";
/** Index.json annotation: the reference the image was actually fetched from (a mirror, a registry-map entry). */
export const SOURCE_ANNOTATION = "dev.kiln.base.source";

/** kaniko's default `--cache-ttl`: 336 h (two weeks), in milliseconds. */
export const DEFAULT_BASE_IMAGE_TTL_MS = 336 * 3600_000;

/**
 * The directory of `cacheDir` that holds the images of `platform` (an OCI layout).
 *
 * @param cacheDir The cache dir.
 * @param platform The platform.
 * @returns `<cacheDir>/<os>-<arch>[-<variant>]`.
 *
 * @example Usage
 * ```ts
 * import { baseImageLayoutDir } from "./base_images.ts";
 * console.assert(baseImageLayoutDir("/cache", { os: "linux", architecture: "arm64", variant: "v8" }) === "/cache/linux-arm64");
 * ```
 */
export function baseImageLayoutDir(cacheDir: string, platform: Platform): string {
  const os = platform.os.toLowerCase();
  const arch = platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase();
  if (arch === "arm64" && variant === "v8") variant = undefined;
  if (arch === "arm" && variant === undefined) variant = "v7";
  return join(cacheDir, [os, arch, variant].filter(Boolean).join("-"));
}

/** Options for {@linkcode warmImage}. */
export interface WarmImageOptions {
  /** The cache dir (kaniko's `--cache-dir`, default `/cache`). */
  cacheDir: string;
  /** How to reach registries: mirrors, registry map, insecure hosts, certificates, credentials. */
  registry?: RegistryOptions;
  /** Platform picked from an index (default: `registry.platform`, else the host's; `--custom-platform`). */
  platform?: Platform;
  /** Fetch again (`--force`): the entry is rewritten and any blob that is missing or corrupt fetched again. */
  force?: boolean;
  /**
   * `--cache-ttl` in ms (default 336 h). An existing entry counts as warmed even when older (kaniko); an older one
   * whose tag still points at the same digest gets a fresh warmed time (no blob is fetched).
   */
  ttlMs?: number;
  /** Logger. */
  logger?: Logger;
  /** Cancels the warm. */
  signal?: AbortSignal;
  /** The clock (tests). */
  now?: () => Date;
}

/** What {@linkcode warmImage} did. */
export interface WarmResult {
  /** The normalised reference (the entry's ref name). */
  ref: string;
  /** The image manifest's digest (the platform's image when the reference named an index). */
  digest: Digest;
  /** The index's digest, when the reference named one. */
  indexDigest?: Digest;
  /** The platform it was stored for. */
  platform: Platform;
  /** `warmed`: fetched and written; `cached`: already in the dir (kaniko's "already cached"). */
  status: "warmed" | "cached";
  /** The layout the entry is in. */
  layoutDir: string;
}

interface Entries {
  dir: string;
  manifests: Descriptor[];
}

async function readEntries(dir: string): Promise<Entries> {
  if (!(await stat(join(dir, "index.json")).catch(() => undefined))) return { dir, manifests: [] };
  const idx = await layoutIndex(dir);
  return { dir, manifests: (await idx.manifest()).manifests };
}

function blobPath(dir: string, digest: Digest): string {
  return join(dir, "blobs", "sha256", digest.slice("sha256:".length));
}

/** The blobs of an image entry (manifest, config, layers) with their sizes, or undefined when the manifest is missing. */
async function entryBlobs(dir: string, d: Descriptor): Promise<Descriptor[] | undefined> {
  let image: Image;
  try {
    image = await layoutImage(dir, { digest: d.digest });
    const m = await image.manifest();
    return [{ mediaType: d.mediaType, digest: d.digest, size: d.size }, m.config, ...m.layers];
  } catch {
    return undefined;
  }
}

/** Whether every blob of entry `d` is in `dir` with its size (cheap: no hashing). */
async function entryComplete(dir: string, d: Descriptor): Promise<boolean> {
  const blobs = await entryBlobs(dir, d);
  if (!blobs) return false;
  for (const b of blobs) {
    const s = await stat(blobPath(dir, b.digest)).catch(() => undefined);
    if (!s || s.size !== b.size) return false;
  }
  return true;
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path).on("data", (c) => h.update(c)).on("error", reject).on(
      "end",
      () => resolve(`sha256:${h.digest("hex")}`),
    );
  });
}

/**
 * Removes the blobs of `image` that are in `dir` with the wrong size or, with `hash`, that do not hash to their
 * digest, so that writing the image fetches them again (the layout skips any blob that is present).
 */
async function dropDamagedBlobs(dir: string, image: Image, hash: boolean, log: Logger): Promise<void> {
  const m = await image.manifest();
  const own = { digest: await image.digest(), size: (await image.rawManifest()).byteLength };
  for (const b of [m.config, ...m.layers, own]) {
    const path = blobPath(dir, b.digest);
    const s = await stat(path).catch(() => undefined);
    if (!s) continue;
    if (s.size === b.size && (!hash || (await sha256File(path)) === b.digest)) continue;
    log.warn(`Removing damaged blob ${b.digest} from the base-image cache ${dir}`);
    await rm(path, { force: true });
  }
}

function warmedAt(d: Descriptor): number {
  const t = Date.parse(d.annotations?.[WARMED_ANNOTATION] ?? "");
  return Number.isNaN(t) ? -Infinity : t;
}

/** Entries of `entries` that answer `ref`: its ref name, or for a digest reference any entry with that digest. */
function matching(entries: Descriptor[], ref: Reference): Descriptor[] {
  const name = formatReference(ref);
  return entries.filter((d) =>
    isImageMediaType(d.mediaType) && (
      d.annotations?.[REF_NAME_ANNOTATION] === name ||
      (ref.digest !== undefined &&
        (d.digest === ref.digest || d.annotations?.[INDEX_DIGEST_ANNOTATION] === ref.digest))
    )
  ).sort((a, b) => warmedAt(b) - warmedAt(a));
}

/**
 * Warms one image into the cache dir: resolves `ref` against its registry (mirrors and registry map first), picks
 * `platform` from an index, and stores the image in the platform's layout under the normalised reference, so that
 * {@linkcode lookupBaseImage} finds it by tag or by digest with no network.
 *
 * Without `force`, an image already there counts as warmed (kaniko), even when older than the TTL: a digest
 * reference is answered from the dir alone; a tag is resolved (one manifest request) and, when it still points
 * at the stored digest, kept as it is (an entry older than `ttlMs` gets a fresh warmed time); when it moved, the
 * new image is fetched. Blobs already in the layout (from any image) are never fetched twice.
 *
 * @param ref The image reference (`busybox`, `registry.example/app:1`, `…@sha256:…`).
 * @param options Cache dir, registry options, platform, force, TTL.
 * @returns What was done.
 * @throws {KilnError} when the reference is invalid, the registry fails or the dir cannot be written.
 *
 * @example Usage
 * ```ts ignore
 * const r = await warmImage("127.0.0.1:5000/busybox:latest", {
 *   cacheDir: "/cache",
 *   registry: { insecureRegistries: ["127.0.0.1:5000"] },
 * });
 * console.log(r.status, r.digest);
 * ```
 */
export async function warmImage(ref: string, options: WarmImageOptions): Promise<WarmResult> {
  const log = options.logger ?? options.registry?.logger ?? nullLogger;
  const now = options.now ?? (() => new Date());
  const ttlMs = options.ttlMs ?? DEFAULT_BASE_IMAGE_TTL_MS;
  const platform = options.platform ?? options.registry?.platform ?? hostPlatform();
  const parsed = parseReference(ref);
  const name = formatReference(parsed);
  const dir = baseImageLayoutDir(options.cacheDir, platform);
  const signal = options.signal ?? options.registry?.signal;
  signal?.throwIfAborted();

  const existing = async (): Promise<Descriptor | undefined> => {
    const { manifests } = await readEntries(dir);
    const d = manifests.find((e) => isImageMediaType(e.mediaType) && e.annotations?.[REF_NAME_ANNOTATION] === name);
    return d && await entryComplete(dir, d) ? d : undefined;
  };
  const result = (d: Descriptor, status: WarmResult["status"]): WarmResult => {
    const indexDigest = d.annotations?.[INDEX_DIGEST_ANNOTATION] as Digest | undefined;
    return { ref: name, digest: d.digest, ...(indexDigest ? { indexDigest } : {}), platform, status, layoutDir: dir };
  };

  if (!options.force && parsed.digest) {
    const d = await existing();
    if (d) {
      log.info(`${name} is already in the cache dir (${formatPlatform(platform)})`, { digest: d.digest });
      return result(d, "cached");
    }
  }

  const x = await remote(parsed, {
    ...options.registry,
    platform,
    logger: log,
    ...(signal ? { signal } : {}),
  });
  let image: Image;
  let indexDigest: Digest | undefined;
  if (isImageValue(x)) image = x;
  else {
    indexDigest = await x.digest();
    image = await x.image(selectPlatform(await x.manifest(), platform, name).digest);
  }
  const digest = await image.digest();
  const annotations: Record<string, string> = {
    [WARMED_ANNOTATION]: now().toISOString(),
    ...(indexDigest ? { [INDEX_DIGEST_ANNOTATION]: indexDigest } : {}),
  };

  if (!options.force) {
    const d = await existing();
    if (d && d.digest === digest) {
      const age = now().getTime() - warmedAt(d);
      if (age > ttlMs) {
        // The tag still points at what is stored: record that it was checked now (nothing is fetched).
        await writeLayout(dir, await layoutImage(dir, { digest }), {
          tags: [name],
          annotations: { ...d.annotations, [WARMED_ANNOTATION]: annotations[WARMED_ANNOTATION]! },
          ...(signal ? { signal } : {}),
        });
        log.info(`${name} is already in the cache dir; still current, its TTL restarts`, { digest });
      } else log.info(`${name} is already in the cache dir (${formatPlatform(platform)})`, { digest });
      return result(d, "cached");
    }
  }
  await dropDamagedBlobs(dir, image, options.force ?? false, log);

  log.info(`Warming ${name} (${formatPlatform(platform)}) into ${dir}`, { digest });
  const desc = await writeLayout(dir, image, { tags: [name], annotations, ...(signal ? { signal } : {}) });
  return result({ ...desc, annotations }, "warmed");
}

/** Options for {@linkcode lookupBaseImage}. */
export interface LookupBaseImageOptions {
  /** The cache dir. */
  cacheDir: string;
  /** The platform wanted (default: the host's). */
  platform?: Platform;
  /** Entries warmed longer ago than this are not used (default 336 h, kaniko's `--cache-ttl`). */
  ttlMs?: number;
  /** Logger (why an entry was not used). */
  logger?: Logger;
  /** The clock (tests). */
  now?: () => Date;
}

/**
 * Finds a warmed base image in the cache dir, by tag or by digest (the image manifest's or, for a reference that
 * named an index, the index's), with no network. Layers stream from the dir's blobs, verified while read.
 *
 * @param ref The image reference as written in FROM (`busybox`, `registry.example/app:1`, `…@sha256:…`).
 * @param options Cache dir, platform, TTL.
 * @returns The image, or undefined when it is not there, older than the TTL, or incomplete (a missing or
 * truncated blob; with a warning).
 * @throws {KilnError} only when `ref` is not a valid reference.
 *
 * @example Usage
 * ```ts ignore
 * const img = await lookupBaseImage("busybox:latest", { cacheDir: "/cache" });
 * if (img) console.log(await img.digest());
 * ```
 */
export async function lookupBaseImage(ref: string, options: LookupBaseImageOptions): Promise<Image | undefined> {
  const log = options.logger ?? nullLogger;
  const parsed = parseReference(ref);
  const name = formatReference(parsed);
  const platform = options.platform ?? hostPlatform();
  const dir = baseImageLayoutDir(options.cacheDir, platform);
  const ttlMs = options.ttlMs ?? DEFAULT_BASE_IMAGE_TTL_MS;
  const now = (options.now ?? (() => new Date()))().getTime();
  let entries: Descriptor[];
  try {
    entries = (await readEntries(dir)).manifests;
  } catch (e) {
    log.warn(`Cannot read the base-image cache ${dir}: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
  const found = matching(entries, parsed);
  if (found.length === 0) {
    log.debug(`${name} is not in the base-image cache`, { dir });
    return undefined;
  }
  const fresh = found.filter((d) => now - warmedAt(d) <= ttlMs);
  if (fresh.length === 0) {
    log.info(`${name} in the base-image cache is older than the cache TTL; not used`, { dir });
    return undefined;
  }
  for (const d of fresh) {
    if (!(await entryComplete(dir, d))) {
      log.warn(`${name} (${d.digest}) in the base-image cache ${dir} is incomplete; not used`);
      continue;
    }
    try {
      return await layoutImage(dir, { digest: d.digest });
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
      log.warn(`Cannot read ${name} from the base-image cache ${dir}: ${e.message}`);
    }
  }
  return undefined;
}

/** A base image a Dockerfile pulls: its reference and the platform its FROM asks for (`--platform`), if any. */
export interface DockerfileBase {
  /** The reference, FROM's value with the global args expanded. */
  ref: string;
  /** FROM `--platform`, when given. */
  platform?: Platform;
}

/**
 * The registry images a Dockerfile pulls (kaniko warmer's `--dockerfile`): its FROM lines' and, beyond kaniko, the
 * images `COPY --from` and `RUN --mount from=` name, so an offline build finds all of them; `scratch` and stages
 * left out, `${ARG}`s expanded with the global ARG defaults and `buildArgs` (a `--from` holding a variable is
 * resolved only at build time and is skipped), each reference once.
 *
 * @param text The Dockerfile.
 * @param options `--build-arg` values, the target platform (for `$TARGETPLATFORM` and friends), file name.
 * @returns The bases, in FROM order.
 * @throws {DockerfileError} `FILE:LINE: …` for an invalid Dockerfile.
 *
 * @example Usage
 * ```ts
 * import { dockerfileBaseImages } from "./base_images.ts";
 * const bases = dockerfileBaseImages(
 *   "ARG V=1\nFROM alpine:$V AS a\nFROM a\nCOPY --from=busybox /bin/sh /sh\nFROM scratch\nFROM alpine:1\n",
 * );
 * console.assert(bases.map((b) => b.ref).join() === "alpine:1,busybox");
 * ```
 */
export function dockerfileBaseImages(
  text: string,
  options: { buildArgs?: Readonly<Record<string, string>>; platform?: Platform; file?: string } = {},
): DockerfileBase[] {
  const file = options.file ?? "Dockerfile";
  const plan = planBuild(parseDockerfile(text, { filename: file }), {
    buildArgs: options.buildArgs ?? {},
    filename: file,
    ...(options.platform ? { targetPlatform: options.platform, buildPlatform: options.platform } : {}),
  });
  const seen = new Set<string>();
  const out: DockerfileBase[] = [];
  const add = (ref: string, platform: Platform | undefined): void => {
    if (ref === "scratch" || ref.includes("$")) return;
    const key = `${ref} ${platform ? formatPlatform(platform) : ""}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ ref, ...(platform ? { platform } : {}) });
  };
  for (const s of plan.stages) {
    if (s.base.kind === "image") add(s.base.ref, s.platform);
    for (const d of s.dependencies) {
      if (d.kind === "image" && d.ref !== undefined && d.via !== "from") add(d.ref, undefined);
    }
  }
  return out;
}
