/**
 * Micro-benchmarks of the tar writer and reader: 20,000 small files (0–4 KiB) read from disk into a tar stream
 * (kiln's TarWriterStream vs GNU `tar -cf`), and parsing the resulting archive (readTar vs `tar -tf`).
 * Fixtures are generated in a temp dir and removed on exit. Run: `deno bench -A bench/tar_bench.ts`.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { lstat, readFile } from "node:fs/promises";
import { readTar, type TarEntry, TarWriterStream } from "../lib/tar/mod.ts";

const FILES = 20_000;
const root = Deno.makeTempDirSync({ prefix: "kiln-tarbench-" });
const tree = `${root}/tree`;
const rels: string[] = [];
const dirs: string[] = [];
let seed = 42;
for (let d = 0; d < 200; d++) {
  const dir = `d${d}`;
  mkdirSync(`${tree}/${dir}`, { recursive: true });
  dirs.push(dir);
  for (let f = 0; f < FILES / 200; f++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const size = seed % 4097;
    const buf = new Uint8Array(size);
    for (let i = 0; i < size; i += 64) buf[i] = (seed >>> (i % 24)) & 0xff;
    writeFileSync(`${tree}/${dir}/f${f}`, buf);
    rels.push(`${dir}/f${f}`);
  }
}
const archive = `${root}/a.tar`;
spawnSync("tar", ["-C", tree, "-cf", archive, "."]);
const archiveBytes = Deno.readFileSync(archive);
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

/** Entries as a snapshotter would produce them: lstat + whole-file read, small contents passed as `data`. */
function* entries(): Generator<TarEntry> {
  for (const d of dirs) {
    const st = lstatSync(`${tree}/${d}`);
    yield { header: { path: d, type: "dir", mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: 0, size: 0 } };
  }
  for (const rel of rels) {
    const p = `${tree}/${rel}`;
    const st = lstatSync(p);
    const data = readFileSync(p);
    yield {
      header: {
        path: rel,
        type: "file",
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: 0,
        size: data.length,
      },
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  }
}

/** The same with one ReadableStream body per file (async reads), the general path. */
async function* streamEntries(): AsyncGenerator<TarEntry> {
  for (const d of dirs) {
    const st = await lstat(`${tree}/${d}`);
    yield { header: { path: d, type: "dir", mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: 0, size: 0 } };
  }
  for (const rel of rels) {
    const p = `${tree}/${rel}`;
    const [st, data] = await Promise.all([lstat(p), readFile(p)]);
    yield {
      header: {
        path: rel,
        type: "file",
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: 0,
        size: data.length,
      },
      body: ReadableStream.from([new Uint8Array(data.buffer, data.byteOffset, data.byteLength)]),
    };
  }
}

const memEntries = [...entries()];

Deno.bench({
  name: "GNU tar -cf (20k small files)",
  group: "write",
  baseline: true,
  n: 5,
  warmup: 1,
  fn: () => void spawnSync("sh", ["-c", `tar -C '${tree}' -cf - . | cat >/dev/null`]),
});
Deno.bench({
  name: "TarWriterStream (20k small files, lstatSync+readFileSync, data)",
  group: "write",
  n: 5,
  warmup: 1,
  fn: async () => {
    await ReadableStream.from(entries()).pipeThrough(new TarWriterStream()).pipeTo(new WritableStream());
  },
});
Deno.bench({
  name: "TarWriterStream (20k small files, async lstat+readFile, stream bodies)",
  group: "write",
  n: 3,
  warmup: 1,
  fn: async () => {
    await ReadableStream.from(streamEntries()).pipeThrough(new TarWriterStream()).pipeTo(new WritableStream());
  },
});
Deno.bench({
  name: "TarWriterStream (20k entries already in memory: tar encoding only)",
  group: "write",
  n: 5,
  warmup: 1,
  fn: async () => {
    await ReadableStream.from(memEntries).pipeThrough(new TarWriterStream()).pipeTo(new WritableStream());
  },
});
Deno.bench({
  name: "GNU tar -tf (20k entries)",
  group: "read",
  baseline: true,
  n: 5,
  warmup: 1,
  fn: () => void spawnSync("tar", ["-tf", archive], { stdio: "ignore" }),
});
Deno.bench({
  name: "readTar + drain bodies (20k entries, in memory)",
  group: "read",
  n: 5,
  warmup: 1,
  fn: async () => {
    for await (const e of readTar(ReadableStream.from([archiveBytes]))) {
      if (e.body) { for await (const _ of e.body) { /* drain */ } }
    }
  },
});
