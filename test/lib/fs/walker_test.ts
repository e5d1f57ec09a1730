/**
 * Contract tests for every Walker: the same cases run against the TS walker (statx over FFI, and node:fs) and the
 * native addon, with `find` as the independent oracle for metadata.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, linkSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../assert.ts";
import { hasCommand, isRoot, REPO_ROOT, skipUnless } from "../../fixtures/tools.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { AbortedError } from "../../../lib/util/errors.ts";
import { createLogger } from "../../../lib/util/logger.ts";
import { ADDON_PATH, loadAddon } from "../../../lib/fs/_addon.ts";
import { createSyscalls, S_IF, splitDev, trySyscalls } from "../../../lib/fs/syscalls.ts";
import { FileType, type Walker, type WalkResult } from "../../../lib/fs/types.ts";
import { createNativeWalker } from "../../../lib/fs/walker_native.ts";
import { createTsWalker } from "../../../lib/fs/walker_ts.ts";
import { loadWalker, xattrReaderOf } from "../../../lib/fs/walker.ts";
import { createSnapshotter, type LayerDiff } from "../../../lib/fs/snapshot.ts";
import { tempDir } from "../../fixtures/temp.ts";

/** The diff's changes as sorted lists of paths per kind. */
function lists(d: LayerDiff): { added: string[]; modified: string[]; deleted: string[]; opaque: string[] } {
  const out = { added: [] as string[], modified: [] as string[], deleted: [] as string[], opaque: [] as string[] };
  for (const c of d.changes()) out[c.kind].push(c.path);
  for (const l of Object.values(out)) l.sort();
  return out;
}

const addon = loadAddon();
const ffi = trySyscalls({ prefer: "ffi" });

interface Candidate {
  walker: Walker;
  /** Whether mtime/ctime are nanosecond-exact (node:fs under Deno is not). */
  nsTimes: boolean;
}

function candidates(): Candidate[] {
  const out: Candidate[] = [
    { walker: createTsWalker(ffi ? { xattrReader: xattrReaderOf(ffi) } : {}), nsTimes: ffi !== undefined },
    { walker: { ...createTsWalker({ lstat: "node-fs" }), name: "ts(node:fs)" }, nsTimes: false },
  ];
  if (addon.ok) {
    out.push({ walker: createNativeWalker(addon.addon), nsTimes: true });
    out.push({
      walker: { ...createNativeWalker(addon.addon, { threads: 1 }), name: "native(1 thread)" },
      nsTimes: true,
    });
  }
  return out;
}

const LONG = "l".repeat(255);

/** Builds the fixture tree; returns its root. */
function makeTree(): string {
  const root = tempDir("kiln-walk-");
  const p = (rel: string) => `${root}/${rel}`;
  writeFileSync(p("a.txt"), "hello");
  writeFileSync(p("empty"), "");
  writeFileSync(p("suid"), "#!/bin/sh\n");
  chmodSync(p("suid"), 0o4755);
  mkdirSync(p("sgid"));
  chmodSync(p("sgid"), 0o2775);
  mkdirSync(p("sticky"));
  chmodSync(p("sticky"), 0o1777);
  mkdirSync(p("d1/d2/d3"), { recursive: true });
  writeFileSync(p("d1/d2/d3/deep"), "deep");
  writeFileSync(p("d1/keep"), "k");
  mkdirSync(p("emptydir"));
  symlinkSync("a.txt", p("link"));
  symlinkSync("/nowhere/at/all", p("dangling"));
  symlinkSync("d1", p("dirlink"));
  linkSync(p("a.txt"), p("hard"));
  mkdirSync(p("ünï/日本語"), { recursive: true });
  writeFileSync(p("ünï/日本語/émoji-🦀.txt"), "x");
  writeFileSync(p(LONG), "long");
  mkdirSync(p("pre"));
  mkdirSync(p("prefix"));
  writeFileSync(p("prefix/f"), "f");
  writeFileSync(p("pre/f"), "f");
  writeFileSync(p("big"), new Uint8Array(3 << 20).fill(7));
  spawnSync("mkfifo", [p("fifo")]);
  if (isRoot()) {
    spawnSync("mknod", [p("null"), "c", "1", "3"]);
    spawnSync("mknod", [p("blk"), "b", "259", "70000"]);
  }
  spawnSync("python3", ["-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", p("sock")]);
  if (ffi) {
    ffi.lsetxattr(p("a.txt"), "user.bin", new Uint8Array([0, 1, 0, 255]));
    ffi.lsetxattr(p("a.txt"), "user.empty", new Uint8Array());
    ffi.lsetxattr(p("d1"), "user.dir", new TextEncoder().encode("v"));
    if (isRoot()) ffi.lsetxattr(p("link"), "trusted.onlink", new Uint8Array([9]));
  }
  return root;
}

interface OracleEntry {
  type: number;
  mode: number;
  size: number;
  uid: number;
  gid: number;
  ino: number;
  nlink: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  link: string | undefined;
}

const FIND_TYPES: Record<string, number> = {
  f: FileType.file,
  d: FileType.dir,
  l: FileType.symlink,
  c: FileType.char,
  b: FileType.block,
  p: FileType.fifo,
  s: FileType.socket,
};

function toNs(s: string): bigint {
  const [sec, frac = ""] = s.split(".");
  return BigInt(sec!) * 1_000_000_000n + BigInt((frac + "000000000").slice(0, 9));
}

/** The oracle: GNU find's view of the tree. */
function findOracle(root: string, extra: string[] = []): Map<string, OracleEntry> {
  const r = spawnSync("find", [
    root,
    "-mindepth",
    "1",
    ...extra,
    "-printf",
    "%P\\0%y\\0%m\\0%s\\0%U\\0%G\\0%i\\0%n\\0%T@\\0%C@\\0%l\\0",
  ], {
    maxBuffer: 1 << 28,
  });
  const f = r.stdout.toString("utf8").split("\0");
  const out = new Map<string, OracleEntry>();
  for (let i = 0; i + 11 <= f.length; i += 11) {
    const type = FIND_TYPES[f[i + 1]!]!;
    out.set(f[i]!, {
      type,
      mode: parseInt(f[i + 2]!, 8),
      size: Number(f[i + 3]),
      uid: Number(f[i + 4]),
      gid: Number(f[i + 5]),
      ino: Number(f[i + 6]),
      nlink: Number(f[i + 7]),
      mtimeNs: toNs(f[i + 8]!),
      ctimeNs: toNs(f[i + 9]!),
      link: type === FileType.symlink ? f[i + 10] : undefined,
    });
  }
  return out;
}

function byPath(r: WalkResult): Map<string, number> {
  return new Map(r.paths.map((p, i) => [p, i]));
}

function checkOrder(r: WalkResult): void {
  const seen = new Set<string>();
  for (const p of r.paths) {
    const slash = p.lastIndexOf("/");
    if (slash > 0) assert(seen.has(p.slice(0, slash)), `${p} listed before its directory`);
    seen.add(p);
  }
}

function columnsOk(r: WalkResult): void {
  for (
    const k of ["type", "mode", "uid", "gid", "size", "mtimeNs", "ctimeNs", "ino", "dev", "nlink", "rdev"] as const
  ) {
    assertEquals(r[k].length, r.count, `column ${k} length`);
  }
  assertEquals(r.paths.length, r.count);
}

for (const { walker, nsTimes } of candidates()) {
  const w = walker.name;

  Deno.test(`${w} walker: entries and metadata match find`, { ignore: skipUnless(w, "find") }, async () => {
    const root = makeTree();
    try {
      const r = await walker.walk(root, { readlinks: true });
      columnsOk(r);
      checkOrder(r);
      const oracle = findOracle(root);
      assertEquals([...r.paths].sort(), [...oracle.keys()].sort());
      for (let i = 0; i < r.count; i++) {
        const p = r.paths[i]!;
        const o = oracle.get(p)!;
        const got = {
          type: r.type[i],
          mode: r.mode[i],
          size: o.type === FileType.dir ? o.size : r.size[i],
          uid: r.uid[i],
          gid: r.gid[i],
          ino: r.ino[i],
          nlink: r.nlink[i],
          link: r.linkTargets![i],
        };
        const want = { ...o, size: o.size } as Partial<OracleEntry>;
        delete want.mtimeNs;
        delete want.ctimeNs;
        assertEquals(got, want, p);
        if (nsTimes) {
          assertEquals(r.mtimeNs[i], o.mtimeNs, `${p} mtime`);
          assertEquals(r.ctimeNs[i], o.ctimeNs, `${p} ctime`);
        } else {
          assert(r.mtimeNs[i]! / 1_000_000_000n === o.mtimeNs / 1_000_000_000n, `${p} mtime seconds`);
        }
      }
      const i = byPath(r);
      assertEquals(r.mode[i.get("suid")!], 0o4755);
      assertEquals(r.mode[i.get("sgid")!], 0o2775);
      assertEquals(r.mode[i.get("sticky")!], 0o1777);
      assertEquals(r.ino[i.get("hard")!], r.ino[i.get("a.txt")!]);
      assertEquals(r.nlink[i.get("a.txt")!], 2);
      assertEquals(r.linkTargets![i.get("dangling")!], "/nowhere/at/all");
      assertEquals(r.linkTargets![i.get("a.txt")!], undefined);
      assertEquals(r.type[i.get("sock")!], FileType.socket);
      assertEquals(r.size[i.get("big")!], 3 << 20);
      assert(i.has(LONG) && i.has("ünï/日本語/émoji-🦀.txt"));
      assertEquals(r.dev[0], r.dev[i.get("d1/d2/d3/deep")!]);
      if (isRoot()) {
        assertEquals(r.type[i.get("null")!], FileType.char);
        assertEquals(splitDev(r.rdev[i.get("null")!]!), [1, 3]);
        assertEquals(r.type[i.get("blk")!], FileType.block);
        assertEquals(splitDev(r.rdev[i.get("blk")!]!), [259, 70000]);
      }
      // Without readlinks there is no linkTargets column.
      assertEquals((await walker.walk(root)).linkTargets, undefined);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  Deno.test(`${w} walker: ignore skips whole components and subtrees`, async () => {
    const root = makeTree();
    try {
      const r = await walker.walk(root, { ignore: ["d1/d2", "/pre/", "nonexistent", "a.txt"] });
      const paths = new Set(r.paths);
      assert(paths.has("d1") && paths.has("d1/keep"));
      assert(!paths.has("d1/d2") && !paths.has("d1/d2/d3/deep"));
      assert(!paths.has("pre") && !paths.has("pre/f"));
      assert(paths.has("prefix") && paths.has("prefix/f"), "a prefix that is not a whole component is kept");
      assert(!paths.has("a.txt") && paths.has("hard"));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  Deno.test(`${w} walker: list() gives each directory whole and sorted, within the budget, as walk() sees them`, async () => {
    const root = makeTree();
    for (let i = 0; i < 30; i++) mkdirSync(`${root}/many/s${i}/t`, { recursive: true });
    const whole = await walker.walk(root, { readlinks: true, ignore: ["pre"] });
    const byPath = new Map(whole.paths.map((p, i) => [p, i]));
    // Everything, one call per miss with a budget of 3 entries: every directory is listed exactly once.
    const listed = new Map<string, string[]>();
    const todo = [""];
    let calls = 0;
    while (todo.length > 0) {
      const dir = todo.pop()!;
      if (listed.has(dir)) continue;
      const l = await walker.list(root, [dir], { readlinks: true, maxEntries: 3, ignore: ["pre"] });
      calls++;
      assert(l.dirs.includes(dir), `${dir} was asked for`);
      assertEquals(l.starts.length, l.dirs.length + 1);
      for (let g = 0; g < l.dirs.length; g++) {
        const d = l.dirs[g]!;
        assert(!listed.has(d), `${d} listed twice`);
        const paths = l.walk.paths.slice(l.starts[g]!, l.starts[g + 1]!);
        assertEquals(paths, [...paths].sort(), `${d} is sorted`); // (no names outside the BMP here)
        listed.set(d, paths);
        for (let k = l.starts[g]!; k < l.starts[g + 1]!; k++) {
          const p = l.walk.paths[k]!;
          const i = byPath.get(p)!;
          assert(i !== undefined, `${p} is in the walk`);
          assertEquals(
            [l.walk.type[k], l.walk.mode[k], l.walk.size[k], l.walk.mtimeNs[k], l.walk.linkTargets?.[k]],
            [whole.type[i], whole.mode[i], whole.size[i], whole.mtimeNs[i], whole.linkTargets?.[i]],
          );
          if (l.walk.type[k] === FileType.dir) todo.push(p);
        }
      }
    }
    assertEquals([...listed.values()].flat().sort(), [...whole.paths].sort());
    assert(listed.has("emptydir") && listed.get("emptydir")!.length === 0, "an empty directory is an empty group");
    assert(!listed.has("pre") && calls > 5, `ignored paths are not listed; ${calls} calls`);
    // A directory asked for that is gone is an empty group; the root missing is an error naming it.
    const gone = await walker.list(root, ["d1", "no/such/dir"], { maxEntries: 0 });
    assertEquals(gone.dirs, ["d1", "no/such/dir"]);
    assertEquals(gone.starts[2]! - gone.starts[1]!, 0);
    const e = await assertRejects(() => walker.list(`${root}/missing`, [""], { maxEntries: 10 }), KilnError);
    assertStringIncludes(e.message, `${root}/missing`);
    rmSync(root, { recursive: true, force: true });
  });

  Deno.test(`${w} walker: empty root, trailing slash, file root`, async () => {
    const root = tempDir("kiln-walk-");
    try {
      assertEquals((await walker.walk(root)).count, 0);
      writeFileSync(`${root}/f`, "");
      assertEquals((await walker.walk(root + "/")).paths, ["f"]);
      const e = await assertRejects(() => walker.walk(`${root}/f`), KilnError);
      assertStringIncludes(e.message, `${root}/f`);
      const e2 = await assertRejects(() => walker.walk(`${root}/missing`), KilnError);
      assertStringIncludes(e2.message, `${root}/missing`);
      assertStringIncludes(e2.message, "ENOENT");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  Deno.test(`${w} walker: an aborted signal rejects with AbortedError`, async () => {
    const root = makeTree();
    try {
      const ac = new AbortController();
      ac.abort();
      await assertRejects(() => walker.walk(root, { signal: ac.signal }));
      const ac2 = new AbortController();
      const pending = walker.walk("/usr", { signal: ac2.signal });
      ac2.abort();
      const e = await assertRejects(() => pending);
      assert(e instanceof AbortedError || (e as Error).name === "AbortError", String(e));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  Deno.test(`${w} walker: oneFileSystem lists a mount point but does not enter it`, {
    ignore: skipUnless(w, "root", "mount"),
  }, async () => {
    const root = makeTree();
    const mnt = `${root}/mnt`;
    mkdirSync(mnt);
    if (spawnSync("mount", ["-t", "tmpfs", "kiln-test", mnt]).status !== 0) {
      console.error("SKIP oneFileSystem: cannot mount tmpfs here");
      rmSync(root, { recursive: true, force: true });
      return;
    }
    try {
      writeFileSync(`${mnt}/inside`, "x");
      const all = new Set((await walker.walk(root)).paths);
      assert(all.has("mnt") && all.has("mnt/inside"));
      const one = await walker.walk(root, { oneFileSystem: true });
      const set = new Set(one.paths);
      assert(set.has("mnt") && !set.has("mnt/inside"));
      assert(one.dev[one.paths.indexOf("mnt")] !== one.dev[one.paths.indexOf("a.txt")]);
    } finally {
      spawnSync("umount", [mnt]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  if (walker.supportsXattrs) {
    Deno.test(`${w} walker: xattrs are read binary-safe, symlinks not followed`, async () => {
      const root = makeTree();
      try {
        const r = await walker.walk(root, { xattrs: true });
        const i = byPath(r);
        const x = r.xattrs!;
        assertEquals(x.length, r.count);
        assertEquals(x[i.get("a.txt")!], {
          "user.bin": new Uint8Array([0, 1, 0, 255]),
          "user.empty": new Uint8Array(),
        });
        assertEquals(x[i.get("hard")!]?.["user.bin"], new Uint8Array([0, 1, 0, 255]));
        assertEquals(x[i.get("d1")!], { "user.dir": new TextEncoder().encode("v") });
        assertEquals(x[i.get("empty")!], undefined);
        if (isRoot()) assertEquals(x[i.get("link")!], { "trusted.onlink": new Uint8Array([9]) });
        else assertEquals(x[i.get("link")!], undefined);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  }
}

if (addon.ok) {
  Deno.test("native and TS walkers: same entries, metadata, link targets and xattrs on /usr/share and the fixture", async () => {
    const root = makeTree();
    try {
      const ts = createTsWalker(ffi ? { xattrReader: xattrReaderOf(ffi) } : {});
      const nat = createNativeWalker(addon.addon);
      for (const dir of [root, "/usr/share"]) {
        const opts = { readlinks: true, xattrs: ffi !== undefined };
        const [a, b] = await Promise.all([ts.walk(dir, opts), nat.walk(dir, opts)]);
        assertEquals(a.count, b.count, dir);
        const ib = byPath(b);
        for (let i = 0; i < a.count; i++) {
          const p = a.paths[i]!;
          const j = ib.get(p);
          assert(j !== undefined, `${p} missing from native walk`);
          for (
            const k of [
              "type",
              "mode",
              "uid",
              "gid",
              "size",
              "mtimeNs",
              "ctimeNs",
              "ino",
              "dev",
              "nlink",
              "rdev",
            ] as const
          ) {
            assertEquals(a[k][i], b[k][j], `${dir}/${p} ${k}`);
          }
          assertEquals(a.linkTargets![i], b.linkTargets![j], `${p} link`);
          if (opts.xattrs) assertEquals(a.xattrs![i], b.xattrs![j], `${p} xattrs`);
        }
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

if (addon.ok) {
  Deno.test("native and TS walkers: same snapshot diffs and the same layer entries", async () => {
    const root = makeTree();
    try {
      const walkers = [createTsWalker(), createNativeWalker(addon.addon)];
      const snaps = walkers.map((walker) =>
        createSnapshotter({ stateDir: tempDir("kiln-snapstate-"), root, walker, mode: "full" })
      );
      for (const s of snaps) await s.init();
      writeFileSync(`${root}/a.txt`, "changed!");
      rmSync(`${root}/d1/d2`, { recursive: true });
      mkdirSync(`${root}/new/deeper`, { recursive: true });
      writeFileSync(`${root}/new/deeper/f`, "n");
      chmodSync(`${root}/empty`, 0o600);
      symlinkSync("a.txt", `${root}/link2`);
      const diffs = [];
      for (const s of snaps) diffs.push(await s.diff());
      const [a, b] = diffs as [(typeof diffs)[0], (typeof diffs)[0]];
      assertEquals([lists(a).added, lists(a).modified, lists(a).deleted, lists(a).opaque], [
        lists(b).added,
        lists(b).modified,
        lists(b).deleted,
        lists(b).opaque,
      ]);
      assert(
        lists(a).added.includes("new/deeper/f") && lists(a).modified.includes("a.txt") &&
          lists(a).deleted.includes("d1/d2"),
      );
      const headers = async (d: typeof a) => {
        const out = [];
        for await (const e of d.entries({ mtime: 0 })) {
          out.push(e.header);
          if (e.body) await e.body.cancel();
        }
        return out;
      };
      assertEquals(await headers(a), await headers(b));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

Deno.test("native addon is built when a C++ compiler is present", { ignore: !hasCommand("g++") }, () => {
  assert(addon.ok, `native addon not loadable: ${addon.ok ? "" : addon.reason} (npm install runs native/build.sh)`);
});

Deno.test("walkers: an unreadable directory is an error naming it", {
  ignore: skipUnless("unreadable dir", "setpriv"),
}, () => {
  // As root, permission bits do not apply: run the walk as nobody.
  const root = makeTree();
  try {
    chmodSync(root, 0o755);
    mkdirSync(`${root}/locked/inner`, { recursive: true });
    chmodSync(`${root}/locked`, 0o000);
    const script = `${root}/walk.ts`;
    writeFileSync(
      script,
      `import { createTsWalker } from "${REPO_ROOT}/lib/fs/walker_ts.ts";
import { createNativeWalker } from "${REPO_ROOT}/lib/fs/walker_native.ts";
import { loadAddon } from "${REPO_ROOT}/lib/fs/_addon.ts";

const a = loadAddon("${ADDON_PATH}");
const walkers = [createTsWalker(), ...(a.ok ? [createNativeWalker(a.addon)] : [])];
for (const w of walkers) {
  try { await w.walk(Deno.args[0]); console.log(w.name + " OK"); }
  catch (e) { console.log(w.name + " " + e.name + ": " + e.message); }
}`,
    );
    chmodSync(script, 0o644);
    const deno = `${REPO_ROOT}/node_modules/.bin/deno`;
    const pre = isRoot() ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] : [];
    const r = spawnSync(pre[0] ?? deno, [
      ...pre.slice(1),
      ...(pre.length ? [deno] : []),
      "run",
      "-A",
      "--no-config",
      script,
      root,
    ], {
      env: { ...process.env, DENO_DIR: `${root}/.deno`, HOME: root },
    });
    const out = r.stdout.toString() + r.stderr.toString();
    for (const line of out.trim().split("\n").filter((l) => / (OK|KilnError)/.test(l))) {
      assertStringIncludes(line, `KilnError: Cannot read directory ${root}/locked: EACCES`, out);
    }
    assertStringIncludes(out, "ts KilnError", out);
    if (addon.ok) assertStringIncludes(out, "native KilnError", out);
  } finally {
    spawnSync("chmod", ["-R", "u+rwx", root]);
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("walkers: a file name that is not UTF-8 is an error (TS) or listed (native)", async () => {
  const root = tempDir("kiln-walk-");
  try {
    spawnSync("python3", ["-c", "import sys; open(sys.argv[1].encode() + b'/bad\\xff', 'w')", root]);
    const e = await assertRejects(() => createTsWalker().walk(root), KilnError);
    assertStringIncludes(e.message, "not valid UTF-8");
    if (addon.ok) {
      const r = await createNativeWalker(addon.addon).walk(root);
      assertEquals(r.count, 1);
      assertEquals(r.paths[0], "bad\uFFFD");
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("loadWalker() honours prefer and logs the fallback once at debug level", () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", write: (l) => lines.push(l) });
  assertEquals(loadWalker({ prefer: "ts" }).name, "ts");
  const w = loadWalker({ prefer: "auto", addonPath: "/nonexistent/kiln.node", logger });
  assertEquals(w.name, "ts");
  assertEquals(lines.length, 1);
  assertStringIncludes(lines[0]!, "DEBUG Native addon unavailable, using the TypeScript walker");
  let err: unknown;
  try {
    loadWalker({ prefer: "native", addonPath: "/nonexistent/kiln.node" });
  } catch (e) {
    err = e;
  }
  assert(err instanceof KilnError && err.message.includes("/nonexistent/kiln.node"));
  if (addon.ok) assertEquals(loadWalker({ prefer: "native" }).name, "native");
});

Deno.test("createSyscalls() makes device nodes the walkers see", { ignore: skipUnless("mknod", "root") }, async () => {
  const root = tempDir("kiln-walk-");
  try {
    const sc = createSyscalls();
    sc.mknod(`${root}/tty`, S_IF.char | 0o644, 4, 1);
    const r = await loadWalker().walk(root);
    assertEquals(splitDev(r.rdev[0]!), [4, 1]);
    assertEquals(r.mode[0], 0o644);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

Deno.test("createTsWalker() skips directories that vanish between listing and reading them", async () => {
  for (const lstat of ["auto", "node-fs"] as const) {
    const root = tempDir("kiln-walk-");
    try {
      writeFileSync(`${root}/keep`, "k");
      for (let i = 0; i < 10; i++) {
        mkdirSync(`${root}/d${i}/sub`, { recursive: true });
        writeFileSync(`${root}/d${i}/sub/f`, "x");
      }
      // yieldEvery 1: the walk lists the root, then yields before reading each subdirectory. This test's timer,
      // queued right after the walk's first one, fires in that gap: it removes nine listed directories (ENOENT)
      // and replaces the tenth with a file (ENOTDIR).
      const walk = createTsWalker({ yieldEvery: 1, lstat }).walk(root, { readlinks: true });
      await new Promise((r) => setTimeout(r, 0));
      for (let i = 0; i < 10; i++) rmSync(`${root}/d${i}`, { recursive: true });
      writeFileSync(`${root}/d9`, "now a file");
      const r = await walk;
      const paths = [...r.paths].sort();
      assertEquals(paths, ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "keep"], lstat);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
});

Deno.test("walkers report the entries listed so far while a long walk runs (onProgress)", async () => {
  // /usr of the machine: a large tree nobody writes during the test (the counts are checked, not the entries).
  for (const { walker } of candidates().filter((c) => c.walker.name === "ts" || c.walker.name === "native")) {
    const seen: number[] = [];
    const t0 = performance.now();
    const r = await walker.walk("/usr", { onProgress: (n) => seen.push(n), oneFileSystem: true });
    const ms = performance.now() - t0;
    for (let i = 1; i < seen.length; i++) assert(seen[i]! >= seen[i - 1]!, `${walker.name}: counts only grow`);
    assert(seen.every((n) => n >= 0 && n <= r.count), `${walker.name}: ${seen} within ${r.count}`);
    // Reported every 250 ms: a walk that took a good deal longer must have reported, with a count above zero.
    if (ms > 600) assert(seen.length >= 1 && seen.at(-1)! > 0, `${walker.name}: ${ms} ms and ${seen.length} reports`);
    else console.log(`${walker.name}: /usr walked in ${Math.round(ms)} ms, too fast for a report to be required`);
  }
});
