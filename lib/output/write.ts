/**
 * Writing a built image everywhere the user asked: an OCI layout, a `docker save` tarball, each registry
 * destination, then the digest files (only after every push succeeded, so a digest file never names an image
 * that is not there).
 *
 * Every file is written atomically (lib/util/atomic_file.ts: a unique temp file in the same directory, renamed
 * into place when complete; an OCI layout's index.json under its lock, see lib/image/layout.ts), so a failed or
 * interrupted build leaves the previous outputs intact, concurrent builds never collide on temp files, and a
 * full or read-only disk is a one-line `Cannot write WHAT PATH: REASON` error.
 *
 * @module
 */
import { type Digest, KilnError, type Logger, writeFileAtomic } from "../util/mod.ts";
import { type Image, type ImageIndex, isImageValue, writeLayout } from "../image/mod.ts";
import {
  type EarlyUploads,
  parseReference,
  type PushOptions,
  type Reference,
  type RegistryOptions,
} from "../registry/mod.ts";
import { pushImage, writeTarball } from "./_sinks.ts";

/** One output that was written. */
export interface OutputRecord {
  /** `registry`, `tarball`, `oci-layout`. */
  kind: "registry" | "tarball" | "oci-layout";
  /** Reference, file or directory. */
  target: string;
  /** Manifest digest. */
  digest: Digest;
}

/** Options for {@linkcode writeOutputs}. */
export interface WriteOutputsOptions {
  /** `--destination` references. */
  destinations: readonly string[];
  /** `--no-push`: skip the registry destinations (they still name the tarball/layout tags and digest files). */
  noPush: boolean;
  /** `--tar-path`. */
  tarPath?: string;
  /** `--oci-layout-path`. */
  ociLayoutPath?: string;
  /** `--digest-file`. */
  digestFile?: string;
  /** `--image-name-with-digest-file`. */
  imageNameWithDigestFile?: string;
  /** `--image-name-tag-with-digest-file`. */
  imageNameTagWithDigestFile?: string;
  /** Registry transport options. */
  registry: Omit<RegistryOptions, "signal" | "logger" | "platform">;
  /** Repositories of the same registry to mount existing blobs from instead of uploading them (the layer cache). */
  mountFrom?: readonly string[];
  /** Layers already uploading to the destinations (lib/registry createEarlyUploads): the push waits for them. */
  early?: EarlyUploads;
  /** Called when a blob is in a destination repository (uploaded, mounted, or there already). */
  onBlob?: PushOptions["onBlob"];
  /** Called when a blob upload starts and ends. */
  onUpload?: PushOptions["onUpload"];
  /** Logger. */
  log: Logger;
  /** Progress callback. */
  progress?: (e: { type: "output-written"; kind: string; target: string; durationMs: number }) => void;
  /** Abort signal. */
  signal?: AbortSignal;
}

/** Writes a digest file atomically (a unique temp file renamed into place: concurrent writers never collide). */
function writeDigestFile(flag: string, path: string, text: string, signal?: AbortSignal): Promise<void> {
  return writeFileAtomic(path, text, { what: flag, ...(signal ? { signal } : {}) });
}

function parseDestinations(dests: readonly string[]): Reference[] {
  return dests.map((d) => {
    try {
      return parseReference(d);
    } catch (e) {
      throw new KilnError(`Invalid --destination "${d}": ${(e as Error).message}`, { exitCode: 2, cause: e });
    }
  });
}

/** `registry/repo` without tag or digest. */
function repoName(r: Reference): string {
  return `${r.registry}/${r.repository}`;
}

/**
 * The image a `docker save` tarball of `x` holds: `x` itself, or the one image of an index whose other entries are
 * attestations (BuildKit's docker exporter leaves those out too); an index of several platforms cannot be one.
 */
async function tarballImage(x: Image | ImageIndex, path: string): Promise<Image> {
  if (isImageValue(x)) return x;
  const images = (await x.manifest()).manifests.filter((d) =>
    d.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest"
  );
  if (images.length !== 1) {
    throw new KilnError(
      `Cannot write --tar-path ${path}: a docker save tarball holds one image, and this is an index of ${images.length}`,
      { exitCode: 2 },
    );
  }
  return x.image(images[0]!.digest);
}

/**
 * Writes `image` to every requested output.
 *
 * @param image The built image, or an image index (several platforms, attestations).
 * @param opts Outputs and registry options.
 * @returns What was written.
 *
 * @example Usage
 * ```ts ignore
 * import { writeOutputs } from "./write.ts";
 * await writeOutputs(image, { destinations: [], noPush: true, ociLayoutPath: "out/x", registry: {}, log });
 * ```
 */
export async function writeOutputs(image: Image | ImageIndex, opts: WriteOutputsOptions): Promise<OutputRecord[]> {
  const refs = parseDestinations(opts.destinations);
  const digest = await image.digest();
  const out: OutputRecord[] = [];
  const timed = async (kind: OutputRecord["kind"], target: string, fn: () => Promise<void>) => {
    const t0 = performance.now();
    await fn();
    const durationMs = performance.now() - t0;
    opts.progress?.({ type: "output-written", kind, target, durationMs });
    opts.log.info(`Wrote ${kind} ${target} in ${(durationMs / 1000).toFixed(2)}s`);
    out.push({ kind, target, digest });
  };
  if (opts.ociLayoutPath) {
    const tags = refs.map((r) => r.tag).filter((t): t is string => t !== undefined);
    const dir = opts.ociLayoutPath;
    await timed("oci-layout", dir, async () => {
      await writeLayout(dir, image, {
        tags: tags.length ? [...new Set(tags)] : ["latest"],
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    });
  }
  if (opts.tarPath) {
    const path = opts.tarPath;
    const single = await tarballImage(image, path);
    await timed("tarball", path, () => writeTarball(path, single, refs, opts.signal));
  }
  if (!opts.noPush && refs.length > 0) {
    const target = opts.destinations.join(", ");
    await timed("registry", target, async () => {
      await pushImage(refs, image, {
        ...opts.registry,
        ...(opts.mountFrom?.length ? { mountFrom: opts.mountFrom.map((r) => parseReference(r)) } : {}),
        ...(opts.early ? { early: opts.early } : {}),
        ...(opts.onBlob ? { onBlob: opts.onBlob } : {}),
        ...(opts.onUpload ? { onUpload: opts.onUpload } : {}),
        logger: opts.log,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    });
  }
  if (opts.digestFile) await writeDigestFile("--digest-file", opts.digestFile, digest, opts.signal);
  if (opts.imageNameWithDigestFile) {
    await writeDigestFile(
      "--image-name-with-digest-file",
      opts.imageNameWithDigestFile,
      refs.map((r) => `${repoName(r)}@${digest}\n`).join(""),
      opts.signal,
    );
  }
  if (opts.imageNameTagWithDigestFile) {
    await writeDigestFile(
      "--image-name-tag-with-digest-file",
      opts.imageNameTagWithDigestFile,
      refs.map((r) => `${repoName(r)}:${r.tag ?? "latest"}@${digest}\n`).join(""),
      opts.signal,
    );
  }
  return out;
}
