/**
 * Private: attestations (`--attest`), stored as BuildKit stores them so tools that read BuildKit's read kiln's: per
 * platform image one OCI manifest in the index, with platform `unknown/unknown` and the annotations
 * `vnd.docker.reference.type: attestation-manifest` and `vnd.docker.reference.digest: <the image's manifest>`; each
 * of its layers is one in-toto statement (`application/vnd.in-toto+json`, annotated with its predicate type) whose
 * subject is the image manifest. The manifest has the image config BuildKit wrote before v0.32 (`unknown/unknown`, the
 * layers' digests as diff IDs) rather than v0.32's artifact form (empty config, `subject`), which older registries
 * and readers do not know; `docker buildx imagetools inspect` reads both. The predicates: SLSA provenance v1 (lib/executor/_provenance.ts) and an SPDX 2.3
 * SBOM of the image's package databases (lib/executor/_sbom.ts). Nothing secret goes in: no `--secret` value, no
 * credential, no RUN output.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "../util/mod.ts";
import { sha256 } from "../util/mod.ts";
import type { Image, ImageConfig, IndexEntry, Layer, Platform } from "../image/mod.ts";
import { imageFromParts, MediaTypes, toJsonBytes } from "../image/mod.ts";
import type { Material } from "./_stages.ts";
import type { AttestationRequest, BuildOptions } from "./types.ts";
import { type BuildSource, dockerPurl, provenancePredicate, SLSA_PROVENANCE_V1 } from "./_provenance.ts";
import { sbomPredicate, SPDX_DOCUMENT } from "./_sbom.ts";

export type { BuildSource };

/** Media type of an in-toto statement layer. */
export const IN_TOTO_MEDIA_TYPE = "application/vnd.in-toto+json";
/** The layer annotation naming a statement's predicate type. */
export const PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type";
/** The in-toto statement type (BuildKit writes v1 since v0.31). */
export const IN_TOTO_STATEMENT = "https://in-toto.io/Statement/v1";

/** What an attestation manifest is made from. */
export interface AttestationInputs {
  requests: readonly AttestationRequest[];
  options: BuildOptions;
  platform: Platform;
  materials: readonly Material[];
  source: BuildSource;
  startedOn: Date;
  finishedOn: Date;
  /** The build's work dir (scratch copies for the SBOM). */
  scratchDir: string;
  /** `--reproducible`: ids derived from the image instead of random ones (with fixed times: the same bytes). */
  reproducible?: boolean;
  log: Logger;
  signal?: AbortSignal;
}

/** A blob layer holding `bytes` as they are (attestation layers are not compressed). */
function jsonLayer(value: unknown, annotations: Record<string, string>): Layer {
  const bytes = toJsonBytes(value);
  const digest = sha256(bytes);
  const stream = () => Promise.resolve(new Blob([bytes as BlobPart]).stream());
  return {
    mediaType: () => Promise.resolve(IN_TOTO_MEDIA_TYPE),
    digest: () => Promise.resolve(digest),
    diffId: () => Promise.resolve(digest),
    size: () => Promise.resolve(bytes.byteLength),
    compressed: stream,
    uncompressed: stream,
    descriptor: () => Promise.resolve({ annotations }),
  };
}

/**
 * The in-toto subjects of `image`: its manifest digest under the package URL of each destination, as BuildKit names
 * them (`pkg:docker/NAME@TAG?platform=…`), or `_` (in-toto's "no meaningful name") when there is none.
 */
function subjectsOf(imageDigest: string, options: BuildOptions, platform: Platform) {
  const digest = { sha256: imageDigest.slice("sha256:".length) };
  const names = [...new Set((options.outputs?.destinations ?? []).map((d) => dockerPurl(d, platform)))];
  return (names.length ? names : ["_"]).map((name) => ({ name, digest }));
}

/**
 * The attestation manifest of one platform's image, as an index entry.
 *
 * @param image The platform's final image.
 * @param inputs What the statements describe.
 * @returns The entry (platform `unknown/unknown`, BuildKit's reference annotations).
 */
export async function attestationManifest(image: Image, inputs: AttestationInputs): Promise<IndexEntry> {
  const imageDigest = await image.digest();
  const subject = subjectsOf(imageDigest, inputs.options, inputs.platform);
  const hex = imageDigest.slice("sha256:".length);
  const id = inputs.reproducible
    ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
    : randomUUID();
  const layers: Layer[] = [];
  for (const req of inputs.requests) {
    const [predicateType, predicate] = req.type === "provenance"
      ? [SLSA_PROVENANCE_V1, provenancePredicate({ ...inputs, mode: req.mode ?? "min", invocationId: id })]
      : [
        SPDX_DOCUMENT,
        await sbomPredicate(await image.layers(), {
          name: subject[0]!.name,
          namespaceId: id,
          scratchDir: inputs.scratchDir,
          platform: inputs.platform,
          created: inputs.finishedOn,
          log: inputs.log,
          ...(inputs.signal ? { signal: inputs.signal } : {}),
        }),
      ];
    layers.push(
      jsonLayer(
        { _type: IN_TOTO_STATEMENT, predicateType, subject, predicate },
        { [PREDICATE_TYPE_ANNOTATION]: predicateType },
      ),
    );
  }
  const config: ImageConfig = {
    architecture: "unknown",
    os: "unknown",
    config: {},
    rootfs: { type: "layers", diff_ids: [] },
  };
  const manifest = imageFromParts({ config, layers, mediaType: MediaTypes.OCI_MANIFEST });
  return {
    image: manifest,
    platform: { architecture: "unknown", os: "unknown" },
    annotations: {
      "vnd.docker.reference.digest": imageDigest,
      "vnd.docker.reference.type": "attestation-manifest",
    },
  };
}
