/**
 * The streaming snapshotter against the filesystem itself: random trees changed at random, each diff's layer
 * applied (lib/fs/extract) to a copy that starts empty must give the tree again — with the walk listed one entry at a
 * time and in one go, with the native and the TS walker, and names whose order differs between UTF-16 and UTF-8.
 * And memory: a snapshot of ten times the files holds about the same memory.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createSnapshotter, type LayerDiff } from "../../../lib/fs/snapshot.ts";
import { extractLayer } from "../../../lib/fs/extract.ts";
import { createTsWalker } from "../../../lib/fs/walker_ts.ts";
import { createNativeWalker } from "../../../lib/fs/walker_native.ts";
import { loadAddon } from "../../../lib/fs/_addon.ts";
import type { DirListing, ListOptions, Walker } from "../../../lib/fs/types.ts";
import { TarWriterStream } from "../../../lib/tar/mod.ts";
import type { TarHeader } from "../../../lib/tar/types.ts";
import { assert, assertEquals } from "../../assert.ts";
import { isRoot, REPO_ROOT } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";

/** Names chosen so that sibling order, `-` and `.` before `/`, and UTF-16 vs UTF-8 order all matter. */
const NAMES = ["a", "a-c", "a.b", "a0", "b", "\u{1F600}", "\uE000", "z z"];

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every path below `root` with what a layer must carry: type, mode, owner, size, content hash, target, mtime. */
function describe(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const inodes = new Map<number, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(rel === "" ? root : `${root}/${rel}`).sort()) {
      const p = rel === "" ? name : `${rel}/${name}`;
      const abs = `${root}/${p}`;
      const st = lstatSync(abs);
      const owner = isRoot() ? ` ${st.uid}:${st.gid}` : "";
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.set(p, `dir ${mode}${owner}`);
        walk(p);
      } else if (st.isSymbolicLink()) {
        out.set(p, `symlink -> ${readlinkSync(abs)}${owner}`);
      } else {
        const hash = createHash("sha256").update(readFileSync(abs)).digest("hex").slice(0, 12);
        // A hardlink group: every member names the first path of the group in walk order.
        let group = "";
        if (st.nlink > 1) {
          const first = inodes.get(st.ino);
          if (first === undefined) inodes.set(st.ino, p);
          group = ` linked:${first ?? p}`;
        }
        out.set(p, `file ${mode}${owner} ${st.size} ${hash} ${Math.floor(st.mtimeMs / 1000)}${group}`);
      }
    }
  };
  walk("");
  return out;
}

/** All paths below `root` (relative): directories (with the root, ""), regular files, symlinks. */
function allPaths(root: string): { dirs: string[]; files: string[]; links: string[] } {
  const dirs: string[] = [""], files: string[] = [], links: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(rel === "" ? root : `${root}/${rel}`)) {
      const p = rel === "" ? name : `${rel}/${name}`;
      if (lstatSync(`${root}/${p}`).isDirectory()) {
        dirs.push(p);
        walk(p);
      } else if (!lstatSync(`${root}/${p}`).isSymbolicLink()) files.push(p);
      else links.push(p);
    }
  };
  walk("");
  return { dirs, files, links };
}

/** One random change to the tree (additions, deletions, emptied and re-made directories, type changes, links). */
function mutate(root: string, rnd: () => number): void {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const { dirs, files, links } = allPaths(root);
  const at = (d: string, name: string) => `${root}/${d === "" ? "" : d + "/"}${name}`;
  const op = Math.floor(rnd() * 12);
  const d = pick(dirs);
  const target = at(d, pick(NAMES));
  const free = !existsSync(target) && !isLink(target);
  switch (op) {
    case 0:
    case 1:
      if (free) writeFileSync(target, `content ${rnd()}\n`.repeat(1 + Math.floor(rnd() * 4)));
      break;
    case 2:
      if (free) mkdirSync(target);
      break;
    case 3:
      if (files.length) writeFileSync(`${root}/${pick(files)}`, `rewritten ${rnd()}`);
      break;
    case 4:
      if (files.length + links.length) rmSync(`${root}/${pick([...files, ...links])}`);
      break;
    case 5:
      if (dirs.length > 1) rmSync(`${root}/${pick(dirs.slice(1))}`, { recursive: true });
      break;
    case 6: { // rm -rf d && mkdir d (opaque), maybe with new content
      if (dirs.length < 2) break;
      const victim = pick(dirs.slice(1));
      rmSync(`${root}/${victim}`, { recursive: true });
      mkdirSync(`${root}/${victim}`);
      if (rnd() < 0.5) writeFileSync(`${root}/${victim}/${pick(NAMES)}`, "new");
      break;
    }
    case 7: // a file becomes a directory, or a directory a file
      if (files.length && rnd() < 0.5) {
        const f = pick(files);
        rmSync(`${root}/${f}`);
        mkdirSync(`${root}/${f}`);
        writeFileSync(`${root}/${f}/${pick(NAMES)}`, "was a file");
      } else if (dirs.length > 1) {
        const v = pick(dirs.slice(1));
        rmSync(`${root}/${v}`, { recursive: true });
        writeFileSync(`${root}/${v}`, "was a dir");
      }
      break;
    case 8:
      if (free) symlinkSync(pick(NAMES), target);
      break;
    case 9:
      if (files.length) {
        const f = `${root}/${pick(files)}`;
        if (!isLink(f)) chmodSync(f, rnd() < 0.5 ? 0o600 : 0o755);
      }
      break;
    case 10:
      if (free && files.length) {
        const f = `${root}/${pick(files)}`;
        if (!isLink(f)) linkSync(f, target);
      }
      break;
    case 11:
      if (free) {
        mkdirSync(`${target}/${pick(NAMES)}`, { recursive: true });
        writeFileSync(`${target}/${pick(NAMES)}.f`, "deep");
      }
      break;
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

async function headersOf(d: LayerDiff): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const e of d.entries({ mtime: 0 })) {
    out.push(e.header);
    await e.body?.cancel();
  }
  return out;
}

const addon = loadAddon();
const walkers: [string, () => Walker][] = [["ts", () => createTsWalker()]];
if (addon.ok) walkers.push(["native", () => createNativeWalker(addon.addon)]);
else console.error(`SKIP the native walker's snapshot cases: ${addon.reason}`);

for (const [name, make] of walkers) {
  Deno.test(`snapshots (${name} walker): random changes, each layer applied to a copy, give the tree again`, async () => {
    for (const seed of [1, 2, 3]) {
      const rnd = prng(seed);
      const root = tempDir("kiln-snapfuzz-");
      const copy = tempDir("kiln-snapfuzz-copy-");
      // One entry listed per walker call, and the whole tree at once: the same layers.
      const small = createSnapshotter({ root, walker: make(), stateDir: tempDir("kiln-snapstate-"), listBudget: 1 });
      const big = createSnapshotter({ root, walker: make(), stateDir: tempDir("kiln-snapstate-"), listBudget: 1e9 });
      await small.init({ empty: true });
      await big.init({ empty: true });
      for (let i = 0; i < 30; i++) mutate(root, rnd);
      for (let round = 0; round < 8; round++) {
        const a = await small.diff();
        const b = await big.diff();
        const ha = await headersOf(a);
        assertEquals(ha, await headersOf(b), `seed ${seed} round ${round}: budget 1 vs whole tree`);
        assertEquals([...a.changes()], [...b.changes()]);
        assertEquals(a.entryCount, ha.length);
        // Archive order: sorted by path as strings compare, whiteouts first in their directory.
        const key = (p: string) => p.replace(/(^|\/)\.wh\./, "$1\u0000");
        for (let k = 1; k < ha.length; k++) {
          assert(key(ha[k - 1]!.path) < key(ha[k]!.path), `order: ${ha[k - 1]!.path} before ${ha[k]!.path}`);
        }
        await extractLayer(a.entries().pipeThrough(new TarWriterStream()), copy);
        assertEquals(describe(copy), describe(root), `seed ${seed} round ${round}: the copy differs from the tree`);
        const n = 1 + Math.floor(rnd() * 6);
        for (let i = 0; i < n; i++) mutate(root, rnd);
      }
    }
  });
}

if (addon.ok) {
  Deno.test("snapshots: the native and the TS walker give the same layers for names UTF-8 and UTF-16 order differently", async () => {
    const root = tempDir("kiln-snaporder-");
    for (const n of NAMES) {
      mkdirSync(`${root}/${n}`);
      for (const m of NAMES) writeFileSync(`${root}/${n}/${m}`, m);
    }
    const layers: string[][] = [];
    for (const w of [createTsWalker(), createNativeWalker(addon.addon)]) {
      const s = createSnapshotter({ root, walker: w, stateDir: tempDir("kiln-snapstate-"), listBudget: 3 });
      await s.init({ empty: true });
      layers.push((await headersOf(await s.diff())).map((h) => h.path));
    }
    assertEquals(layers[0], layers[1]);
    // Plain string order of whole paths: "a-c/…" before "a.b" before "a/…".
    assertEquals(layers[0]!.slice(0, 4), ["a", "a-c", "a-c/a", "a-c/a-c"]);
    const at = (p: string) => layers[0]!.indexOf(p);
    assert(at("a-c/z z") < at("a.b") && at("a.b") < at("a/a") && at("\u{1F600}") < at("\uE000"));
  });
}

/** A walker that refuses whole-tree walks and records what each listing returned. */
function listingOnly(inner: Walker, seen: number[]): Walker {
  return {
    name: inner.name,
    supportsXattrs: inner.supportsXattrs,
    walk: () => Promise.reject(new Error("the snapshotter walked the whole tree at once")),
    async list(root: string, dirs: readonly string[], options: ListOptions): Promise<DirListing> {
      const l = await inner.list(root, dirs, options);
      seen.push(l.walk.count);
      return l;
    },
  };
}

Deno.test("snapshots list the tree a budget at a time, and hold about the same memory for ten times the files", async () => {
  const seen: number[] = [];
  const root = tempDir("kiln-snapbudget-");
  for (let d = 0; d < 40; d++) {
    mkdirSync(`${root}/d${d}`);
    for (let f = 0; f < 50; f++) writeFileSync(`${root}/d${d}/f${f}`, "x");
  }
  const s = createSnapshotter({
    root,
    walker: listingOnly(createTsWalker(), seen),
    stateDir: tempDir("kiln-snapstate-"),
    listBudget: 100,
  });
  await s.init({ empty: true });
  const d = await s.diff();
  assertEquals(d.counts.added, 40 + 40 * 50);
  assert(seen.length >= 20, `expected many listings, got ${seen.length}`);
  assert(Math.max(...seen) <= 100 + 128 * 50, `a listing of ${Math.max(...seen)} entries`);

  // Live memory (after a collection) at every listing and every 5,000 layer entries, in a process of its own, for
  // 10,000 and 100,000 files: what the snapshot holds, not what the collector has yet to free.
  const script = `${tempDir("kiln-snapmem-")}/mem.ts`;
  writeFileSync(
    script,
    `import { createSnapshotter } from "${REPO_ROOT}/lib/fs/snapshot.ts";
import { loadWalker } from "${REPO_ROOT}/lib/fs/walker.ts";
const [root, state] = Deno.args;
const gc = (globalThis as unknown as { gc: () => void }).gc;
let peak = 0;
const sample = () => { gc(); const m = Deno.memoryUsage(); peak = Math.max(peak, m.heapUsed + m.external); };
const inner = loadWalker();
const walker = { ...inner, list: async (r: string, d: readonly string[], o: Parameters<typeof inner.list>[2]) => {
  const l = await inner.list(r, d, o);
  sample();
  return l;
} };
const s = createSnapshotter({ root, walker, stateDir: state });
await s.init({ empty: true });
const d = await s.diff();
let n = 0;
for await (const e of d.entries()) { n++; await e.body?.cancel(); if (n % 5000 === 0) sample(); }
await s.diff(); // a second walk, against the baseline on disk
console.log(JSON.stringify({ n, peak, rss: Deno.memoryUsage().rss }));
`,
  );
  const measure = (files: number) => {
    const tree = tempDir("kiln-snapmem-tree-");
    const py = `import os,sys
r=sys.argv[1]; n=int(sys.argv[2])
for d in range(n//100):
    p=os.path.join(r,"d%03d"%(d//100),"s%02d"%(d%100)); os.makedirs(p)
    for f in range(100): open(os.path.join(p,"file-with-a-longer-name-%03d"%f),"w").close()`;
    const made = spawnSync("python3", ["-c", py, tree, String(files)]);
    assertEquals(made.status, 0, String(made.stderr));
    const args = ["run", "-A", "--no-check", "--v8-flags=--expose-gc", script, tree, tempDir("kiln-snapstate-")];
    const r = spawnSync(Deno.execPath(), args, { encoding: "utf8" });
    assertEquals(r.status, 0, r.stderr);
    rmSync(tree, { recursive: true, force: true });
    return JSON.parse(r.stdout.trim().split("\n").pop()!) as { n: number; peak: number; rss: number };
  };
  const a = measure(10_000), b = measure(100_000);
  const mib = (x: number) => (x / 1048576).toFixed(1);
  console.error(
    `snapshot live memory (heap + external): 10k files ${mib(a.peak)} MiB (RSS ${mib(a.rss)}), 100k files ${
      mib(b.peak)
    } MiB (RSS ${mib(b.rss)})`,
  );
  assert(a.n > 10_000 && b.n > 100_000);
  // The whole-walk snapshotter held ~300 B per file: +26 MiB here. Flat means within a few MiB of listing budget.
  assert(b.peak - a.peak < 8 * 1048576, `memory grew by ${mib(b.peak - a.peak)} MiB`);
});
