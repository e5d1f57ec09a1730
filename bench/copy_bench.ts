/**
 * Copy benchmark: a ~1 GiB multi-layer image (gzip layers of incompressible data) copied registry→registry and
 * registry→OCI layout by `kiln copy` and by `skopeo copy`, in the same run, alternated, best of N. Reports wall
 * time, peak RSS (GNU time) and the kiln/skopeo ratios. Targets: ≤ 1.0× skopeo wall time, ≤ 150 MB RSS.
 *
 * `kiln-semi1` is kiln run with `--v8-flags=--max-semi-space-size=1`: V8 then collects the short-lived chunk
 * buffers sooner, which halves peak RSS on big copies at no measurable time cost.
 *
 * Usage: deno run -A bench/copy_bench.ts [--size-mib 1024] [--layers 8] [--runs 3] [--json FILE]
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { randomFillSync } from "node:crypto";
import { startRegistry, type TestRegistry } from "../test/fixtures/registry.ts";
import { appendLayers, emptyImage, streamLayer, writeLayout } from "../lib/image/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "size-mib": { type: "string", default: "1024" },
    layers: { type: "string", default: "8" },
    runs: { type: "string", default: "3" },
    json: { type: "string" },
  },
});
const sizeMib = Number(values["size-mib"]);
const nLayers = Number(values.layers);
const runs = Number(values.runs);
const root = new URL("..", import.meta.url).pathname;
const deno = `${root}node_modules/.bin/deno`;
const work = mkdtempSync(join(Deno.env.get("BENCH_DIR") ?? tmpdir(), "kiln-copy-bench-"));

/** A tar with one file of `size` pseudo-random bytes, streamed. */
function randomTar(size: number, seed: number): ReadableStream<Uint8Array> {
  const header = new Uint8Array(512);
  const enc = new TextEncoder();
  const put = (s: string, off: number) => header.set(enc.encode(s), off);
  put(`data${seed}`, 0);
  put("0000644\0", 100);
  put("0000000\0", 108);
  put("0000000\0", 116);
  put(size.toString(8).padStart(11, "0") + "\0", 124);
  put("00000000000\0", 136);
  put("        ", 148);
  header[156] = 0x30;
  put("ustar\0", 257);
  put("00", 263);
  let sum = 0;
  for (const b of header) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  let left = size;
  let sentHeader = false;
  let trailer = false;
  const chunk = 1 << 20;
  return new ReadableStream({
    pull(ctl) {
      if (!sentHeader) {
        sentHeader = true;
        ctl.enqueue(header);
        return;
      }
      if (left > 0) {
        const n = Math.min(chunk, left);
        const b = new Uint8Array(n);
        randomFillSync(b);
        left -= n;
        ctl.enqueue(b);
        return;
      }
      if (!trailer) {
        trailer = true;
        const pad = (512 - (size % 512)) % 512;
        ctl.enqueue(new Uint8Array(pad + 1024));
        return;
      }
      ctl.close();
    },
  });
}

function timed(cmd: string, args: string[]): { wall: number; rssMb: number } {
  const t0 = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "%M", cmd, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed:\n${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  const rssKb = Number(lines[lines.length - 1]);
  return { wall, rssMb: rssKb / 1024 };
}

const regs: TestRegistry[] = [];
try {
  console.error(`building a ${sizeMib} MiB image with ${nLayers} layers in ${work} …`);
  const per = Math.floor((sizeMib * 1024 * 1024) / nLayers);
  // Random data differs per open: write the layout once (each layer compressed once, digests taken from the files).
  const layoutDir = join(work, "src-layout");
  const sl = Array.from({ length: nLayers }, (_, i) => streamLayer(randomTar(per, i), { level: 1 }));
  await writeLayout(layoutDir, appendLayers(emptyImage(), sl), { tags: ["v1"] });
  const src = await startRegistry();
  regs.push(src);
  spawnSync("skopeo", [
    "copy",
    "-q",
    "--dest-tls-verify=false",
    `oci:${layoutDir}:v1`,
    `docker://${src.host}/bench/big:v1`,
  ], {
    stdio: "inherit",
  });
  const srcRef = `docker://${src.host}/bench/big:v1`;
  const tools = ["kiln", "kiln-semi1", "skopeo"];
  const results: Record<string, { wall: number; rssMb: number }[]> = {};
  for (const t of tools) {
    results[`${t} reg→reg`] = [];
    results[`${t} reg→oci`] = [];
  }
  const kiln = (who: string, args: string[]) =>
    timed(deno, [
      "run",
      "-A",
      ...(who === "kiln-semi1" ? ["--v8-flags=--max-semi-space-size=1"] : []),
      `${root}cli/main.ts`,
      "copy",
      ...args,
    ]);
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? tools : [...tools].reverse();
    for (const who of order) {
      const dst = await startRegistry();
      try {
        const dstRef = `docker://${dst.host}/bench/copy:v1`;
        const r = who !== "skopeo"
          ? kiln(who, ["--insecure-registry", src.host, "--insecure-registry", dst.host, srcRef, dstRef])
          : timed("skopeo", ["copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", srcRef, dstRef]);
        results[`${who} reg→reg`]!.push(r);
        console.error(`${who} reg→reg run ${run + 1}: ${r.wall.toFixed(2)} s, ${r.rssMb.toFixed(0)} MB`);
      } finally {
        await dst.stop();
      }
    }
    for (const who of order) {
      const out = join(work, `out-${who}-${run}`);
      const r = who !== "skopeo"
        ? kiln(who, ["--insecure-registry", src.host, srcRef, `oci:${out}:v1`])
        : timed("skopeo", ["copy", "-q", "--src-tls-verify=false", srcRef, `oci:${out}:v1`]);
      results[`${who} reg→oci`]!.push(r);
      console.error(`${who} reg→oci run ${run + 1}: ${r.wall.toFixed(2)} s, ${r.rssMb.toFixed(0)} MB`);
      rmSync(out, { recursive: true, force: true });
    }
  }
  const best = (k: string) => Math.min(...results[k]!.map((r) => r.wall));
  const rss = (k: string) => Math.max(...results[k]!.map((r) => r.rssMb));
  const pair = (who: string, dir: string) => ({
    kiln: best(`${who} ${dir}`),
    skopeo: best(`skopeo ${dir}`),
    ratio: best(`${who} ${dir}`) / best(`skopeo ${dir}`),
    kilnRssMb: rss(`${who} ${dir}`),
    skopeoRssMb: rss(`skopeo ${dir}`),
  });
  const summary = {
    sizeMib,
    layers: nLayers,
    runs,
    regToReg: pair("kiln", "reg→reg"),
    regToOci: pair("kiln", "reg→oci"),
    regToRegSemi1: pair("kiln-semi1", "reg→reg"),
    regToOciSemi1: pair("kiln-semi1", "reg→oci"),
  };
  console.log(JSON.stringify(summary, null, 2));
  if (values.json) writeFileSync(values.json, JSON.stringify({ summary, results }, null, 2));
} finally {
  for (const r of regs) await r.stop();
  rmSync(work, { recursive: true, force: true });
}
