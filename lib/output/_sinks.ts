/**
 * Private: the registry and tarball sinks, over lib/registry's push and lib/image's docker-archive writer.
 *
 * @module
 */
import { type Image, type ImageIndex, writeDockerArchive } from "../image/mod.ts";
import { pushImage as registryPush, type PushOptions, type Reference } from "../registry/mod.ts";

/**
 * Pushes `image` to every reference (blobs first, shared by mounting, then one manifest PUT per tag).
 *
 * @param refs Destinations.
 * @param image The image (or index).
 * @param opts Registry options.
 * @returns The references written (`registry/repo:tag@digest`).
 */
export async function pushImage(refs: Reference[], image: Image | ImageIndex, opts: PushOptions): Promise<string[]> {
  const r = await registryPush(refs, image, opts);
  return r.references;
}

/**
 * Writes a `docker save` tarball tagged with `refs` (untagged when there are none), atomically (temp file +
 * rename; parent directories are created).
 *
 * @param path File path.
 * @param image The image (or index).
 * @param refs Tags.
 * @param signal Abort signal.
 */
export async function writeTarball(path: string, image: Image, refs: Reference[], signal?: AbortSignal): Promise<void> {
  const tags = refs.map((r) => `${r.registry}/${r.repository}:${r.tag ?? "latest"}`);
  await writeDockerArchive(path, [{ image, tags }], signal ? { signal } : {});
}
