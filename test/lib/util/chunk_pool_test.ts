import { createChunkPool } from "../../../lib/util/mod.ts";
import { assert, assertEquals, assertThrows } from "../../assert.ts";

Deno.test("createChunkPool() hands back what was given, whole, and never one buffer to two takers", () => {
  const pool = createChunkPool(4096, 2);
  const a = pool.take();
  const b = pool.take();
  assertEquals([a.byteLength, b.byteLength], [4096, 4096]);
  assert(a.buffer !== b.buffer);
  pool.give(a.subarray(0, 10)); // a prefix view counts
  const again = pool.take();
  assert(again.buffer === a.buffer);
  assertEquals(again.byteLength, 4096);
  // Given twice by mistake: taken once only.
  pool.give(b);
  pool.give(b);
  const t1 = pool.take();
  const t2 = pool.take();
  assert(t1.buffer === b.buffer && t2.buffer !== b.buffer);
});

Deno.test("createChunkPool() refuses strangers: other sizes, views from an offset, beyond its maximum", () => {
  const pool = createChunkPool(4096, 2);
  const foreign = new Uint8Array(8192);
  pool.give(foreign.subarray(0, 4096)); // right length, wrong buffer size
  const mine = pool.take();
  pool.give(mine.subarray(1)); // not from the first byte
  assert(pool.take().buffer !== mine.buffer);
  const [x, y, z] = [pool.take(), pool.take(), pool.take()];
  pool.give(x);
  pool.give(y);
  pool.give(z); // third: the pool keeps 2
  const got = new Set([pool.take().buffer, pool.take().buffer, pool.take().buffer]);
  assert(got.has(x.buffer) && got.has(y.buffer) && !got.has(z.buffer));
  assertThrows(() => createChunkPool(0), RangeError);
});
