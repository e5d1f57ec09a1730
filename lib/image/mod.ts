/**
 * The OCI / Docker v2.2 image model: media types, manifest parsing over exact bytes, lazy layers and images,
 * mutations, the empty image, platforms, OCI image layouts and docker-archive tarballs.
 *
 * ```ts
 * import { appendLayers, emptyImage, uncompressedLayer } from "./mod.ts";
 * const layer = uncompressedLayer({ open: () => Promise.resolve(new Blob([new Uint8Array(1024)]).stream()) });
 * const img = appendLayers(emptyImage(), [layer]);
 * console.log(await img.digest());
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./media_types.ts";
export * from "./manifest.ts";
export * from "./layer.ts";
export * from "./image.ts";
export * from "./mutate.ts";
export * from "./empty.ts";
export * from "./platform.ts";
export * from "./layout.ts";
export * from "./tarball.ts";
export { DigestMismatchError } from "./_streams.ts";
