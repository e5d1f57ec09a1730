import { readTar, TarError, type TarHeader, TarReaderStream, TarWriterStream } from "../../../lib/tar/mod.ts";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { bodyOf, bytesOf, hdr, LONG_PATH, LONG_TARGET, run } from "./_fixtures.ts";
import { rmSync } from "node:fs";
import { tempDir } from "../../fixtures/temp.ts";

interface Got extends TarHeader {
  body?: string;
}

async function readAll(tar: Uint8Array, chunk = 1000): Promise<Got[]> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < tar.length; i += chunk) parts.push(tar.subarray(i, i + chunk));
  const out: Got[] = [];
  for await (const e of readTar(ReadableStream.from(parts))) {
    out.push(e.body ? { ...e.header, body: await new Response(e.body).text() } : e.header);
  }
  return out;
}

/** Builds the runtime.md §3 feature tree on disk (needs root for mknod/chown). */
function makeTree(dir: string): void {
  const script = `
import os, sys
os.chdir(sys.argv[1])
p = ${JSON.stringify(LONG_PATH)}
os.makedirs(os.path.dirname(p))
open(p, "w").write("long\\n")
os.chown(p, 3000000, 4000000)
os.utime(p, ns=(1700000000789000000, 1700000000789000000))
open("d/xattr.txt", "w").write("xa\\n")
os.setxattr("d/xattr.txt", "user.foo", b"bar")
os.setxattr("d/xattr.txt", "user.bin", bytes([0, 0xff, 0x80, 0xfe]))
os.link("d/xattr.txt", "d/hard")
os.symlink(${JSON.stringify(LONG_TARGET)}, "d/sym")
os.mknod("d/null", 0o20666, os.makedev(1, 3))
os.mknod("d/sda", 0o60660, os.makedev(8, 0))
os.mkfifo("d/fifo", 0o600)
`;
  run("python3", ["-c", script, dir]);
}

function byPath(entries: Got[]): Map<string, Got> {
  return new Map(entries.map((e) => [e.path, e]));
}

for (const format of ["pax", "gnu"] as const) {
  Deno.test(
    `readTar() reads GNU tar --format=${format} archives with every feature`,
    { ignore: skipUnless("gnu tar", "tar", "python3", "root") },
    async () => {
      const dir = tempDir("kiln-tarr-");
      try {
        makeTree(dir);
        const args = ["-C", dir, "-cf", "-", "--sort=name", "d"];
        if (format === "pax") args.unshift("--format=pax", "--xattrs", "--xattrs-include=*");
        else args.unshift("--format=gnu");
        const tar = new Uint8Array(
          (await new Deno.Command("tar", { args, stdout: "piped" }).output()).stdout,
        );
        const got = byPath(await readAll(tar, 777));
        const long = got.get(LONG_PATH)!;
        assertEquals([long.type, long.uid, long.gid, long.size, long.body], ["file", 3000000, 4000000, 5, "long\n"]);
        if (format === "pax") assertEquals(long.mtime, 1700000000.789);
        else assertEquals(long.mtime, 1700000000);
        assertEquals(got.get("d/sym")!.linkname, LONG_TARGET);
        assertEquals(got.get("d/sym")!.type, "symlink");
        const hard = [got.get("d/hard")!, got.get("d/xattr.txt")!].find((e) => e.type === "hardlink")!;
        assert(hard !== undefined, "one of the two names is a hardlink");
        assert(hard.linkname === "d/xattr.txt" || hard.linkname === "d/hard");
        assertEquals([got.get("d/null")!.type, got.get("d/null")!.devmajor, got.get("d/null")!.devminor], [
          "char",
          1,
          3,
        ]);
        assertEquals([got.get("d/sda")!.type, got.get("d/sda")!.devmajor, got.get("d/sda")!.devminor], ["block", 8, 0]);
        assertEquals(got.get("d/fifo")!.type, "fifo");
        assertEquals(got.get("d")!.type, "dir");
        if (format === "pax") {
          const file = got.get("d/hard")!.type === "file" ? got.get("d/hard")! : got.get("d/xattr.txt")!;
          assertEquals(file.xattrs, {
            "user.bin": new Uint8Array([0, 0xff, 0x80, 0xfe]),
            "user.foo": new TextEncoder().encode("bar"),
          });
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}

Deno.test("readTar() reads v7 and python-written PAX archives", { ignore: skipUnless("py", "python3") }, async () => {
  const script = `
import tarfile, io, sys
for fmt in (tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        ti = tarfile.TarInfo("a/" + "n" * 120 if fmt != tarfile.USTAR_FORMAT else "a/short")
        ti.size = 3; ti.uid = 7; ti.mtime = 1234
        t.addfile(ti, io.BytesIO(b"abc"))
        g = tarfile.TarInfo("a/dir"); g.type = tarfile.DIRTYPE; g.mode = 0o1777
        t.addfile(g)
    sys.stdout.buffer.write(b.getvalue().hex().encode() + b"\\n")
`;
  const hexes = run("python3", ["-c", script]).trim().split("\n");
  for (const [i, hex] of hexes.entries()) {
    const tar = Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
    const got = await readAll(tar);
    assertEquals(got.map((g) => [g.path, g.type, g.uid, g.mtime, g.body ?? null, g.mode]), [
      [i === 0 ? "a/short" : "a/" + "n".repeat(120), "file", 7, 1234, "abc", 0o644],
      ["a/dir", "dir", 0, 0, null, 0o1777],
    ]);
  }
  // v7: no magic; a directory is a name ending in "/"
  const v7 = run("python3", [
    "-c",
    `
import tarfile, io, sys
b = io.BytesIO()
t = tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT)
d = tarfile.TarInfo("v/"); d.type = tarfile.DIRTYPE; t.addfile(d); t.close()
raw = bytearray(b.getvalue()); raw[156] = 0; raw[257:265] = bytes(8)
s = sum(raw[:148]) + 256 + sum(raw[156:512]); raw[148:156] = b"%06o\\0 " % s
sys.stdout.write(raw.hex())`,
  ]);
  const got = await readAll(Uint8Array.from(v7.match(/../g)!.map((h) => parseInt(h, 16))));
  assertEquals(got.map((g) => [g.path, g.type]), [["v", "dir"]]);
});

async function sample(): Promise<Uint8Array> {
  return await bytesOf(
    ReadableStream.from([
      { header: hdr({ path: "a", type: "file", size: 1000 }), body: bodyOf("x".repeat(1000), 100) },
      { header: hdr({ path: "b", type: "file", size: 3 }), body: bodyOf("bbb") },
    ]).pipeThrough(new TarWriterStream()),
  );
}

Deno.test("readTar() applies PAX global headers to every entry", { ignore: skipUnless("py", "python3") }, async () => {
  const hex = run("python3", [
    "-c",
    `
import tarfile, io, sys
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "hello", "uid": "42"}) as t:
    for n in ("x", "y"):
        ti = tarfile.TarInfo(n); ti.size = 1; t.addfile(ti, io.BytesIO(b"z"))
sys.stdout.write(b.getvalue().hex())`,
  ]);
  const got = await readAll(Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16))));
  assertEquals(got.map((g) => [g.path, g.uid, g.pax, g.body]), [
    ["x", 42, { comment: "hello" }, "z"],
    ["y", 42, { comment: "hello" }, "z"],
  ]);
});

Deno.test("readTar() reports a bad checksum with its offset", async () => {
  const tar = await sample();
  tar[1536 + 10] = tar[1536 + 10]! ^ 1; // header of "b" (after a's header + 2 data blocks)
  const err = await assertRejects(
    () => readAll(tar),
    TarError,
    "Cannot read tar archive: invalid header checksum at offset 1536",
  );
  assertEquals(err.offset, 1536);
});

Deno.test("readTar() reports a truncated archive", async () => {
  const tar = await sample();
  await assertRejects(() => readAll(tar.subarray(0, 700)), TarError, 'unexpected end of archive in the body of "a"');
  await assertRejects(
    () => readAll(tar.subarray(0, 1600)),
    TarError,
    "unexpected end of archive in a header at offset 1536",
  );
});

Deno.test("readTar() skips unread bodies and honours cancel", async () => {
  const tar = await sample();
  const paths: string[] = [];
  let i = 0;
  for await (const e of readTar(ReadableStream.from([tar]))) {
    paths.push(e.header.path);
    if (i++ === 0) await e.body!.cancel();
    else assertEquals(await new Response(e.body).text(), "bbb");
  }
  assertEquals(paths, ["a", "b"]);
  const names: string[] = [];
  for await (const e of readTar(ReadableStream.from([tar]))) names.push(e.header.path); // bodies never touched
  assertEquals(names, ["a", "b"]);
});

Deno.test("TarReaderStream() pipes bytes to entries", async () => {
  const tar = await sample();
  const entries = ReadableStream.from([tar]).pipeThrough(new TarReaderStream());
  const got: string[] = [];
  for await (const e of entries) got.push(`${e.header.path}:${(await new Response(e.body).text()).length}`);
  assertEquals(got, ["a:1000", "b:3"]);
});

Deno.test("readTar() entry.read() pulls the same body bytes without a stream and fails once the reader moved on", async () => {
  const tar = await sample();
  const parts: Uint8Array[] = [];
  for (let i = 0; i < tar.length; i += 100) parts.push(tar.subarray(i, i + 100));
  const got: Record<string, string> = {};
  let stale: (() => Promise<Uint8Array | undefined>) | undefined;
  for await (const e of readTar(ReadableStream.from(parts))) {
    if (stale) await assertRejects(() => stale!(), TypeError, "the reader moved to the next entry");
    let s = "";
    if (e.header.path === "a") {
      const first = await e.read!();
      s = new TextDecoder().decode(first);
      stale = e.read; // left unfinished on purpose
    } else {
      for (let c = await e.read!(); c; c = await e.read!()) s += new TextDecoder().decode(c);
      assertEquals(await e.read!(), undefined);
    }
    got[e.header.path] = s;
  }
  assert(got.a!.length > 0 && got.a!.length <= 100);
  assertEquals(got.b, "bbb");
  await assertRejects(
    async () => {
      for await (const e of readTar(ReadableStream.from([tar.subarray(0, 700)]))) {
        while (await e.read!());
      }
    },
    TarError,
    'unexpected end of archive in the body of "a"',
  );
});
