/**
 * Snapshot benchmark: a 100,000-file rootfs, a change to one file, then a snapshot (walk + diff + layer entries),
 * against `find ROOT -printf` on the same tree in the same run. Prints JSON with best-of-N times and the ratio.
 *
 * Usage: deno run -A bench/build_snapshot_bench.ts [--files N] [--runs N] [--dir DIR] [--walker ts|native|auto]
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createSnapshotter } from "../lib/fs/snapshot.ts";
import { loadWalker, parseWalkerPreference } from "../lib/fs/walker.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    files: { type: "string", default: "100000" },
    runs: { type: "string", default: "5" },
    dir: { type: "string" },
    walker: { type: "string", default: "auto" },
  },
});
const files = Number(values.files);
const runs = Number(values.runs);
const base = values.dir ?? Deno.makeTempDirSync({ prefix: "kiln-snapbench-" });
const root = `${base}/rootfs`;
mkdirSync(root, { recursive: true });
const perDir = 100;
for (let d = 0; d * perDir < files; d++) {
  const dir = `${root}/d${Math.floor(d / 100)}/s${d % 100}`;
  mkdirSync(dir, { recursive: true });
  for (let f = 0; f < perDir && d * perDir + f < files; f++) writeFileSync(`${dir}/f${f}`, `${d}-${f}\n`);
}
const walker = loadWalker({ prefer: parseWalkerPreference(values.walker!) });
const snap = createSnapshotter({ root, walker, mode: "full", stateDir: `${base}/snapstate` });
await snap.init();

function findOnce(): number {
  const t = performance.now();
  const r = spawnSync("sh", ["-c", `find "${root}" -printf '%p %m %s %T@ %C@ %U %G %i %n\\n' >/dev/null`]);
  if (r.status !== 0) throw new Error(String(r.stderr));
  return performance.now() - t;
}
async function snapOnce(i: number): Promise<{ ms: number; entries: number }> {
  writeFileSync(`${root}/d0/s0/f0`, `changed ${i}\n`);
  const t = performance.now();
  const diff = await snap.diff();
  let n = 0;
  for await (const e of diff.entries()) {
    n++;
    if (e.body) await e.body.cancel();
  }
  return { ms: performance.now() - t, entries: n };
}
const findTimes: number[] = [], snapTimes: number[] = [];
let entries = 0;
for (let i = 0; i < runs; i++) {
  findTimes.push(findOnce());
  const s = await snapOnce(i);
  snapTimes.push(s.ms);
  entries = s.entries;
}
const best = (a: number[]) => Math.min(...a);
const result = {
  bench: "snapshot_100k",
  files,
  walker: walker.name,
  layerEntries: entries,
  findMs: Math.round(best(findTimes)),
  snapshotMs: Math.round(best(snapTimes)),
  ratio: Number((best(snapTimes) / best(findTimes)).toFixed(2)),
};
console.log(JSON.stringify(result));
if (!values.dir) rmSync(base, { recursive: true, force: true });
