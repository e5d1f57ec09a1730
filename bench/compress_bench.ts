/**
 * Micro-benchmarks of layer compression on the same ~100 MB input (the first 100 MiB of
 * `tar -c /usr/lib/x86_64-linux-gnu`, or generated half-random data when that is smaller): kiln's block-parallel
 * gzip, in-thread block gzip, plain zlib gzip and zstd against `gzip -6`, `pigz -6` and `zstd -3`.
 * Fixtures go to a temp dir and are removed on exit. Run: `deno bench -A bench/compress_bench.ts`.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { createGzipStream, createZstdStream } from "../lib/compress/mod.ts";

const SIZE = 100 * 1024 * 1024;
const root = Deno.makeTempDirSync({ prefix: "kiln-compressbench-" });
const input = `${root}/in.tar`;
spawnSync("sh", ["-c", `tar -c /usr/lib/x86_64-linux-gnu 2>/dev/null | head -c ${SIZE} > '${input}'`]);
if (statSync(input).size < SIZE) {
  const buf = new Uint8Array(SIZE);
  let x = 1;
  for (let i = 0; i < SIZE; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf[i] = (i >> 12) & 1 ? x >>> 24 : 97 + ((x >>> 20) % 16);
  }
  writeFileSync(input, buf);
}
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

async function through(t: TransformStream<Uint8Array, Uint8Array>): Promise<void> {
  const f = await Deno.open(input);
  await f.readable.pipeThrough(t).pipeTo(new WritableStream());
}
const sh = (cmd: string) => () => void spawnSync("sh", ["-c", cmd]);
const opts = { n: 3, warmup: 1 };

Deno.bench({ name: "gzip -6 CLI", group: "gzip", baseline: true, ...opts, fn: sh(`gzip -6 -c '${input}' >/dev/null`) });
if (has("pigz")) {
  Deno.bench({ name: "pigz -6 CLI", group: "gzip", ...opts, fn: sh(`pigz -6 -c '${input}' >/dev/null`) });
}
Deno.bench({
  name: "kiln gzip block-parallel (default)",
  group: "gzip",
  ...opts,
  fn: async () => await through(createGzipStream()),
});
Deno.bench({
  name: "kiln gzip block, in-thread",
  group: "gzip",
  ...opts,
  fn: async () => await through(createGzipStream({ parallel: 0 })),
});
Deno.bench({
  name: "kiln gzip plain zlib stream",
  group: "gzip",
  ...opts,
  fn: async () => await through(createGzipStream({ parallel: false })),
});
if (has("zstd")) {
  Deno.bench({
    name: "zstd -3 CLI",
    group: "zstd",
    baseline: true,
    ...opts,
    fn: sh(`zstd -3 -q -c '${input}' >/dev/null`),
  });
}
Deno.bench({
  name: "kiln zstd level 3",
  group: "zstd",
  ...opts,
  fn: async () => await through(createZstdStream({ level: 3 })),
});
