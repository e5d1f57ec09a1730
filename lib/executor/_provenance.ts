/**
 * Private: the SLSA provenance v1 predicate of one platform's image (`--attest type=provenance`), in the shape of
 * BuildKit's (`buildDefinition` with the Dockerfile as config source, the request's target, platform and — `max` —
 * build args, labels and secret ids; `resolvedDependencies` the images used; `runDetails` the builder and times).
 * Values of `--secret`s never appear (only their ids, in `max`); credentials in URLs are redacted; RUN output and
 * the environment are not recorded.
 *
 * @module
 */
import { redact } from "../util/mod.ts";
import type { Platform } from "../image/mod.ts";
import { formatPlatform, hostPlatform } from "../image/mod.ts";
import { parseReference } from "../registry/mod.ts";
import { VERSION } from "../version.ts";
import type { Material } from "./_stages.ts";
import type { BuildOptions } from "./types.ts";

/** The predicate type of SLSA provenance v1. */
export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";

/**
 * The build type: BuildKit's, whose fields (`configSource`, `request` with `frontend`, `args`, `secrets`, `locals`;
 * `builderPlatform`) kiln fills with the same meaning, so verifiers of BuildKit provenance read kiln's.
 */
export const BUILD_TYPE = "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md";

/** The builder id recorded (SLSA `runDetails.builder.id`); its version is in `builder.version.kiln`. */
export const KILN_BUILDER_ID = "https://github.com/kiln-build/kiln";

/** The Dockerfile a build read, as provenance records it. */
export interface BuildSource {
  /** The Dockerfile as given (`Dockerfile`, `docker/Dockerfile`, a URL without credentials). */
  dockerfile: string;
}

/**
 * `pkg:docker/NAME@TAG?platform=…`: the package URL of an image reference for a platform, in BuildKit's form —
 * Docker Hub names shortened (`docker.io/library/alpine` → `alpine`), a registry port escaped (`localhost%3A5000`),
 * a digest as a `digest=` qualifier. A name that is no reference (a named build context) keeps only its name.
 *
 * @param ref The reference as written.
 * @param platform The platform.
 * @returns The purl.
 *
 * @example Usage
 * ```ts ignore
 * dockerPurl("127.0.0.1:5000/app:1", { os: "linux", architecture: "arm64" });
 * // "pkg:docker/127.0.0.1%3A5000/app@1?platform=linux%2Farm64"
 * ```
 */
export function dockerPurl(ref: string, platform?: Platform): string {
  let name: string;
  let version = "latest";
  const q: string[] = [];
  try {
    const r = parseReference(ref);
    const hub = r.registry === "docker.io" || r.registry === "index.docker.io" || r.registry === "registry-1.docker.io";
    const repo = hub ? r.repository.replace(/^library\//, "") : r.repository;
    name = hub ? repo : `${r.registry.replace(":", "%3A")}/${repo}`;
    if (r.tag) version = r.tag;
    if (r.digest) q.push(`digest=${r.digest.replace(":", "%3A")}`);
  } catch {
    name = encodeURIComponent(ref);
  }
  if (platform) q.push(`platform=${encodeURIComponent(formatPlatform(platform))}`);
  return `pkg:docker/${name}@${encodeURIComponent(version)}${q.length ? `?${q.join("&")}` : ""}`;
}

/** What the predicate describes. */
export interface ProvenanceInputs {
  mode: "min" | "max";
  options: BuildOptions;
  platform: Platform;
  materials: readonly Material[];
  source: BuildSource;
  startedOn: Date;
  finishedOn: Date;
  /** `runDetails.metadata.invocationId`. */
  invocationId: string;
}

function sha256Map(digest: string): Record<string, string> {
  const [alg, hex] = digest.split(":");
  return { [alg!]: hex! };
}

/**
 * The provenance predicate.
 *
 * @param p Mode, options, platform, materials, Dockerfile, times.
 * @returns The SLSA v1 predicate (JSON-ready).
 */
export function provenancePredicate(p: ProvenanceInputs): Record<string, unknown> {
  const o = p.options;
  const args: Record<string, string> = {};
  if (o.target) args.target = o.target;
  args.platform = formatPlatform(p.platform);
  if (p.mode === "max") {
    for (const [k, v] of Object.entries(o.buildArgs ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      args[`build-arg:${k}`] = redact(v);
    }
    for (const [k, v] of Object.entries(o.labels ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      args[`label:${k}`] = redact(v);
    }
  }
  const request: Record<string, unknown> = {
    frontend: "dockerfile.v0",
    args,
    ...(p.mode === "max" && o.secrets?.length ? { secrets: o.secrets.map((s) => ({ id: s.id })) } : {}),
    locals: [{ name: "context" }, { name: "dockerfile" }],
  };
  const from = o.contextSource;
  const externalParameters = {
    configSource: {
      ...(from ? { uri: redact(from.uri) } : {}),
      ...(from?.digest ? { digest: { ...from.digest } } : {}),
      path: p.source.dockerfile,
    },
    request,
  };
  const internalParameters = { builderPlatform: formatPlatform(hostPlatform()) };
  const seen = new Set<string>();
  const resolvedDependencies = [];
  for (const m of p.materials) {
    const uri = dockerPurl(redact(m.ref), m.platform);
    if (seen.has(uri + m.digest)) continue;
    seen.add(uri + m.digest);
    resolvedDependencies.push({ uri, digest: sha256Map(m.digest) });
  }
  return {
    buildDefinition: {
      buildType: BUILD_TYPE,
      externalParameters,
      internalParameters,
      resolvedDependencies,
    },
    runDetails: {
      builder: { id: KILN_BUILDER_ID, version: { kiln: VERSION } },
      metadata: {
        invocationId: p.invocationId,
        startedOn: p.startedOn.toISOString(),
        finishedOn: p.finishedOn.toISOString(),
      },
    },
  };
}
