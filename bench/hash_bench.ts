/**
 * Micro-benchmarks of file hashing: 2,000 × 4 KiB files and one 64 MiB file, TS (node:crypto) vs native
 * (OpenSSL via dlopen, thread pool). Run: `deno bench -A bench/hash_bench.ts`.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { loadAddon } from "../lib/fs/_addon.ts";
import { createTsHasher } from "../lib/fs/hasher_ts.ts";
import { createNativeHasher } from "../lib/fs/walker_native.ts";

const root = Deno.makeTempDirSync({ prefix: "kiln-hashbench-" });
const small: string[] = [];
const buf = new Uint8Array(4096);
for (let i = 0; i < 2000; i++) {
  buf[0] = i & 0xff;
  buf[1] = i >> 8;
  writeFileSync(`${root}/s${i}`, buf);
  small.push(`${root}/s${i}`);
}
const big = [`${root}/big`];
writeFileSync(big[0]!, new Uint8Array(64 << 20).fill(0x5a));
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

const addon = loadAddon();
const ts = createTsHasher();
Deno.bench({
  name: "ts: 2000 × 4 KiB",
  group: "small",
  baseline: true,
  fn: async () => void await ts.hashFiles(small),
});
Deno.bench({ name: "ts: 64 MiB", group: "big", baseline: true, fn: async () => void await ts.hashFiles(big) });
if (addon.ok) {
  const n1 = createNativeHasher(addon.addon, { threads: 1 });
  const n4 = createNativeHasher(addon.addon, { threads: 4 });
  Deno.bench({ name: "native 1 thread: 2000 × 4 KiB", group: "small", fn: async () => void await n1.hashFiles(small) });
  Deno.bench({
    name: "native 4 threads: 2000 × 4 KiB",
    group: "small",
    fn: async () => void await n4.hashFiles(small),
  });
  Deno.bench({ name: "native: 64 MiB", group: "big", fn: async () => void await n1.hashFiles(big) });
}
