/**
 * Micro-benchmarks of the walkers on a generated 10,000-entry tree: native (1 and 2 threads) vs TS (statx over
 * FFI, and node:fs). Run: `deno bench -A bench/walk_bench.ts` (or `bash bench/run.sh --micro`).
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { loadAddon } from "../lib/fs/_addon.ts";
import { createNativeWalker } from "../lib/fs/walker_native.ts";
import { createTsWalker } from "../lib/fs/walker_ts.ts";

const root = Deno.makeTempDirSync({ prefix: "kiln-walkbench-" });
for (let d = 0; d < 100; d++) {
  mkdirSync(`${root}/d${d % 10}/s${d}`, { recursive: true });
  for (let f = 0; f < 100; f++) writeFileSync(`${root}/d${d % 10}/s${d}/f${f}`, "x");
}
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

const addon = loadAddon();
const ts = createTsWalker();
const tsNode = createTsWalker({ lstat: "node-fs" });

Deno.bench({ name: "ts walker (statx FFI)", group: "walk", baseline: true, fn: async () => void await ts.walk(root) });
Deno.bench({ name: "ts walker (node:fs)", group: "walk", fn: async () => void await tsNode.walk(root) });
if (addon.ok) {
  const n1 = createNativeWalker(addon.addon, { threads: 1 });
  const n2 = createNativeWalker(addon.addon, { threads: 2 });
  Deno.bench({ name: "native walker, 1 thread", group: "walk", fn: async () => void await n1.walk(root) });
  Deno.bench({ name: "native walker, 2 threads", group: "walk", fn: async () => void await n2.walk(root) });
  Deno.bench({
    name: "native walker, 2 threads, readlinks+xattrs",
    group: "walk",
    fn: async () => void await n2.walk(root, { readlinks: true, xattrs: true }),
  });
}
