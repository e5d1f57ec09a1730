/**
 * Bounded concurrency over a list: {@linkcode mapLimit}.
 *
 * @module
 */

/**
 * Runs `fn` over `items` with at most `limit` in flight; rejects with the first failure, starting no new item
 * after it. With `settle`, it rejects only once the items in flight have finished too (so what they clean up
 * after a failure is cleaned up before the caller goes on).
 *
 * @param items The inputs.
 * @param limit Most calls of `fn` running at once (at least 1).
 * @param fn Called with each item and its index.
 * @param options `settle`: wait for the calls in flight before rejecting.
 * @returns The results, in the order of `items`.
 *
 * @example Usage
 * ```ts
 * import { mapLimit } from "./map_limit.ts";
 * const out = await mapLimit([1, 2, 3], 2, (n) => Promise.resolve(n * 2));
 * console.assert(out.join() === "2,4,6");
 * ```
 */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (t: T, i: number) => Promise<R>,
  options: { settle?: boolean } = {},
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  async function worker() {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  }
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  if (!options.settle) {
    await Promise.all(workers);
    return out;
  }
  const results = await Promise.allSettled(workers);
  const bad = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (bad) throw bad.reason;
  return out;
}
