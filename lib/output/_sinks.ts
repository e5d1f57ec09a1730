/**
 * Private: the registry and tarball sinks, over lib/registry's push and lib/image's docker-archive writer.
 *
 * @module
 */
import { KilnError } from "../util/errors.ts";
import type { Image } from "../image/types.ts";
import type { Reference } from "../registry/reference.ts";
import type { RegistryOptions } from "../registry/options.ts";

/**
 * Pushes `image` to `ref`.
 *
 * @param ref Destination.
 * @param image The image.
 * @param opts Registry options.
 */
export function pushImage(ref: Reference, image: Image, opts: RegistryOptions): Promise<void> {
  void ref;
  void image;
  void opts;
  return Promise.reject(new KilnError("Pushing to a registry is not available in this build of kiln yet"));
}

/**
 * Writes a `docker save` tarball tagged with `refs`.
 *
 * @param path File path.
 * @param image The image.
 * @param refs Tags.
 * @param signal Abort signal.
 */
export function writeTarball(path: string, image: Image, refs: Reference[], signal?: AbortSignal): Promise<void> {
  void path;
  void image;
  void refs;
  void signal;
  return Promise.reject(new KilnError("--tar-path is not available in this build of kiln yet"));
}
