/**
 * Private adapter: a node:zlib Transform as a Web TransformStream, with backpressure both ways.
 *
 * @module
 */
import type { Transform } from "node:stream";

/**
 * Wraps a Node Transform (e.g. `zlib.createGzip()`) as a Web TransformStream.
 * Writes wait for the Node side's `drain`; output is enqueued as Node emits it.
 *
 * @param t The Node transform.
 * @param describe Wraps Node errors into user-facing ones.
 * @returns A TransformStream.
 */
export function fromNodeTransform(
  t: Transform,
  describe: (e: unknown) => unknown = (e) => e,
): TransformStream<Uint8Array, Uint8Array> {
  let failed: unknown;
  let ended!: Promise<void>;
  return new TransformStream<Uint8Array, Uint8Array>(
    {
      start(c) {
        t.on("data", (d: Uint8Array) => c.enqueue(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
        ended = new Promise<void>((resolve, reject) => {
          t.on("end", resolve);
          t.on("error", (e) => {
            failed = describe(e);
            reject(failed);
            try {
              c.error(failed);
            } catch { /* already errored */ }
          });
        });
        ended.catch(() => {});
      },
      transform(chunk) {
        if (failed) throw failed;
        if (t.write(chunk)) return;
        return new Promise<void>((resolve, reject) => {
          const onDrain = (): void => {
            t.off("error", onError);
            resolve();
          };
          const onError = (e: unknown): void => {
            t.off("drain", onDrain);
            reject(describe(e));
          };
          t.once("drain", onDrain);
          t.once("error", onError);
        });
      },
      flush() {
        t.end();
        return ended;
      },
      cancel() {
        t.destroy();
      },
    },
    undefined,
    { highWaterMark: 4 },
  );
}
