/**
 * Private: a pass-through stream that reports how many bytes went through it.
 *
 * @module
 */
import type { ContextProgress } from "./types.ts";

/**
 * Returns a TransformStream that passes chunks through unchanged and calls `onProgress` after each one.
 *
 * @param onProgress Receives the running byte count.
 * @param total Expected total, when known.
 * @returns The counting stream.
 */
export function progressStream(
  onProgress: ((p: ContextProgress) => void) | undefined,
  total?: number,
): TransformStream<Uint8Array, Uint8Array> {
  let bytes = 0;
  return new TransformStream({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      controller.enqueue(chunk);
      if (onProgress) onProgress(total === undefined ? { bytes } : { bytes, total });
    },
  });
}
