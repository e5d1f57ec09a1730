/**
 * kiln's end-to-end benchmark: generates its fixtures, measures kiln's hot paths against floors measured in the
 * same run (best of N, A/B alternated), prints every ratio, and with `--gate` exits 1 when a ratio is worse than
 * its threshold in bench/thresholds.json. Driven by bench/run.sh.
 *
 * Usage: deno run -A bench/e2e.ts [--short] [--gate] [--dir DIR] [--runs N] [--json FILE] [--only a,b]
 *
 * Ratios (lower is better unless marked ↑):
 * - walk_native, walk_ts: walk + lstat of the 100k-file tree vs `find ROOT -printf '%p %m %s %T@ %U %G %i %n\n'`
 * - snapshot_noop, snapshot_1change: `Snapshotter.diff()` (+ reading the changed entries) vs the same find floor
 * - hash_big ↑, hash_small ↑: sha256sum time / kiln time on the 500 MB tree and on 20k small files
 * - export_vs_gzip, export_vs_pigz: snapshot → tar → gzip -6 (+ sha256 digests) of the 500 MB tree vs
 *   `tar -cf - . | gzip -6` and `tar -cf - . | pigz -6`
 * - extract_vs_tar: gunzip + `extractLayer` of a .tar.gz of the small files and the 100 KiB files vs `tar -xzf`
 * - gzip_vs_zlib ↑, gzip_vs_pigz: kiln's layer gzip -6 (createGzipStream defaults: libdeflate blocks on the addon's
 *   threads when built) of 2:1-compressible data vs one node:zlib gzip stream (throughput ratio) and vs
 *   `pigz -6` of the same bytes from tmpfs; gzip_noise_vs_mixed: kiln on incompressible data / kiln on that data
 *   (the same size)
 * - copy_10k_vs_cp: COPY's file work (lib/copy `copyInto`) of 10,000 small files into a fresh dir vs `cp -a`
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { createGunzipStream } from "../lib/compress/gzip.ts";
import { loadAddon } from "../lib/fs/_addon.ts";
import { extractLayer } from "../lib/fs/extract.ts";
import { createTsHasher } from "../lib/fs/hasher_ts.ts";
import { createSnapshotter } from "../lib/fs/snapshot.ts";
import type { FileHasher, Walker } from "../lib/fs/types.ts";
import { createNativeHasher, createNativeWalker } from "../lib/fs/walker_native.ts";
import { createTsWalker } from "../lib/fs/walker_ts.ts";
import { TarWriterStream } from "../lib/tar/writer.ts";
import { copyInto } from "../lib/copy/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    short: { type: "boolean", default: false },
    gate: { type: "boolean", default: false },
    dir: { type: "string" },
    runs: { type: "string" },
    json: { type: "string" },
    only: { type: "string" },
    thresholds: { type: "string", default: new URL("./thresholds.json", import.meta.url).pathname },
    keep: { type: "boolean", default: false },
  },
});
const short = values.short!;
const mode = short ? "short" : "full";
const runs = Number(values.runs ?? (short ? 7 : 5));
const only = values.only ? new Set(values.only.split(",")) : undefined;
const want = (name: string) => only === undefined || only.has(name);
const SIZES = short
  ? { treeFiles: 50_000, smallFiles: 5_000, bigFiles: 4, bigFileMiB: 8, mediumFiles: 320 }
  : { treeFiles: 100_000, smallFiles: 20_000, bigFiles: 40, bigFileMiB: 10, mediumFiles: 1000 };

function has(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Fixtures go to tmpfs when there is one: ext4 here is noisy right after large deletions (field-notes.md). */
function pickBase(): string {
  if (values.dir) return values.dir;
  const shm = "/dev/shm";
  const df = spawnSync("df", ["-Pk", shm]).stdout?.toString().split("\n")[1]?.split(/\s+/);
  const freeKiB = Number(df?.[3] ?? 0);
  const parent = freeKiB > 2 * 1024 * 1024 ? shm : tmpdir();
  return Deno.makeTempDirSync({ dir: parent, prefix: "kiln-bench-" });
}

// ---- fixtures -------------------------------------------------------------------------------------------------

function xorshiftFill(buf: Uint8Array, seed: number): void {
  let x = seed | 1;
  const v = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
  for (let i = 0; i < v.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    v[i] = x >>> 0;
  }
}

/** 1 MiB chunks that gzip about 2:1 (half random, half text), different from each other. */
function chunks(n: number): Uint8Array[] {
  const text = new TextEncoder().encode(
    "lorem ipsum dolor sit amet, consectetur adipiscing elit; kiln builds container images without a daemon\n",
  );
  return Array.from({ length: n }, (_, k) => {
    const c = new Uint8Array(1 << 20);
    xorshiftFill(c, 0x9e3779b9 + k * 7919);
    for (let off = 0; off < c.length; off += 8192) {
      for (let j = 0; j < 4096; j++) c[off + j] = text[(j + k + off) % text.length]!;
    }
    return c;
  });
}

function makeTree(root: string, files: number): void {
  const perDir = 100;
  for (let d = 0; d * perDir < files; d++) {
    const dir = `${root}/d${Math.floor(d / 100)}/s${d % 100}`;
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < perDir && d * perDir + f < files; f++) {
      if (f === 99) symlinkSync(`f${f - 1}`, `${dir}/f${f}`);
      else writeFileSync(`${dir}/f${f}`, `${d}-${f}\n`.repeat(f % 7));
    }
  }
}

function makeSmall(root: string, files: number): string[] {
  const out: string[] = [];
  const c = new Uint8Array(4096);
  for (let i = 0; i < files; i++) {
    const dir = `${root}/g${Math.floor(i / 500)}`;
    if (i % 500 === 0) mkdirSync(dir, { recursive: true });
    xorshiftFill(c, i + 1);
    writeFileSync(`${dir}/s${i}`, c);
    out.push(`${dir}/s${i}`);
  }
  return out;
}

function makeBig(root: string): string[] {
  const out: string[] = [];
  const cs = chunks(8);
  mkdirSync(`${root}/big`, { recursive: true });
  for (let i = 0; i < SIZES.bigFiles; i++) {
    const p = `${root}/big/b${i}.bin`;
    const parts: Uint8Array[] = [];
    for (let m = 0; m < SIZES.bigFileMiB; m++) parts.push(cs[(i + m) % cs.length]!);
    writeFileSync(p, Buffer.concat(parts));
    out.push(p);
  }
  for (let i = 0; i < SIZES.mediumFiles; i++) {
    const dir = `${root}/med/m${Math.floor(i / 100)}`;
    if (i % 100 === 0) mkdirSync(dir, { recursive: true });
    const p = `${dir}/f${i}`;
    const c = cs[i % cs.length]!;
    writeFileSync(p, c.subarray((i * 4099) % (c.length - 102400), (i * 4099) % (c.length - 102400) + 102400));
    out.push(p);
  }
  return out;
}

// ---- measurement ----------------------------------------------------------------------------------------------

type Task = () => unknown;

async function time(f: Task): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

function sh(cmd: string): Task {
  return () => {
    const r = spawnSync("sh", ["-c", cmd], { stdio: ["ignore", "ignore", "pipe"] });
    if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}: ${r.stderr}`);
  };
}

/** Best-of-N of each task, alternating their order every round. Returns ms per task. */
async function bestOf(tasks: Task[], n = runs): Promise<number[]> {
  const best = tasks.map(() => Infinity);
  for (let round = 0; round < n; round++) {
    const order = round % 2 === 0 ? tasks.map((_, i) => i) : tasks.map((_, i) => tasks.length - 1 - i);
    for (const i of order) best[i] = Math.min(best[i]!, await time(tasks[i]!));
  }
  return best;
}

interface Metric {
  name: string;
  ratio: number;
  /** true when higher is better. */
  higherIsBetter: boolean;
  detail: string;
}

/** lib/compress's compressLayer, loaded by URL so this file type-checks and runs before lib/compress exists. */
type CompressLayer = (
  tar: ReadableStream<Uint8Array>,
  options: { compression: "gzip"; level: number },
) => { stream: ReadableStream<Uint8Array>; result: Promise<unknown> };

async function loadCompressLayer(): Promise<CompressLayer | undefined> {
  const url = new URL("../lib/compress/layer.ts", import.meta.url);
  try {
    const m = await import(url.href) as { compressLayer?: CompressLayer };
    return m.compressLayer;
  } catch (e) {
    notes.push(`lib/compress not loadable (${(e as Error).message.split("\n")[0]}): export metrics skipped`);
    return undefined;
  }
}

const metrics: Metric[] = [];
const notes: string[] = [];
const errors: string[] = [];

function record(name: string, ratio: number, higherIsBetter: boolean, detail: string): void {
  metrics.push({ name, ratio, higherIsBetter, detail });
  console.log(`${name.padEnd(20)} ${ratio.toFixed(3).padStart(7)}${higherIsBetter ? " ↑" : "  "}  ${detail}`);
}

const ms = (x: number) => `${x.toFixed(0)} ms`;

/** The gzip metrics (see the module doc): in-memory 1 MiB chunks, so only compression is timed. */
async function gzipBench(): Promise<void> {
  const { createGzipStream } = await import("../lib/compress/gzip.ts");
  const mib = short ? 48 : 128;
  const mixed = chunks(mib);
  const noise = Array.from({ length: mib }, (_, k) => {
    const c = new Uint8Array(1 << 20);
    xorshiftFill(c, 0x1234567 + k * 104729);
    return c;
  });
  const file = `${base}/gzip-input`;
  writeFileSync(file, Buffer.concat(mixed));
  const drain = (parts: Uint8Array[], plain = false) => () =>
    ReadableStream.from(parts).pipeThrough(createGzipStream(plain ? { level: 6, parallel: false } : { level: 6 }))
      .pipeTo(new WritableStream());
  const [k, z, p, n] = await bestOf(
    [drain(mixed), drain(mixed, true), sh(`pigz -6 -c '${file}' >/dev/null`), drain(noise)],
    Math.min(runs, 5),
  );
  rmSync(file, { force: true });
  const rate = (t: number) => `${(mib / (t / 1000)).toFixed(0)} MiB/s`;
  console.log(
    `  gzip -6 of ${mib} MiB (2:1): kiln ${rate(k!)}, node:zlib ${rate(z!)}, pigz ${rate(p!)}; noise: ${rate(n!)}`,
  );
  if (want("gzip_vs_zlib")) record("gzip_vs_zlib", z! / k!, true, `kiln ${ms(k!)} vs node:zlib gzip stream ${ms(z!)}`);
  if (want("gzip_vs_pigz")) record("gzip_vs_pigz", k! / p!, false, `kiln ${ms(k!)} vs pigz -6 ${ms(p!)}`);
  if (want("gzip_noise_vs_mixed")) {
    record("gzip_noise_vs_mixed", n! / k!, false, `kiln on incompressible ${ms(n!)} vs on 2:1 data ${ms(k!)}`);
  }
}

// ---- run ------------------------------------------------------------------------------------------------------

const base = pickBase();
const addon = loadAddon();
const nativeWalker: Walker | undefined = addon.ok ? createNativeWalker(addon.addon) : undefined;
const nativeHasher: FileHasher | undefined = addon.ok ? createNativeHasher(addon.addon) : undefined;
if (!addon.ok) notes.push(`native addon unavailable (${addon.reason}): native metrics skipped`);
const tsWalker = createTsWalker();
const tsHasher = createTsHasher();
const t0 = performance.now();
try {
  console.log(
    `kiln bench (${mode}, best of ${runs}, ${cpus().length} cores, fixtures in ${base}): ` +
      `tree ${SIZES.treeFiles} files, small ${SIZES.smallFiles} × 4 KiB, big ${SIZES.bigFiles} × ${SIZES.bigFileMiB} MiB + ` +
      `${SIZES.mediumFiles} × 100 KiB`,
  );
  const tree = `${base}/tree`;
  const needTree = ["walk_native", "walk_ts", "snapshot_noop", "snapshot_1change"].some(want);
  const needSmall = want("hash_small") || want("extract_vs_tar");
  const needBig = ["hash_big", "export_vs_gzip", "export_vs_pigz", "extract_vs_tar"].some(want);
  let tg = performance.now();
  if (needTree) makeTree(tree, SIZES.treeFiles);
  const small = needSmall ? makeSmall(`${base}/small`, SIZES.smallFiles) : [];
  const big = needBig ? makeBig(`${base}/bigtree`) : [];
  console.log(`fixtures generated in ${ms(performance.now() - tg)}`);
  tg = performance.now();

  const findCmd = `find '${tree}' -printf '%p %m %s %T@ %U %G %i %n\\n' >/dev/null`;
  if (needTree) {
    // Warm the dentry/inode caches once so every contender sees the same state.
    sh(findCmd)();
    await tsWalker.walk(tree);
  }
  if (want("walk_native") && nativeWalker) {
    const [k, f] = await bestOf([() => nativeWalker.walk(tree, { readlinks: true }), sh(findCmd)]);
    record("walk_native", k! / f!, false, `native walk+statx+readlink ${ms(k!)} vs find -printf ${ms(f!)}`);
  }
  if (want("walk_ts")) {
    const [k, f] = await bestOf([() => tsWalker.walk(tree, { readlinks: true }), sh(findCmd)]);
    record("walk_ts", k! / f!, false, `TS walk (statx over FFI) ${ms(k!)} vs find -printf ${ms(f!)}`);
  }
  const snapWalker = nativeWalker ?? tsWalker;
  if (want("snapshot_noop") || want("snapshot_1change")) {
    const snap = createSnapshotter({ root: tree, walker: snapWalker, mode: "full", stateDir: `${base}/snapstate` });
    await snap.init();
    if (want("snapshot_noop")) {
      const [k, f] = await bestOf([async () => {
        const d = await snap.diff();
        if (!d.empty) throw new Error(`no-op snapshot found changes: ${d.counts.added + d.counts.modified}`);
      }, sh(findCmd)]);
      record("snapshot_noop", k! / f!, false, `${snapWalker.name} no-op diff ${ms(k!)} vs find ${ms(f!)}`);
    }
    if (want("snapshot_1change")) {
      let i = 0;
      const [k, f] = await bestOf([async () => {
        writeFileSync(`${tree}/d0/s0/f1`, `changed ${i++}\n`);
        const d = await snap.diff();
        let n = 0;
        for await (const e of d.entries()) {
          n++;
          if (e.body) await e.body.pipeTo(new WritableStream());
        }
        if (d.counts.modified !== 1 || n < 1) throw new Error(`1-change snapshot saw ${d.counts.modified} changes`);
      }, sh(findCmd)]);
      record("snapshot_1change", k! / f!, false, `${snapWalker.name} diff + entries ${ms(k!)} vs find ${ms(f!)}`);
    }
  }
  const hasher = nativeHasher ?? tsHasher;
  if (want("hash_small") && has("sha256sum")) {
    const list = `${base}/small.list`;
    writeFileSync(list, small.join("\0"));
    const [k, f] = await bestOf([() => hasher.hashFiles(small), sh(`xargs -0 sha256sum < '${list}' >/dev/null`)]);
    record("hash_small", f! / k!, true, `${hasher.name} ${ms(k!)} vs sha256sum ${ms(f!)} (${small.length} × 4 KiB)`);
    if (nativeHasher) {
      const [t] = await bestOf([() => tsHasher.hashFiles(small)], Math.min(runs, 3));
      console.log(`  (TS hasher on the same files: ${ms(t!)})`);
    }
  }
  if (want("hash_big") && has("sha256sum")) {
    const list = `${base}/big.list`;
    writeFileSync(list, big.join("\0"));
    const mib = (SIZES.bigFiles * SIZES.bigFileMiB + SIZES.mediumFiles * 0.09765625).toFixed(0);
    const [k, f] = await bestOf([() => hasher.hashFiles(big), sh(`xargs -0 sha256sum < '${list}' >/dev/null`)]);
    record("hash_big", f! / k!, true, `${hasher.name} ${ms(k!)} vs sha256sum ${ms(f!)} (${mib} MiB)`);
    if (nativeHasher) {
      const [t] = await bestOf([() => tsHasher.hashFiles(big)], Math.min(runs, 3));
      console.log(`  (TS hasher on the same files: ${ms(t!)})`);
    }
  }
  const compressLayer = (want("export_vs_gzip") || want("export_vs_pigz")) ? await loadCompressLayer() : undefined;
  if (compressLayer && has("gzip")) {
    const root = `${base}/bigtree`;
    const exportOnce = async () => {
      const snap = createSnapshotter({ root, walker: snapWalker, mode: "full", stateDir: `${base}/snapstate-export` });
      await snap.init({ empty: true });
      const d = await snap.diff();
      const tar = d.entries().pipeThrough(new TarWriterStream());
      const { stream, result } = compressLayer(tar, { compression: "gzip", level: 6 });
      await Promise.all([stream.pipeTo(new WritableStream()), result]);
    };
    const exportRuns = short ? 2 : 3;
    const tasks: Task[] = [exportOnce, sh(`tar -C '${root}' -cf - . | gzip -6 >/dev/null`)];
    if (has("pigz")) tasks.push(sh(`tar -C '${root}' -cf - . | pigz -6 >/dev/null`));
    const [k, g, p] = await bestOf(tasks, exportRuns);
    if (want("export_vs_gzip")) {
      record("export_vs_gzip", k! / g!, false, `kiln snapshot→tar→gzip-6+digests ${ms(k!)} vs tar|gzip -6 ${ms(g!)}`);
    }
    if (want("export_vs_pigz")) {
      if (p === undefined) notes.push("pigz not installed: export_vs_pigz skipped");
      else record("export_vs_pigz", k! / p, false, `kiln ${ms(k!)} vs tar|pigz -6 ${ms(p)}`);
    }
  }
  const gzipMetrics = ["gzip_vs_zlib", "gzip_vs_pigz", "gzip_noise_vs_mixed"];
  if (gzipMetrics.some(want) && has("pigz")) await gzipBench();
  if (want("extract_vs_tar") && has("tar") && has("gzip")) {
    // A base-layer-like archive: the small files (4 KiB) and the 100 KiB files, gzip -6 by GNU tar.
    const archive = `${base}/extract.tar.gz`;
    sh(`tar -C '${base}' -czf '${archive}' small bigtree/med`)();
    const kilnOut = `${base}/x-kiln`;
    const tarOut = `${base}/x-tar`;
    const [k, g] = await bestOf([async () => {
      rmSync(kilnOut, { recursive: true, force: true });
      mkdirSync(kilnOut);
      const file = await Deno.open(archive);
      await extractLayer(file.readable.pipeThrough(createGunzipStream()), kilnOut);
    }, sh(`rm -rf '${tarOut}' && mkdir '${tarOut}' && tar -xzf '${archive}' -C '${tarOut}'`)]);
    record("extract_vs_tar", k! / g!, false, `kiln gunzip+extractLayer ${ms(k!)} vs tar -xzf ${ms(g!)}`);
  }
  if (want("copy_10k_vs_cp")) {
    // COPY's file work (lib/copy copyInto: resolve, create, copy, chown/chmod, times) of 10,000 2 KiB files in 20
    // directories into a fresh rootfs dir vs `cp -a` of the same tree; both remove the previous copy first.
    const src = `${base}/copy-src`;
    const c = new Uint8Array(2048);
    for (let i = 0; i < 10_000; i++) {
      if (i % 500 === 0) mkdirSync(`${src}/d${i / 500}`, { recursive: true });
      xorshiftFill(c, i + 7);
      writeFileSync(`${src}/d${Math.floor(i / 500)}/f${i}`, c);
    }
    const kOut = `${base}/copy-kiln`;
    const cOut = `${base}/copy-cp`;
    const [k, f] = await bestOf([async () => {
      rmSync(kOut, { recursive: true, force: true });
      mkdirSync(kOut);
      await copyInto({ srcRoot: src, sources: ["."], dest: "/app/", destRoot: kOut, keepOwnership: true, now: 0 });
    }, sh(`rm -rf '${cOut}' && mkdir -p '${cOut}' && cp -a '${src}' '${cOut}/app'`)]);
    record("copy_10k_vs_cp", k! / f!, false, `kiln copyInto ${ms(k!)} vs cp -a ${ms(f!)} (10,000 × 2 KiB)`);
  }
  console.log(`measured in ${ms(performance.now() - tg)}; total ${ms(performance.now() - t0)}`);
} catch (e) {
  errors.push((e as Error).message ?? String(e));
  console.log(`bench error (remaining metrics not measured): ${(e as Error).message ?? e}`);
} finally {
  if (!values.keep && !values.dir) rmSync(base, { recursive: true, force: true });
}
for (const n of notes) console.log(`note: ${n}`);

// ---- gate -----------------------------------------------------------------------------------------------------

interface Threshold {
  max?: number;
  min?: number;
}
const thresholds = JSON.parse(readFileSync(values.thresholds!, "utf8")) as Record<string, unknown>;
const table = (thresholds[mode] ?? {}) as Record<string, Threshold>;
let failed = errors.length;
for (const m of metrics) {
  const t = table[m.name];
  if (!t) continue;
  const bad = (t.max !== undefined && m.ratio > t.max) || (t.min !== undefined && m.ratio < t.min);
  if (bad) {
    failed++;
    console.log(
      `GATE FAIL ${m.name}: ${m.ratio.toFixed(3)} (threshold ${t.max !== undefined ? `≤ ${t.max}` : `≥ ${t.min}`})`,
    );
  }
}
if (values.json) {
  writeFileSync(values.json, JSON.stringify({ mode, runs, metrics, notes, errors, failed }, null, 2) + "\n");
}
if (values.gate) {
  console.log(failed ? `benchmark gate: ${failed} ratio(s) worse than thresholds` : "benchmark gate: ok");
  if (failed) Deno.exit(1);
}
