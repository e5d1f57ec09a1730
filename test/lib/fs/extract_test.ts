import { extractEntries, extractLayer } from "../../../lib/fs/extract.ts";
import { type TarEntry, TarWriterStream } from "../../../lib/tar/mod.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { bodyOf, featureEntries, hdr, LONG_PATH, run } from "../tar/_fixtures.ts";
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../fixtures/temp.ts";

function tarOf(entries: TarEntry[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(entries).pipeThrough(new TarWriterStream());
}

async function withDirs(n: number, fn: (...dirs: string[]) => Promise<void>): Promise<void> {
  const dirs = Array.from({ length: n }, () => tempDir("kiln-ex-"));
  try {
    await fn(...dirs);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** A manifest of a tree by python (type, mode, owner, size, mtime ns, link, rdev, xattrs, content hash). */
function manifest(dir: string): unknown {
  const script = `
import os, sys, json, hashlib, stat
root = sys.argv[1]; out = {}
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n); st = os.lstat(p); rel = os.path.relpath(p, root)
        x = {}
        try:
            for k in os.listxattr(p, follow_symlinks=False): x[k] = os.getxattr(p, k, follow_symlinks=False).hex()
        except OSError: pass
        out[rel] = [oct(st.st_mode), st.st_uid, st.st_gid, st.st_size if stat.S_ISREG(st.st_mode) else 0, st.st_mtime_ns,
          os.readlink(p) if stat.S_ISLNK(st.st_mode) else None, [os.major(st.st_rdev), os.minor(st.st_rdev)], x, st.st_nlink,
          hashlib.sha256(open(p, "rb").read()).hexdigest() if stat.S_ISREG(st.st_mode) else None]
print(json.dumps(out, sort_keys=True))
`;
  return JSON.parse(run("python3", ["-c", script, dir]));
}

Deno.test(
  "extractLayer() gives the same tree as GNU tar -xp --xattrs for every feature",
  { ignore: skipUnless("extract vs gnu", "tar", "python3", "root") },
  () =>
    withDirs(3, async (ours, theirs, tmp) => {
      const cap = new Uint8Array([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // cap_net_raw
      const extra = (): TarEntry[] => [
        {
          header: hdr({ path: "d/suid", type: "file", size: 2, uid: 1000, gid: 1000, mode: 0o6755 }),
          body: bodyOf("s\n"),
        },
        {
          header: hdr({
            path: "d/ping",
            type: "file",
            size: 2,
            uid: 0,
            gid: 0,
            mode: 0o755,
            xattrs: { "security.capability": cap },
          }),
          body: bodyOf("p\n"),
        },
        {
          header: hdr({
            path: "d/lnk",
            type: "symlink",
            linkname: "xattr.txt",
            uid: 1234,
            gid: 5678,
            mtime: 1600000000,
          }),
        },
        { header: hdr({ path: "e", type: "dir", mode: 0o1777, mtime: 1500000000.25 }) },
        { header: hdr({ path: "e/f", type: "file", size: 1, mtime: 1500000001 }), body: bodyOf("f") },
      ];
      const all = () => [...featureEntries(), ...extra()];
      const stats = await extractLayer(tarOf(all()), ours);
      assertEquals([stats.files, stats.dirs, stats.symlinks, stats.hardlinks, stats.nodes], [6, 3, 2, 1, 3]);
      const file = join(tmp, "a.tar");
      writeFileSync(file, new Uint8Array(await new Response(tarOf(all())).arrayBuffer()));
      run("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", file, "-C", theirs]);
      const a = manifest(ours) as Record<string, unknown[]>;
      const b = manifest(theirs) as Record<string, unknown[]>;
      assertEquals(a, b);
      // Spot checks of what matters most.
      assertEquals(a[LONG_PATH]!.slice(1, 3), [3000000, 4000000]);
      assertEquals(a[LONG_PATH]![4], 1700000000789000000);
      assertEquals((a["d/xattr.txt"]![7] as Record<string, string>)["user.bin"], "00ff80fe");
      assertEquals(a["d/suid"]![0], "0o106755");
      assertEquals(
        (a["d/ping"]![7] as Record<string, string>)["security.capability"],
        Array.from(cap, (x) => x.toString(16).padStart(2, "0")).join(""),
      );
      assertEquals(a["d/lnk"]!.slice(1, 3), [1234, 5678]);
      assertEquals(a["e"]![4], 1500000000250000000);
    }),
);

Deno.test("extractLayer() applies whiteouts and opaque whiteouts against earlier layers", () =>
  withDirs(1, async (root) => {
    await extractLayer(
      tarOf([
        { header: hdr({ path: "a", type: "dir" }) },
        { header: hdr({ path: "a/b", type: "file", size: 1 }), body: bodyOf("b") },
        { header: hdr({ path: "a/d", type: "dir" }) },
        { header: hdr({ path: "a/d/deep", type: "file", size: 1 }), body: bodyOf("x") },
        { header: hdr({ path: "x", type: "dir" }) },
        { header: hdr({ path: "x/old", type: "file", size: 1 }), body: bodyOf("o") },
        { header: hdr({ path: "x/sub", type: "dir" }) },
        { header: hdr({ path: "keep", type: "file", size: 1 }), body: bodyOf("k") },
      ]),
      root,
    );
    const stats = await extractLayer(
      tarOf([
        { header: hdr({ path: "a/.wh.d", type: "file" }) },
        { header: hdr({ path: "x", type: "dir" }) },
        { header: hdr({ path: "x/new", type: "file", size: 1 }), body: bodyOf("n") },
        { header: hdr({ path: "x/.wh..wh..opq", type: "file" }) },
        { header: hdr({ path: ".wh.missing", type: "file" }) },
      ]),
      root,
    );
    assertEquals(stats.whiteouts, 3);
    assert(existsSync(join(root, "a/b")));
    assert(!existsSync(join(root, "a/d")));
    assert(!existsSync(join(root, "a/.wh.d")));
    assert(existsSync(join(root, "x/new")), "opaque keeps this layer's files");
    assert(!existsSync(join(root, "x/old")) && !existsSync(join(root, "x/sub")));
    assert(!existsSync(join(root, "x/.wh..wh..opq")));
    assert(existsSync(join(root, "keep")));
  }));

Deno.test("extractLayer() writes .wh. files as files when whiteouts are off", () =>
  withDirs(1, async (root) => {
    await extractLayer(tarOf([{ header: hdr({ path: ".wh.x", type: "file", size: 1 }), body: bodyOf("w") }]), root, {
      whiteouts: false,
    });
    assertEquals(readFileSync(join(root, ".wh.x"), "utf8"), "w");
  }));

Deno.test("extractLayer() confines symlinked parents, .. names and hardlinks to the rootfs", () =>
  withDirs(2, async (root, host) => {
    writeFileSync(join(host, "victim.txt"), "original");
    const victim = join(host, "victim.txt");
    // 1. absolute symlink parent pointing at a host directory
    await extractLayer(
      tarOf([
        { header: hdr({ path: "evil", type: "symlink", linkname: host }) },
        { header: hdr({ path: "evil/victim.txt", type: "file", size: 5 }), body: bodyOf("pwned") },
        { header: hdr({ path: "up", type: "symlink", linkname: "../../../../../../.." }) },
        { header: hdr({ path: `up${host}/up.txt`, type: "file", size: 5 }), body: bodyOf("pwned") },
        { header: hdr({ path: "var", type: "dir" }) },
        { header: hdr({ path: "var/run", type: "symlink", linkname: "/run" }) },
        { header: hdr({ path: "var/run/pid", type: "file", size: 1 }), body: bodyOf("1") },
        { header: hdr({ path: "f", type: "symlink", linkname: victim }) },
        { header: hdr({ path: "f", type: "file", size: 5 }), body: bodyOf("pwned") },
      ]),
      root,
    );
    assertEquals(readFileSync(victim, "utf8"), "original");
    assert(!existsSync(join(host, "up.txt")));
    assertEquals(readFileSync(join(root, host, "victim.txt"), "utf8"), "pwned");
    assertEquals(readFileSync(join(root, host, "up.txt"), "utf8"), "pwned");
    assertEquals(readFileSync(join(root, "run/pid"), "utf8"), "1");
    assert(lstatSync(join(root, "f")).isFile(), "a file replaces the symlink instead of writing through it");
    // 2. names with ..
    const e1 = await assertRejects(
      () =>
        extractLayer(
          tarOf([{ header: hdr({ path: "../escape.txt", type: "file", size: 1 }), body: bodyOf("x") }]),
          root,
        ),
      KilnError,
      'Cannot extract "../escape.txt": path climbs out of the rootfs with ".."',
    );
    assert(e1 instanceof KilnError);
    assert(!existsSync(join(root, "..", "escape.txt")));
    // 3. hardlinks to host files
    await assertRejects(
      () =>
        extractLayer(tarOf([{ header: hdr({ path: "h", type: "hardlink", linkname: `../../..${victim}` }) }]), root),
      KilnError,
      `Cannot extract "h": hardlink target "../../..${victim}" is outside the rootfs`,
    );
    await assertRejects(
      () => extractLayer(tarOf([{ header: hdr({ path: "h2", type: "hardlink", linkname: "evil/other" }) }]), root),
      KilnError,
      'hardlink target "evil/other" does not exist',
    );
    // an absolute hardlink target means the rootfs path, never the host one
    await extractLayer(tarOf([{ header: hdr({ path: "h3", type: "hardlink", linkname: `/evil/victim.txt` }) }]), root);
    assertEquals(readFileSync(join(root, "h3"), "utf8"), "pwned");
    assertEquals(lstatSync(victim).nlink, 1);
    assertEquals(readFileSync(victim, "utf8"), "original");
  }));

Deno.test("extractLayer() replaces entries of another type and merges directories", () =>
  withDirs(1, async (root) => {
    mkdirSync(join(root, "d1/sub"), { recursive: true });
    writeFileSync(join(root, "d1/sub/x"), "x");
    writeFileSync(join(root, "f1"), "f");
    mkdirSync(join(root, "merge"));
    writeFileSync(join(root, "merge/old"), "o");
    await extractLayer(
      tarOf([
        { header: hdr({ path: "d1", type: "file", size: 1 }), body: bodyOf("F") },
        { header: hdr({ path: "f1", type: "dir", mode: 0o750 }) },
        { header: hdr({ path: "merge", type: "dir", mode: 0o711 }) },
        { header: hdr({ path: "merge/new", type: "symlink", linkname: "old" }) },
        { header: hdr({ path: "merge/new", type: "hardlink", linkname: "merge/old" }) },
      ]),
      root,
    );
    assertEquals(readFileSync(join(root, "d1"), "utf8"), "F");
    assert(lstatSync(join(root, "f1")).isDirectory());
    assertEquals(lstatSync(join(root, "f1")).mode & 0o7777, 0o750);
    assertEquals(lstatSync(join(root, "merge")).mode & 0o7777, 0o711);
    assertEquals(readFileSync(join(root, "merge/old"), "utf8"), "o");
    assertEquals(lstatSync(join(root, "merge/new")).ino, lstatSync(join(root, "merge/old")).ino);
  }));

Deno.test("extractLayer() hardlinks to files from earlier layers and skips ignored paths", () =>
  withDirs(1, async (root) => {
    await extractLayer(tarOf([{ header: hdr({ path: "bin/sh", type: "file", size: 2 }), body: bodyOf("sh") }]), root);
    const stats = await extractLayer(
      tarOf([
        { header: hdr({ path: "bin/ash", type: "hardlink", linkname: "bin/sh" }) },
        { header: hdr({ path: "proc/cpuinfo", type: "file", size: 1 }), body: bodyOf("c") },
        { header: hdr({ path: "proc", type: "dir" }) },
      ]),
      root,
      { ignore: ["/proc"] },
    );
    assertEquals(lstatSync(join(root, "bin/ash")).ino, lstatSync(join(root, "bin/sh")).ino);
    assertEquals(stats.ignored, 2);
    assert(!existsSync(join(root, "proc")));
  }));

Deno.test("extractEntries() stops on abort", () =>
  withDirs(1, async (root) => {
    const ac = new AbortController();
    ac.abort(new Error("stop"));
    await assertRejects(
      () =>
        extractEntries(
          [{ header: hdr({ path: "a", type: "dir" }) }].values() as unknown as AsyncIterable<TarEntry>,
          root,
          { signal: ac.signal },
        ),
      Error,
      "stop",
    );
  }));

Deno.test("extractLayer() resolves through symlinks created or replaced earlier in the same layer", () =>
  withDirs(1, async (root) => {
    await extractLayer(
      tarOf([
        { header: hdr({ path: "real", type: "dir" }) },
        { header: hdr({ path: "d", type: "dir" }) },
        { header: hdr({ path: "d/x", type: "file", size: 1 }), body: bodyOf("x") },
        { header: hdr({ path: "d", type: "symlink", linkname: "real" }) },
        { header: hdr({ path: "d/y", type: "file", size: 1 }), body: bodyOf("y") },
        { header: hdr({ path: "s", type: "symlink", linkname: "/real" }) },
        { header: hdr({ path: "s/z", type: "file", size: 1 }), body: bodyOf("z") },
      ]),
      root,
      { ownership: false },
    );
    assert(lstatSync(join(root, "d")).isSymbolicLink());
    assertEquals(readFileSync(join(root, "real/y"), "utf8"), "y");
    assertEquals(readFileSync(join(root, "real/z"), "utf8"), "z");
    assert(!existsSync(join(root, "real/x")));
  }));
