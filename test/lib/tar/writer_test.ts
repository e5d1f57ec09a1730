import { readTar, type TarEntry, TarError, TarWriterStream } from "../../../lib/tar/mod.ts";
import { assert, assertEquals, assertMatch, assertRejects, assertStringIncludes } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { bodyOf, bytesOf, featureEntries, hdr, LONG_PATH, LONG_TARGET, run } from "./_fixtures.ts";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../fixtures/temp.ts";

function write(entries: TarEntry[]): Promise<Uint8Array> {
  return bytesOf(ReadableStream.from(entries).pipeThrough(new TarWriterStream()));
}

Deno.test(
  "TarWriterStream() output is listed correctly by GNU tar",
  { ignore: skipUnless("tar -tv", "tar") },
  async () => {
    const tar = await write(featureEntries());
    const out = run("tar", ["-tvf", "-", "--numeric-owner"], { input: tar });
    assertStringIncludes(out, `3000000/4000000   5 2023-11-14 22:13 ${LONG_PATH}`);
    assertStringIncludes(out, `d/sym -> ${LONG_TARGET}`);
    assertStringIncludes(out, "d/hard link to d/xattr.txt");
    assertMatch(out, /crw-rw-rw- 0\/0 +1,3 .* d\/null\n/);
    assertMatch(out, /brw-rw---- 0\/0 +8,0 .* d\/sda\n/);
    assertMatch(out, /prw------- 0\/0 +0 .* d\/fifo\n/);
    assertMatch(out, /-rwsr-xr-x 0\/0 +3 .* d\/xattr.txt\n/);
    assertStringIncludes(out, "d/ünï.txt");
  },
);

Deno.test(
  "TarWriterStream() output is read exactly by python tarfile",
  { ignore: skipUnless("py", "python3") },
  async () => {
    const tar = await write(featureEntries());
    const script = `
import tarfile, sys, json
out = []
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as t:
    for m in t:
        x = {k: v.encode("utf-8", "surrogateescape").hex() for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
        out.append([m.name, m.type.decode(), m.mode, m.uid, m.gid, m.size, m.mtime, m.linkname, m.devmajor, m.devminor, x,
                    t.extractfile(m).read().decode() if m.isfile() else None])
print(json.dumps(out))
`;
    const got = JSON.parse(run("python3", ["-c", script], { input: tar }));
    assertEquals(got, [
      ["d", "5", 0o755, 0, 0, 0, 1700000000, "", 0, 0, {}, null],
      ["d/" + "x".repeat(100), "5", 0o755, 0, 0, 0, 1700000000, "", 0, 0, {}, null],
      [LONG_PATH, "0", 0o644, 3000000, 4000000, 5, 1700000000.789, "", 0, 0, {}, "long\n"],
      ["d/xattr.txt", "0", 0o4755, 0, 0, 3, 1700000000, "", 0, 0, {
        "SCHILY.xattr.user.bin": "00ff80fe",
        "SCHILY.xattr.user.foo": "626172",
      }, "xa\n"],
      ["d/hard", "1", 0o644, 0, 0, 0, 1700000000, "d/xattr.txt", 0, 0, {}, null],
      ["d/sym", "2", 0o777, 0, 0, 0, 1700000000, LONG_TARGET, 0, 0, {}, null],
      ["d/null", "3", 0o666, 0, 0, 0, 1700000000, "", 1, 3, {}, null],
      ["d/sda", "4", 0o660, 0, 0, 0, 1700000000, "", 8, 0, {}, null],
      ["d/fifo", "6", 0o600, 0, 0, 0, 1700000000, "", 0, 0, {}, null],
      ["d/ünï.txt", "0", 0o644, 0, 0, 0, 1700000000, "", 0, 0, {}, ""],
    ]);
  },
);

Deno.test(
  "TarWriterStream() output is extracted by GNU tar with binary xattrs, devices and ownership",
  { ignore: skipUnless("tar -x", "tar", "python3", "root") },
  async () => {
    const dir = tempDir("kiln-tarw-");
    try {
      writeFileSync(join(dir, "a.tar"), await write(featureEntries()));
      run("tar", ["--xattrs", "--xattrs-include=*", "-xpf", "a.tar", "--numeric-owner"], { cwd: dir });
      const script = `
import os, json, stat, sys
os.chdir(sys.argv[1])
st = os.lstat(${JSON.stringify(LONG_PATH)})
h = os.lstat("d/hard"); x = os.lstat("d/xattr.txt")
n = os.lstat("d/null"); b = os.lstat("d/sda")
print(json.dumps([st.st_uid, st.st_gid, st.st_mtime_ns % 10**9, os.getxattr("d/xattr.txt", "user.bin").hex(),
  oct(x.st_mode & 0o7777), h.st_ino == x.st_ino, os.readlink("d/sym"), stat.S_ISCHR(n.st_mode), os.major(n.st_rdev),
  os.minor(n.st_rdev), stat.S_ISBLK(b.st_mode), os.major(b.st_rdev), stat.S_ISFIFO(os.lstat("d/fifo").st_mode)]))
`;
      const got = JSON.parse(run("python3", ["-c", script, join(dir, "")]));
      assertEquals(got, [
        3000000,
        4000000,
        789000000,
        "00ff80fe",
        "0o4755",
        true,
        LONG_TARGET,
        true,
        1,
        3,
        true,
        8,
        true,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

Deno.test("TarWriterStream() is deterministic whatever the body chunking", async () => {
  const a = await write(featureEntries(1));
  const b = await write(featureEntries(4096));
  assertEquals(a.length, b.length);
  assert(a.every((v, i) => v === b[i]), "archives differ");
  assertEquals(a.length % 512, 0);
  assert(a.subarray(a.length - 1024).every((v) => v === 0), "ends with two zero blocks");
});

Deno.test("TarWriterStream() rejects a body shorter or longer than header.size", async () => {
  await assertRejects(
    () => write([{ header: hdr({ path: "f", type: "file", size: 10 }), body: bodyOf("short") }]),
    TarError,
    'Cannot write tar entry "f": body has 5 bytes but header.size is 10',
  );
  await assertRejects(
    () => write([{ header: hdr({ path: "f", type: "file", size: 2 }), body: bodyOf("toolong") }]),
    TarError,
    "body is longer than header.size 2",
  );
});

Deno.test("TarWriterStream() streams large bodies with backpressure", async () => {
  const size = 64 * 1024 * 1024;
  let produced = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      const n = Math.min(1 << 20, size - produced);
      c.enqueue(new Uint8Array(n));
      produced += n;
      if (produced === size) c.close();
    },
  }, { highWaterMark: 0 });
  const tar = ReadableStream.from([{ header: hdr({ path: "big", type: "file", size }), body }])
    .pipeThrough(new TarWriterStream());
  const reader = tar.getReader();
  await reader.read();
  await new Promise((r) => setTimeout(r, 50));
  assert(produced < 8 * 1024 * 1024, `producer ran ahead: ${produced}`);
  let total = 512 + 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
  }
  assert(total >= size + 1024);
});

Deno.test("TarWriterStream() round-trips through readTar()", async () => {
  const tar = await write(featureEntries());
  const got = [];
  for await (const e of readTar(ReadableStream.from([tar]))) {
    got.push({ ...e.header, body: e.body ? await new Response(e.body).text() : undefined });
  }
  const want = featureEntries().map((e) => ({ ...e.header, body: e.body ? "x" : undefined }));
  assertEquals(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    const { body: _b, ...w } = want[i]!;
    const { body: _g, ...g } = got[i]!;
    assertEquals(g, w);
  }
  assertEquals(got[2]!.body, "long\n");
});

Deno.test("TarWriterStream() writes `data` like a body and checks its length", async () => {
  const viaData = await write([{
    header: hdr({ path: "f", type: "file", size: 3 }),
    data: new TextEncoder().encode("abc"),
  }]);
  const viaBody = await write([{ header: hdr({ path: "f", type: "file", size: 3 }), body: bodyOf("abc") }]);
  assertEquals(viaData, viaBody);
  await assertRejects(
    () => write([{ header: hdr({ path: "f", type: "file", size: 4 }), data: new Uint8Array(3) }]),
    TarError,
    "data has 3 bytes but header.size is 4",
  );
});

Deno.test(
  "TarWriterStream() encodes paths around the USTAR limits exactly",
  { ignore: skipUnless("py", "python3") },
  async () => {
    const paths: string[] = [];
    for (const len of [99, 100, 101, 155, 156, 199, 255, 256, 257, 300]) {
      for (const slashAt of [10, 50, 99, 120, 155, 156]) {
        if (slashAt >= len - 1) continue;
        paths.push(("a".repeat(slashAt) + "/" + "b".repeat(len - slashAt - 1)).slice(0, len));
      }
    }
    paths.push("c".repeat(150)); // a single long component cannot be split
    const entries = paths.map((p, i) => ({
      header: hdr({ path: `${i}/${p}`, type: "file", size: 1 }),
      body: bodyOf("x"),
    }));
    const tar = await write(entries);
    const script = `
import tarfile, sys, json
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as t:
    print(json.dumps([m.name for m in t]))
`;
    assertEquals(JSON.parse(run("python3", ["-c", script], { input: tar })), paths.map((p, i) => `${i}/${p}`));
  },
);

Deno.test("TarWriterStream() with a pool of dirty buffers writes the same bytes as with fresh ones", async () => {
  const entries = () =>
    ReadableStream.from([
      { header: { path: "a", type: "dir" as const, mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 } },
      ...Array.from({ length: 300 }, (_, i) => ({
        header: { path: `a/f${i}`, type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: i, size: i * 7 },
        data: new Uint8Array(i * 7).fill(i & 255),
      })),
    ]);
  const want = new Uint8Array(await new Response(entries().pipeThrough(new TarWriterStream())).arrayBuffer());
  // Every buffer handed out is full of garbage: reserved bytes (padding, header fields) must still be zeros.
  const pool = { size: 4096, take: () => new Uint8Array(4096).fill(0xee) };
  const got = new Uint8Array(await new Response(entries().pipeThrough(new TarWriterStream({ pool }))).arrayBuffer());
  assertEquals(got, want);
});
