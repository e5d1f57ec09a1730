/**
 * OCI and Docker v2.2 media types, and predicates over them.
 *
 * @module
 */

/** Well-known media types. */
export const MediaTypes = {
  /** OCI image index. */
  OCI_INDEX: "application/vnd.oci.image.index.v1+json",
  /** OCI image manifest. */
  OCI_MANIFEST: "application/vnd.oci.image.manifest.v1+json",
  /** OCI image config. */
  OCI_CONFIG: "application/vnd.oci.image.config.v1+json",
  /** OCI uncompressed layer. */
  OCI_LAYER: "application/vnd.oci.image.layer.v1.tar",
  /** OCI gzip layer. */
  OCI_LAYER_GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
  /** OCI zstd layer. */
  OCI_LAYER_ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
  /** OCI nondistributable layer (deprecated, accepted). */
  OCI_FOREIGN_LAYER: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  /** OCI nondistributable gzip layer (deprecated, accepted). */
  OCI_FOREIGN_LAYER_GZIP: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  /** OCI empty descriptor blob `{}`. */
  OCI_EMPTY: "application/vnd.oci.empty.v1+json",
  /** OCI layout header. */
  OCI_LAYOUT_HEADER: "application/vnd.oci.layout.header.v1+json",
  /** Docker manifest list. */
  DOCKER_MANIFEST_LIST: "application/vnd.docker.distribution.manifest.list.v2+json",
  /** Docker v2.2 manifest. */
  DOCKER_MANIFEST: "application/vnd.docker.distribution.manifest.v2+json",
  /** Docker schema1 manifest (refused). */
  DOCKER_MANIFEST_SCHEMA1: "application/vnd.docker.distribution.manifest.v1+json",
  /** Docker schema1 signed manifest (refused). */
  DOCKER_MANIFEST_SCHEMA1_SIGNED: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  /** Docker image config. */
  DOCKER_CONFIG: "application/vnd.docker.container.image.v1+json",
  /** Docker gzip layer. */
  DOCKER_LAYER: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  /** Docker uncompressed layer. */
  DOCKER_LAYER_UNCOMPRESSED: "application/vnd.docker.image.rootfs.diff.tar",
  /** Docker foreign layer. */
  DOCKER_FOREIGN_LAYER: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

/** The `Accept` header value for manifest requests: every manifest and index type kiln reads. */
export const MANIFEST_ACCEPT: string = [
  MediaTypes.OCI_MANIFEST,
  MediaTypes.OCI_INDEX,
  MediaTypes.DOCKER_MANIFEST,
  MediaTypes.DOCKER_MANIFEST_LIST,
].join(", ");

/**
 * True for an image index or Docker manifest list.
 *
 * @param mt Media type.
 * @returns Whether it is an index type.
 *
 * @example Usage
 * ```ts
 * import { isIndexMediaType } from "./media_types.ts";
 * console.assert(isIndexMediaType("application/vnd.oci.image.index.v1+json"));
 * ```
 */
export function isIndexMediaType(mt: string): boolean {
  return mt === MediaTypes.OCI_INDEX || mt === MediaTypes.DOCKER_MANIFEST_LIST;
}

/**
 * True for an image manifest (OCI or Docker v2.2).
 *
 * @param mt Media type.
 * @returns Whether it is an image manifest type.
 *
 * @example Usage
 * ```ts
 * import { isImageMediaType } from "./media_types.ts";
 * console.assert(isImageMediaType("application/vnd.docker.distribution.manifest.v2+json"));
 * ```
 */
export function isImageMediaType(mt: string): boolean {
  return mt === MediaTypes.OCI_MANIFEST || mt === MediaTypes.DOCKER_MANIFEST;
}

/**
 * True for Docker schema1 manifests, which kiln refuses.
 *
 * @param mt Media type.
 * @returns Whether it is schema1.
 *
 * @example Usage
 * ```ts
 * import { isSchema1MediaType } from "./media_types.ts";
 * console.assert(isSchema1MediaType("application/vnd.docker.distribution.manifest.v1+prettyjws"));
 * ```
 */
export function isSchema1MediaType(mt: string): boolean {
  return mt === MediaTypes.DOCKER_MANIFEST_SCHEMA1 || mt === MediaTypes.DOCKER_MANIFEST_SCHEMA1_SIGNED ||
    mt === "application/json";
}

/** Compression of a layer blob, from its media type. */
export type LayerCompression = "gzip" | "zstd" | "none";

/**
 * The compression a layer media type implies.
 *
 * @param mt Layer media type.
 * @returns gzip, zstd or none.
 *
 * @example Usage
 * ```ts
 * import { layerCompression } from "./media_types.ts";
 * console.assert(layerCompression("application/vnd.oci.image.layer.v1.tar+gzip") === "gzip");
 * ```
 */
export function layerCompression(mt: string): LayerCompression {
  if (mt.endsWith("+gzip") || mt.endsWith(".tar.gzip")) return "gzip";
  if (mt.endsWith("+zstd")) return "zstd";
  return "none";
}

/**
 * True for Docker-flavoured media types (v2.2 manifest/list).
 *
 * @param mt Manifest or index media type.
 * @returns Whether it is a Docker type.
 *
 * @example Usage
 * ```ts
 * import { isDockerMediaType } from "./media_types.ts";
 * console.assert(!isDockerMediaType("application/vnd.oci.image.manifest.v1+json"));
 * ```
 */
export function isDockerMediaType(mt: string): boolean {
  return mt.startsWith("application/vnd.docker.");
}
