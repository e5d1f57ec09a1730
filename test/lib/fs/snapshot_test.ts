import { chmodSync, linkSync, mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createSnapshotter, type LayerDiff, type SnapshotMode } from "../../../lib/fs/snapshot.ts";
import { createTsWalker } from "../../../lib/fs/walker_ts.ts";
import { trySyscalls } from "../../../lib/fs/syscalls.ts";
import { xattrReaderOf } from "../../../lib/fs/walker.ts";
import type { TarHeader } from "../../../lib/tar/types.ts";
import { assert, assertEquals } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { TarWriterStream } from "../../../lib/tar/mod.ts";
import { compressLayer } from "../../../lib/compress/mod.ts";
import { type ChunkPool, createChunkPool } from "../../../lib/util/mod.ts";

/** The diff's changes as sorted lists of paths per kind. */
function lists(d: LayerDiff): { added: string[]; modified: string[]; deleted: string[]; opaque: string[] } {
  const out = { added: [] as string[], modified: [] as string[], deleted: [] as string[], opaque: [] as string[] };
  for (const c of d.changes()) out[c.kind].push(c.path);
  for (const l of Object.values(out)) l.sort();
  return out;
}

async function headers(diff: LayerDiff, mtime?: number): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const e of diff.entries(mtime === undefined ? {} : { mtime })) {
    out.push(e.header);
    if (e.body) await e.body.cancel();
  }
  return out;
}

function tree(): string {
  const root = tempDir("kiln-snap-");
  mkdirSync(`${root}/etc/sub`, { recursive: true });
  writeFileSync(`${root}/etc/passwd`, "root:x:0:0::/root:/bin/sh\n");
  writeFileSync(`${root}/etc/sub/a`, "a");
  writeFileSync(`${root}/etc/sub/b`, "b");
  mkdirSync(`${root}/usr/bin`, { recursive: true });
  writeFileSync(`${root}/usr/bin/tool`, "#!/bin/sh\n");
  symlinkSync("tool", `${root}/usr/bin/link`);
  return root;
}

async function snap(mode: SnapshotMode = "full") {
  const root = tree();
  const s = createSnapshotter({ stateDir: tempDir("kiln-snapstate-"), root, walker: createTsWalker(), mode });
  await s.init();
  return { root, s };
}

Deno.test("Snapshotter.diff() finds nothing after no change", async () => {
  for (const mode of ["full", "redo", "time"] as const) {
    const { root, s } = await snap(mode);
    const d = await s.diff();
    assert(
      d.empty,
      `${mode}: expected empty, got ${JSON.stringify([lists(d).added, lists(d).modified, lists(d).deleted])}`,
    );
    assertEquals(d.entryCount, 0);
    rmSync(root, { recursive: true });
  }
});

Deno.test("Snapshotter.diff() writes additions with their parent directories in sorted order", async () => {
  const { root, s } = await snap();
  mkdirSync(`${root}/opt/app`, { recursive: true });
  writeFileSync(`${root}/opt/app/z`, "zz");
  writeFileSync(`${root}/etc/sub/c`, "c");
  const d = await s.diff();
  const h = await headers(d);
  assertEquals(h.map((x) => x.path), ["etc", "etc/sub", "etc/sub/c", "opt", "opt/app", "opt/app/z"]);
  assertEquals(h[5]!.size, 2);
  assertEquals(h[4]!.type, "dir");
  assertEquals(lists(d).added, ["etc/sub/c", "opt", "opt/app", "opt/app/z"]);
  rmSync(root, { recursive: true });
});

Deno.test("Snapshotter.diff() sees content, mode and mtime changes; time mode sees only mtime", async () => {
  for (const mode of ["full", "redo", "time"] as const) {
    const { root, s } = await snap(mode);
    chmodSync(`${root}/etc/sub/a`, 0o4755);
    writeFileSync(`${root}/usr/bin/tool`, "#!/bin/xx\n"); // same size, new mtime
    const d = await s.diff();
    if (mode === "time") assertEquals(lists(d).modified, ["usr/bin", "usr/bin/tool"].filter((p) => p !== "usr/bin"));
    else {
      assertEquals(lists(d).modified, ["etc/sub/a", "usr/bin/tool"]);
      const h = await headers(d);
      assertEquals(h.find((x) => x.path === "etc/sub/a")!.mode, 0o4755);
    }
    rmSync(root, { recursive: true });
  }
});

Deno.test("Snapshotter.diff() in full mode catches a same-size rewrite that restores mtime", async () => {
  const { root, s } = await snap("full");
  const f = `${root}/etc/passwd`;
  const st = Deno.lstatSync(f);
  writeFileSync(f, "root:x:0:0::/root:/bin/XX\n");
  utimesSync(f, st.atime!, st.mtime!);
  const d = await s.diff();
  assertEquals(lists(d).modified, ["etc/passwd"]);
  rmSync(root, { recursive: true });
});

Deno.test("Snapshotter.diff() writes one whiteout per deleted subtree, before siblings", async () => {
  const { root, s } = await snap();
  rmSync(`${root}/etc/sub`, { recursive: true });
  rmSync(`${root}/usr/bin/link`);
  const d = await s.diff();
  const h = await headers(d);
  assertEquals(h.map((x) => x.path), ["etc", "etc/.wh.sub", "usr", "usr/bin", "usr/bin/.wh.link"]);
  assertEquals(lists(d).deleted, ["etc/sub", "usr/bin/link"]);
  const wh = h[1]!;
  assertEquals([wh.type, wh.size, wh.mode], ["file", 0, 0]);
  rmSync(root, { recursive: true });
});

Deno.test("Snapshotter.diff() writes no child whiteouts when a directory becomes a file or symlink", async () => {
  const { root, s } = await snap();
  rmSync(`${root}/etc/sub`, { recursive: true });
  writeFileSync(`${root}/etc/sub`, "now a file");
  rmSync(`${root}/usr/bin`, { recursive: true });
  symlinkSync("/bin", `${root}/usr/bin`);
  const d = await s.diff();
  const h = await headers(d);
  assertEquals(h.map((x) => `${x.path}:${x.type}`), ["etc:dir", "etc/sub:file", "usr:dir", "usr/bin:symlink"]);
  assertEquals(h[3]!.linkname, "/bin");
  rmSync(root, { recursive: true });
});

/** Layer bytes of one change applied to a fresh tree, with every mtime pinned (as `--reproducible` does). */
async function layerOf(change: (root: string) => void): Promise<{ h: TarHeader[]; d: LayerDiff }> {
  const { root, s } = await snap();
  change(root);
  const d = await s.diff();
  const h = await headers(d, 0);
  rmSync(root, { recursive: true });
  return { h, d };
}

Deno.test("Snapshotter.diff() writes an opaque whiteout for a directory whose children are all gone, whatever its inode", async () => {
  // The same visible change three ways: the directory keeps its inode, gets a new one while the old one still
  // exists (so the number cannot be reused), or is removed and made again (the filesystem may reuse the number).
  const emptied = await layerOf((root) => {
    rmSync(`${root}/etc/sub/a`);
    rmSync(`${root}/etc/sub/b`);
    writeFileSync(`${root}/etc/sub/c`, "c");
  });
  const renamed = await layerOf((root) => {
    renameSync(`${root}/etc/sub`, `${root}/old`);
    mkdirSync(`${root}/etc/sub`);
    writeFileSync(`${root}/etc/sub/c`, "c");
    rmSync(`${root}/old`, { recursive: true });
  });
  const recreated = await layerOf((root) => {
    rmSync(`${root}/etc/sub`, { recursive: true });
    mkdirSync(`${root}/etc/sub`);
    writeFileSync(`${root}/etc/sub/c`, "c");
  });
  assertEquals(emptied.h.map((x) => x.path), ["etc", "etc/sub", "etc/sub/.wh..wh..opq", "etc/sub/c"]);
  assertEquals(lists(emptied.d).opaque, ["etc/sub"]);
  assertEquals(renamed.h, emptied.h);
  assertEquals(recreated.h, emptied.h);
});

Deno.test("Snapshotter.diff() writes per-child whiteouts when some of a re-created directory's children remain", async () => {
  const kept = await layerOf((root) => rmSync(`${root}/etc/sub/b`));
  const replaced = await layerOf((root) => {
    renameSync(`${root}/etc/sub`, `${root}/old`);
    mkdirSync(`${root}/etc/sub`);
    writeFileSync(`${root}/etc/sub/a`, "a");
    rmSync(`${root}/old`, { recursive: true });
  });
  assertEquals(kept.h.map((x) => x.path), ["etc", "etc/sub", "etc/sub/.wh.b"]);
  assertEquals(replaced.h.map((x) => x.path), ["etc", "etc/sub", "etc/sub/.wh.b", "etc/sub/a"]);
  assertEquals(lists(replaced.d).opaque, []);
});

Deno.test("Snapshotter.diff() never makes a directory opaque when an ignored path lies below it", async () => {
  const root = tree();
  mkdirSync(`${root}/etc/sub/mnt`);
  const s = createSnapshotter({
    stateDir: tempDir("kiln-snapstate-"),
    root,
    walker: createTsWalker(),
    ignore: ["etc/sub/mnt"],
  });
  await s.init();
  rmSync(`${root}/etc/sub/a`);
  rmSync(`${root}/etc/sub/b`);
  const d = await s.diff();
  assertEquals(lists(d).opaque, []);
  assertEquals((await headers(d)).map((x) => x.path), ["etc", "etc/sub", "etc/sub/.wh.a", "etc/sub/.wh.b"]);
  rmSync(root, { recursive: true });
});

Deno.test("Snapshotter.diff() keeps hardlink groups as hardlinks", async () => {
  const { root, s } = await snap();
  writeFileSync(`${root}/etc/h1`, "same inode");
  linkSync(`${root}/etc/h1`, `${root}/usr/h2`);
  const d = await s.diff();
  const h = await headers(d);
  const h1 = h.find((x) => x.path === "etc/h1")!;
  const h2 = h.find((x) => x.path === "usr/h2")!;
  assertEquals([h1.type, h1.size], ["file", 10]);
  assertEquals([h2.type, h2.linkname, h2.size], ["hardlink", "etc/h1", 0]);
  // A new link to an existing, unchanged file brings the whole group in.
  linkSync(`${root}/etc/passwd`, `${root}/etc/pw2`);
  const h3 = await headers(await s.diff());
  assertEquals(h3.filter((x) => x.path.startsWith("etc/p")).map((x) => `${x.path}:${x.type}`), [
    "etc/passwd:file",
    "etc/pw2:hardlink",
  ]);
  rmSync(root, { recursive: true });
});

Deno.test("Snapshotter.diff() from an empty baseline yields the whole tree, deterministically", async () => {
  const root = tree();
  const a = createSnapshotter({
    stateDir: tempDir("kiln-snapstate-"),
    root,
    walker: createTsWalker(),
    ignore: ["usr/bin"],
  });
  await a.init({ empty: true });
  const ha = await headers(await a.diff(), 0);
  const b = createSnapshotter({
    stateDir: tempDir("kiln-snapstate-"),
    root,
    walker: createTsWalker(),
    ignore: ["usr/bin"],
  });
  await b.init({ empty: true });
  const hb = await headers(await b.diff(), 0);
  assertEquals(ha, hb);
  assertEquals(ha.map((x) => x.path), ["etc", "etc/passwd", "etc/sub", "etc/sub/a", "etc/sub/b", "usr"]);
  assert(ha.every((x) => x.mtime === 0));
  rmSync(root, { recursive: true });
});

Deno.test("Snapshotter layers keep a file's own xattrs and leave out the host's labels", async () => {
  const sc = trySyscalls();
  if (!sc) return console.error("SKIP xattr snapshot test: no xattr syscalls");
  const { root } = await snap();
  const s = createSnapshotter({
    stateDir: tempDir("kiln-snapstate-"),
    root,
    walker: createTsWalker(),
    xattrReader: xattrReaderOf(sc),
  });
  await s.init();
  writeFileSync(`${root}/etc/x`, "x");
  sc.lsetxattr(`${root}/etc/x`, "user.kept", new TextEncoder().encode("v"));
  let labelled = true;
  try {
    sc.lsetxattr(`${root}/etc/x`, "security.selinux", new TextEncoder().encode("system_u:object_r:tmp_t:s0"));
  } catch {
    labelled = false; // a filesystem or user that cannot set it: the user xattr is still checked
  }
  const h = (await headers(await s.diff())).find((x) => x.path === "etc/x")!;
  assertEquals(Object.keys(h.xattrs ?? {}), ["user.kept"]);
  if (!labelled) console.error("SKIP the security.selinux part: cannot set it here");
  rmSync(root, { recursive: true });
});

Deno.test("Snapshotter layers read through a chunk pool are the same bytes as without it, through a few buffers", async () => {
  const root = tree();
  // Large files (several pool chunks, a partial last one), small ones, a hardlink.
  const big = new Uint8Array(5 * 1024 * 1024 + 777);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  writeFileSync(`${root}/big1`, big);
  writeFileSync(`${root}/big2`, big.subarray(0, 3 * 1024 * 1024));
  linkSync(`${root}/big1`, `${root}/big1.link`);
  for (let i = 0; i < 50; i++) writeFileSync(`${root}/etc/f${i}`, `file ${i}\n`.repeat(i * 100));
  const layer = async (pool?: ChunkPool) => {
    const s = createSnapshotter({ stateDir: tempDir("kiln-snapstate-"), root, walker: createTsWalker() });
    await s.init({ empty: true });
    const diff = await s.diff();
    const tar = diff.entries({ mtime: 0, ...(pool ? { pool } : {}) }).pipeThrough(new TarWriterStream());
    const { stream, result } = compressLayer(tar, pool ? { pool } : {});
    for await (const chunk of stream) {
      chunk.fill(0x5a); // the consumer is done with it: reuse must not read these bytes
      pool?.give(chunk);
    }
    return await result;
  };
  const takes: ArrayBufferLike[] = [];
  const inner = createChunkPool((1 << 20) + (1 << 16));
  const pool: ChunkPool = {
    size: inner.size,
    take: () => {
      const b = inner.take();
      takes.push(b.buffer);
      return b;
    },
    give: (b) => inner.give(b),
  };
  const fresh = await layer();
  const pooled = await layer(pool);
  assertEquals(pooled, fresh);
  assert(takes.length >= 8, `only ${takes.length} takes`);
  assert(new Set(takes).size <= 16, `${new Set(takes).size} buffers for ${takes.length} takes`);
  rmSync(root, { recursive: true });
});
