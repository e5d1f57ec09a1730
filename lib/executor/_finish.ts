/**
 * Private: the end of a build — each platform's final image (platform defaults, `created`, manifest format,
 * annotations), the image index when the build made several platforms or attestations, and every output.
 *
 * @module
 */
import { resolve } from "node:path";
import type { Digest, Logger } from "../util/mod.ts";
import { sha256 } from "../util/mod.ts";
import type { Image, ImageConfig, ImageIndex, IndexEntry, Platform } from "../image/mod.ts";
import { formatPlatform, indexFromImages, MediaTypes, withAnnotations, withConfig, withFormat } from "../image/mod.ts";
import { writeOutputs } from "../output/mod.ts";
import type { EarlyUploads } from "../registry/mod.ts";
import type { ExecutionPlan } from "./steps.ts";
import type { StageResult } from "./stage.ts";
import type { Material } from "./_stages.ts";
import type { BuildOptions, BuildProgressEvent, BuildResult } from "./types.ts";
import { attestationManifest, type BuildSource } from "./_attest.ts";

export type { BuildSource };

/** One target platform's finished stages. */
export interface PlatformBuild {
  /** The target platform. */
  platform: Platform;
  /** Its plan. */
  plan: ExecutionPlan;
  /** The target stage's result. */
  final: StageResult;
  /** The images its stages started from or copied from. */
  materials: Material[];
}

/** What {@linkcode finish} needs from build(). */
export interface FinishEnv {
  cwd: string;
  /** The build's private work dir. */
  work: string;
  log: Logger;
  progress: (e: BuildProgressEvent) => void;
  steps: BuildResult["steps"];
  /** The Dockerfile, for provenance. */
  source: BuildSource;
  /** When the build started (provenance). */
  startedOn: Date;
  /** Repositories (the registry layer cache) the destinations may mount cached blobs from. */
  mountFrom?: string[];
  /** Layers already going up to the destinations. */
  early?: EarlyUploads;
  signal?: AbortSignal;
}

/** The target stage's image finished with lib/image's mutations: platform defaults, `created`, format, annotations. */
function finalImage(b: PlatformBuild, options: BuildOptions, fixedTime: number | undefined): Image {
  const platform = b.platform;
  let image = withConfig(b.final.image, (c): ImageConfig => {
    const created = fixedTime !== undefined
      ? new Date(fixedTime * 1000).toISOString().replace(/\.000Z$/, "Z")
      : c.created || new Date().toISOString();
    return { ...c, architecture: c.architecture || platform.architecture, os: c.os || platform.os, created };
  });
  image = withFormat(image, options.outputs?.format ?? "oci");
  if (options.annotations && Object.keys(options.annotations).length) {
    image = withAnnotations(image, options.annotations);
  }
  return image;
}

/**
 * The final image (one platform, no attestations) or image index, written to every output.
 *
 * @param built Each target platform's result, in `--platform` order.
 * @param options The build's options.
 * @param env Paths, logger, progress, provenance inputs, push helpers.
 * @returns The build's result.
 */
export async function finish(built: readonly PlatformBuild[], options: BuildOptions, env: FinishEnv): Promise<
  BuildResult
> {
  const out = options.outputs ?? {};
  const fixedTime = options.layers?.reproducible ? (options.layers.sourceDateEpoch ?? 0) : undefined;
  const images = built.map((b) => finalImage(b, options, fixedTime));
  const attest = options.attestations ?? [];
  let target: Image | ImageIndex = images[0]!;
  if (images.length > 1 || attest.length > 0) {
    // The images, then (BuildKit's order) each one's attestation manifest.
    const entries: IndexEntry[] = images.map((image) => ({ image }));
    for (const [i, image] of attest.length ? images.entries() : []) {
      const b = built[i]!;
      entries.push(
        await attestationManifest(image, {
          requests: attest,
          options,
          platform: b.platform,
          materials: b.materials,
          source: env.source,
          // --reproducible: the fixed time (and ids derived from the image) keep the attestations, so the index, the same.
          ...(fixedTime === undefined
            ? { startedOn: env.startedOn, finishedOn: new Date() }
            : { startedOn: new Date(fixedTime * 1000), finishedOn: new Date(fixedTime * 1000), reproducible: true }),
          log: env.log,
          scratchDir: env.work,
          ...(env.signal ? { signal: env.signal } : {}),
        }),
      );
    }
    target = indexFromImages(entries, {
      mediaType: out.format === "docker" ? MediaTypes.DOCKER_MANIFEST_LIST : MediaTypes.OCI_INDEX,
    });
  }
  const path = (p: string | undefined) => (p ? resolve(env.cwd, p) : undefined);
  const files = {
    tarPath: path(out.tarPath),
    ociLayoutPath: path(out.ociLayoutPath),
    digestFile: path(out.digestFile),
    imageNameWithDigestFile: path(out.imageNameWithDigestFile),
    imageNameTagWithDigestFile: path(out.imageNameTagWithDigestFile),
  };
  const outputs = await writeOutputs(target, {
    destinations: [...(out.destinations ?? [])],
    noPush: out.noPush ?? false,
    ...Object.fromEntries(Object.entries(files).filter(([, v]) => v !== undefined)) as Record<string, string>,
    registry: options.registry ?? {},
    ...(env.mountFrom ? { mountFrom: env.mountFrom } : {}),
    ...(env.early ? { early: env.early } : {}),
    onBlob: (b) => env.progress({ type: "blob", ...b }),
    onUpload: (u) => env.progress({ type: "upload", ...u }),
    log: env.log,
    progress: env.progress,
    ...(env.signal ? { signal: env.signal } : {}),
  });
  const first = images[0]!;
  const config = await first.config();
  const manifest = await first.manifest();
  const raw = await target.rawManifest();
  const digest: Digest = sha256(raw);
  const result: BuildResult = {
    digest,
    descriptor: { mediaType: await target.mediaType(), digest, size: raw.byteLength },
    manifest,
    configDigest: manifest.config.digest,
    config,
    platform: { architecture: config.architecture, os: config.os },
    outputs,
    steps: env.steps,
    warnings: built[0]!.plan.warnings ?? [],
  };
  if (target === first) {
    env.log.info(`Built image ${digest} (${formatPlatform(built[0]!.platform)})`);
    return result;
  }
  result.index = await (target as ImageIndex).manifest();
  result.images = [];
  for (const [i, image] of images.entries()) {
    result.images.push({
      platform: built[i]!.platform,
      digest: await image.digest(),
      configDigest: (await image.manifest()).config.digest,
    });
  }
  const what = [
    built.map((b) => formatPlatform(b.platform)).join(", "),
    ...attest.map((a) => a.type === "provenance" ? `provenance (${a.mode ?? "min"})` : "SBOM"),
  ];
  env.log.info(`Built image index ${digest} (${what.join("; ")})`);
  for (const im of result.images) env.log.info(`  ${formatPlatform(im.platform)}: ${im.digest}`);
  return result;
}
