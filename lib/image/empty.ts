/**
 * The empty (`scratch`) image.
 *
 * @module
 */
import type { Image, Platform } from "./types.ts";
import { imageFromParts } from "./image.ts";
import { MediaTypes } from "./media_types.ts";

/** Options for {@linkcode emptyImage}. */
export interface EmptyImageOptions {
  /** Manifest flavour (default `oci`). */
  format?: "oci" | "docker";
  /** Platform recorded in the config (default linux/amd64). */
  platform?: Platform;
}

/**
 * An image with no layers and a minimal config (`FROM scratch`).
 *
 * @param opts Format and platform.
 * @returns The image.
 *
 * @example Usage
 * ```ts
 * import { emptyImage } from "./empty.ts";
 * console.assert((await emptyImage().layers()).length === 0);
 * ```
 */
export function emptyImage(opts: EmptyImageOptions = {}): Image {
  const p = opts.platform ?? { os: "linux", architecture: "amd64" };
  return imageFromParts({
    config: {
      architecture: p.architecture,
      os: p.os,
      ...(p.variant ? { variant: p.variant } : {}),
      config: {},
      rootfs: { type: "layers", diff_ids: [] },
    },
    layers: [],
    mediaType: opts.format === "docker" ? MediaTypes.DOCKER_MANIFEST : MediaTypes.OCI_MANIFEST,
  });
}
