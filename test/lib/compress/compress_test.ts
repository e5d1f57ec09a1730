import {
  autoDecompress,
  compressLayer,
  createDecompressStream,
  createGzipStream,
  createZstdStream,
  detectCompression,
} from "../../../lib/compress/mod.ts";
import { TarWriterStream } from "../../../lib/tar/mod.ts";
import { sha256 } from "../../../lib/util/digest.ts";
import { type ChunkPool, createChunkPool } from "../../../lib/util/mod.ts";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../fixtures/temp.ts";
import { createRequire } from "node:module";
import zlib from "node:zlib";
import { ADDON_PATH } from "../../../lib/fs/_addon.ts";
import { loadNativeDeflate } from "../../../lib/compress/_native.ts";

/** A deterministic xorshift32 generator of unsigned 32-bit numbers. */
function xorshift(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Moderately compressible, deterministic data (words, numbers and binary noise, like real files). */
function sampleData(size: number): Uint8Array {
  const out = new Uint8Array(size);
  const vocab: string[] = [];
  const rnd = xorshift(2463534242);
  for (let i = 0; i < 2000; i++) {
    let w = "";
    const n = 2 + rnd() % 9;
    for (let j = 0; j < n; j++) w += String.fromCharCode(97 + rnd() % 26);
    vocab.push(w);
  }
  let i = 0;
  while (i < size) {
    const r = rnd();
    const w = r % 16 === 0 ? String.fromCharCode(rnd() % 256, rnd() % 256, rnd() % 256) : vocab[r % 2000]! + " ";
    for (let j = 0; j < w.length && i < size; j++) out[i++] = w.charCodeAt(j);
  }
  return out;
}

function chunked(data: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) parts.push(data.slice(i, i + size));
  return ReadableStream.from(parts);
}

async function bytes(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Runs a tool with `input` on stdin (through a temp file: spawnSync with large stdin and stdout can deadlock). */
function tool(cmd: string, args: string[], input: Uint8Array): Uint8Array {
  const dir = tempDir("kiln-ct-");
  try {
    writeFileSync(join(dir, "in"), input);
    const r = spawnSync("sh", ["-c", `exec "$@" < "${join(dir, "in")}"`, "sh", cmd, ...args], { maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
    return new Uint8Array(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const DATA = sampleData(2.5 * 1024 * 1024 + 12345);

Deno.test("createGzipStream() block mode is valid gzip and independent of workers and chunking", {
  ignore: skipUnless("gzip", "gzip", "python3"),
}, async () => {
  // Workers start after the first block (a) or at once (c), so worker and in-thread blocks mix.
  const z = { engine: "zlib" } as const;
  const a = await bytes(
    chunked(DATA, 65536).pipeThrough(createGzipStream({ ...z, parallel: 2, workerThreshold: 1 << 20 })),
  );
  const b = await bytes(chunked(DATA, 1000003).pipeThrough(createGzipStream({ ...z, parallel: 0 })));
  const c = await bytes(
    chunked(DATA, 7777).pipeThrough(
      createGzipStream({ ...z, parallel: 1, blockSize: 1024 * 1024, workerThreshold: 0 }),
    ),
  );
  assertEquals(sha256(a), sha256(b));
  assertEquals(sha256(a), sha256(c));
  tool("gzip", ["-t"], a);
  assertEquals(sha256(tool("gzip", ["-dc"], a)), sha256(DATA));
  assertEquals(
    tool("python3", [
      "-c",
      "import gzip,sys,hashlib; print(hashlib.sha256(gzip.decompress(sys.stdin.buffer.read())).hexdigest())",
    ], a)
      .length,
    65,
  );
  const ref = tool("gzip", ["-6", "-c"], DATA);
  assert(a.length < ref.length * 1.03, `block gzip ${a.length} vs gzip -6 ${ref.length}`);
});

const native = loadNativeDeflate();
const addon = native.ok ? createRequire(import.meta.url)(ADDON_PATH) as NativeTestExports : undefined;
interface NativeTestExports {
  deflateScan(bytes: Uint8Array): [number, number] | undefined;
}

/** Bytes no compressor can shrink (xorshift). */
function noise(size: number): Uint8Array {
  const out = new Uint8Array(size);
  const rnd = xorshift(88172645);
  for (let i = 0; i < size; i++) out[i] = rnd() & 0xff;
  return out;
}

Deno.test(
  "createGzipStream() with libdeflate: one valid gzip member gzip, pigz, Python and Go read; same bytes however chunked",
  {
    ignore: !native.ok || skipUnless("libdeflate gzip", "gzip", "pigz", "python3"),
  },
  async () => {
    const l = { engine: "libdeflate" } as const;
    // Compressible, incompressible, all zeros, and sizes at and around the block size.
    const inputs = [
      DATA,
      noise(3 * 1024 * 1024 + 5),
      new Uint8Array(2 * 1024 * 1024),
      noise(1),
      DATA.subarray(0, 1024 * 1024),
      DATA.subarray(0, 1024 * 1024 + 1),
    ];
    for (const input of inputs) {
      const a = await bytes(chunked(input, 65536).pipeThrough(createGzipStream(l)));
      const b = await bytes(chunked(input, 999_983).pipeThrough(createGzipStream({ ...l, parallel: 1 })));
      assertEquals(sha256(a), sha256(b), `${input.length} bytes: chunking changed the output`);
      assertEquals(sha256(tool("gzip", ["-dc"], a)), sha256(input));
      assertEquals(sha256(tool("pigz", ["-dc"], a)), sha256(input));
      // One member: Python's single-member reader (zlib.decompressobj stops at the first member) gets it all.
      const py = "import zlib,sys; d=zlib.decompressobj(31); o=d.decompress(sys.stdin.buffer.read()); " +
        "sys.stdout.write(str(len(o)) + ' ' + str(len(d.unused_data)))";
      assertEquals(new TextDecoder().decode(tool("python3", ["-c", py], a)), `${input.length} 0`);
    }
    // Incompressible blocks are stored (fast), but random bytes that repeat within deflate's window are compressed.
    const rnd = noise(4 * 1024 * 1024);
    const stored = await bytes(chunked(rnd, 65536).pipeThrough(createGzipStream(l)));
    assert(stored.length < rnd.length * 1.001, `noise: ${stored.length}`);
    const period = noise(16 * 1024);
    const repeated = new Uint8Array(4 * 1024 * 1024);
    for (let o = 0; o < repeated.length; o += period.length) repeated.set(period, o);
    const rep = await bytes(chunked(repeated, 65536).pipeThrough(createGzipStream(l)));
    assert(rep.length < repeated.length / 20, `repeated noise compressed to ${rep.length}`);
    assertEquals(sha256(tool("gzip", ["-dc"], rep)), sha256(repeated));
    // Smaller than node:zlib's level 6 on the same data (libdeflate's level 6 compresses harder).
    const zl = await bytes(chunked(DATA, 65536).pipeThrough(createGzipStream({ engine: "zlib" })));
    const ld = await bytes(chunked(DATA, 65536).pipeThrough(createGzipStream(l)));
    assert(ld.length <= zl.length * 1.01, `libdeflate ${ld.length} vs zlib ${zl.length}`);
    assert(sha256(ld) !== sha256(zl));
    // (Go's reader: the umoci test below compresses with the default engine.)
  },
);

Deno.test("the addon is built with libdeflate wherever libdeflate-dev is installed", () => {
  if (!existsSync("/usr/include/libdeflate.h")) {
    console.error("SKIP libdeflate check: libdeflate-dev not installed (gzip uses node:zlib)");
    return;
  }
  assert(native.ok, `libdeflate-dev is installed but the gzip engine is not: ${native.ok || native.reason}`);
});

Deno.test("the addon's deflate scanner finds the last block and the end of zlib's streams of every block type", {
  ignore: !addon,
}, () => {
  const cases: [string, Uint8Array, number][] = [
    ["stored", noise(200_000), 0],
    ["fixed", new TextEncoder().encode("a short text, fixed Huffman codes"), 6],
    ["dynamic", DATA, 6],
    ["dynamic, level 1", DATA, 1],
    ["dynamic, level 9", DATA, 9],
    ["empty", new Uint8Array(0), 6],
  ];
  for (const [what, input, level] of cases) {
    const raw = new Uint8Array(zlib.deflateRawSync(input, { level }));
    const r = addon!.deflateScan(raw);
    assert(r, `${what}: not scanned`);
    const [, end] = r;
    assertEquals(Math.ceil(end / 8), raw.length, what);
    // Truncated or corrupted streams are refused, never read past their end.
    assertEquals(addon!.deflateScan(raw.subarray(0, raw.length - 1)), undefined, `${what} truncated`);
  }
  // A stream of two flushed halves: the last header is in the second half.
  const d = zlib.createDeflateRaw({ level: 6 });
  const parts: Uint8Array[] = [];
  d.on("data", (c: Uint8Array) => parts.push(c));
  d.write(DATA.subarray(0, 100_000));
  d.flush(zlib.constants.Z_FULL_FLUSH, () => {});
  d.end(DATA.subarray(100_000, 200_000));
  return new Promise<void>((resolve) =>
    d.on("end", () => {
      const all = new Uint8Array(Buffer.concat(parts));
      const [last] = addon!.deflateScan(all)!;
      assert(last > 8 * 40_000, `last header at bit ${last}`);
      resolve();
    })
  );
});

Deno.test("the addon's deflate scanner refuses mutated and random streams without reading past them", {
  ignore: !addon,
}, () => {
  const valid = [0, 1, 6, 9].map((level) => new Uint8Array(zlib.deflateRawSync(DATA.subarray(0, 300_000), { level })));
  const rnd = xorshift(12345);
  let truncatedRefused = 0;
  for (let i = 0; i < 3000; i++) {
    const base = valid[i % valid.length]!;
    // Flip a few bits, or truncate, or pure noise; each buffer is exactly its length (no slack to read into).
    let b: Uint8Array;
    if (i % 10 === 9) b = noise(1 + rnd() % 5000);
    else if (i % 10 === 8) b = base.slice(0, rnd() % base.length);
    else {
      b = base.slice();
      for (let k = 0; k < 1 + rnd() % 4; k++) b[rnd() % b.length]! ^= 1 << (rnd() % 8);
    }
    const r = addon!.deflateScan(b);
    if (!r && i % 10 === 8) truncatedRefused++;
    // A flipped literal bit can leave a valid stream (deflate has no checksum): then it must end at the last byte.
    if (r) assert(r[0] < r[1] && Math.ceil(r[1] / 8) === b.length, `scan ${r} of ${b.length} bytes`);
  }
  assertEquals(truncatedRefused, 300, "every truncated stream is refused");
});

Deno.test("createGzipStream() handles empty input and plain mode", { ignore: skipUnless("gzip", "gzip") }, async () => {
  const empty = await bytes(ReadableStream.from([] as Uint8Array[]).pipeThrough(createGzipStream({ parallel: 0 })));
  assertEquals(tool("gzip", ["-dc"], empty).length, 0);
  const plain = await bytes(chunked(DATA, 100000).pipeThrough(createGzipStream({ parallel: false, level: 1 })));
  assertEquals(sha256(tool("gzip", ["-dc"], plain)), sha256(DATA));
});

Deno.test("createGzipStream() rejects bad levels", () => {
  let err: unknown;
  try {
    createGzipStream({ level: 10 });
  } catch (e) {
    err = e;
  }
  assert(err instanceof RangeError && err.message.includes("level 10"));
});

Deno.test("createZstdStream() output is read by the zstd CLI", { ignore: skipUnless("zstd", "zstd") }, async () => {
  const z = await bytes(chunked(DATA, 300000).pipeThrough(createZstdStream({ level: 3 })));
  assertEquals(sha256(tool("zstd", ["-dc"], z)), sha256(DATA));
  const z2 = await bytes(chunked(DATA, 12345).pipeThrough(createZstdStream({ level: 3 })));
  assertEquals(sha256(z2), sha256(z));
});

Deno.test("autoDecompress() detects gzip, zstd, bzip2, xz and plain data", {
  ignore: skipUnless("codecs", "gzip", "zstd", "bzip2", "xz"),
}, async () => {
  const small = DATA.subarray(0, 300000);
  const inputs: Array<[string, Uint8Array]> = [
    ["gzip", tool("gzip", ["-c"], small)],
    ["zstd", tool("zstd", ["-c"], small)],
    ["bzip2", tool("bzip2", ["-c"], small)],
    ["xz", tool("xz", ["-c"], small)],
    ["none", small],
  ];
  for (const [fmt, data] of inputs) {
    assertEquals(detectCompression(data), fmt);
    const { compression, stream } = await autoDecompress(chunked(data, 3));
    assertEquals(compression, fmt);
    assertEquals(sha256(await bytes(stream)), sha256(small), fmt);
  }
  const { stream } = await autoDecompress(ReadableStream.from([] as Uint8Array[]));
  assertEquals((await bytes(stream)).length, 0);
});

Deno.test(
  "createDecompressStream() reports corrupt data as a KilnError",
  { ignore: skipUnless("xz", "xz") },
  async () => {
    const gz = tool("gzip", ["-c"], DATA.subarray(0, 100000));
    gz[gz.length - 5] = gz[gz.length - 5]! ^ 0xff; // CRC
    await assertRejects(() => bytes(chunked(gz, 1000).pipeThrough(createDecompressStream("gzip"))), Error, "gzip");
    const xz = tool("xz", ["-c"], DATA.subarray(0, 100000));
    await assertRejects(
      () => bytes(chunked(xz.subarray(0, 500), 100).pipeThrough(createDecompressStream("xz"))),
      Error,
      "Cannot decompress xz data: xz exited with 1",
    );
  },
);

Deno.test("createDecompressStream() reports truncated zstd and accepts multi-frame zstd", {
  ignore: skipUnless("zstd", "zstd"),
}, async () => {
  const small = DATA.subarray(0, 200000);
  const z = tool("zstd", ["-c", "-19", "--check"], small);
  await assertRejects(
    () => bytes(chunked(z.subarray(0, z.length - 3), 1000).pipeThrough(createDecompressStream("zstd"))),
    Error,
    "Cannot decompress zstd data: unexpected end of input",
  );
  const ours = await bytes(chunked(small, 70000).pipeThrough(createZstdStream({ level: 1 })));
  const two = new Uint8Array([...z, ...ours]);
  assertEquals((await bytes(chunked(two, 777).pipeThrough(createDecompressStream("zstd")))).length, 400000);
});

Deno.test("compressLayer() computes digest, size and diffID in one pass", async () => {
  for (const compression of ["gzip", "zstd", "none"] as const) {
    const { stream, result } = compressLayer(chunked(DATA, 50000), { compression });
    const out = await bytes(stream);
    const info = await result;
    assertEquals(info, { digest: sha256(out), size: out.length, diffId: sha256(DATA), uncompressedSize: DATA.length });
  }
});

Deno.test("compressLayer() gzip layers are accepted by umoci (Go's gzip reader)", {
  ignore: skipUnless("umoci", "umoci", "root"),
}, async () => {
  const dir = tempDir("kiln-umoci-");
  try {
    const tar = ReadableStream.from([
      {
        header: { path: "data.bin", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: DATA.length },
        body: chunked(DATA, 1 << 20),
      },
    ]).pipeThrough(new TarWriterStream());
    const { stream, result } = compressLayer(tar, { compression: "gzip", parallel: 2 });
    const layer = await bytes(stream);
    const info = await result;
    const blobs = join(dir, "layout", "blobs", "sha256");
    mkdirSync(blobs, { recursive: true });
    const put = (b: Uint8Array | string) => {
      const d = sha256(b);
      writeFileSync(join(blobs, d.slice(7)), b);
      return { digest: d, size: typeof b === "string" ? new TextEncoder().encode(b).length : b.length };
    };
    put(layer);
    const config = put(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [info.diffId] },
      config: {},
    }));
    const manifest = put(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: info.digest, size: info.size }],
    }));
    writeFileSync(join(dir, "layout", "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(
      join(dir, "layout", "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: { "org.opencontainers.image.ref.name": "t" },
        }],
      }),
    );
    const r = spawnSync("umoci", ["unpack", "--image", join(dir, "layout") + ":t", join(dir, "bundle")]);
    assertEquals(r.status, 0, r.stderr?.toString());
    assertEquals(sha256(new Uint8Array(readFileSync(join(dir, "bundle", "rootfs", "data.bin")))), sha256(DATA));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A pool that records every distinct buffer it handed out. */
function countingPool(size: number): ChunkPool & { buffers: Set<ArrayBufferLike>; takes: number } {
  const inner = createChunkPool(size);
  const buffers = new Set<ArrayBufferLike>();
  const p = {
    size,
    buffers,
    takes: 0,
    take() {
      const b = inner.take();
      p.takes++;
      buffers.add(b.buffer);
      return b;
    },
    give: (b: Uint8Array) => inner.give(b),
  };
  return p;
}

/** `data` as pool buffers of up to 1 MiB, the way the snapshot reader makes them. */
function pooledChunks(data: Uint8Array, pool: ChunkPool): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) return c.close();
      const n = Math.min(1 << 20, data.length - off);
      const buf = pool.take().subarray(0, n);
      buf.set(data.subarray(off, off + n));
      off += n;
      c.enqueue(buf);
    },
  }, { highWaterMark: 0 });
}

/** Reads a stream as the layer writer does: copies each chunk out, then gives it back. */
async function drainGiving(s: ReadableStream<Uint8Array>, pool: ChunkPool): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of s) {
    parts.push(chunk.slice());
    chunk.fill(0xa5); // a giver's bytes are the next taker's: anything still reading them would see this
    pool.give(chunk);
  }
  return new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
}

Deno.test("createGzipStream() with a chunk pool: same bytes, input and output buffers go round", {
  ignore: !native.ok,
}, async () => {
  const input = new Uint8Array(24 * 1024 * 1024);
  for (let o = 0; o < input.length; o += DATA.length) input.set(DATA.subarray(0, input.length - o), o);
  input.set(noise(4 * 1024 * 1024), 8 * 1024 * 1024);
  const want = sha256(await bytes(chunked(input, 1 << 20).pipeThrough(createGzipStream({ engine: "libdeflate" }))));
  const pool = countingPool((1 << 20) + (1 << 16));
  const got = await drainGiving(
    pooledChunks(input, pool).pipeThrough(createGzipStream({ engine: "libdeflate", pool })),
    pool,
  );
  assertEquals(sha256(got), want);
  // 24 input chunks and 24 output blocks came from the pool, through a handful of buffers.
  assert(pool.takes >= 48, `takes ${pool.takes}`);
  assert(pool.buffers.size <= 16, `${pool.buffers.size} distinct buffers for ${pool.takes} takes`);
  // A pool too small for a block's output: the addon writes a new array instead, same bytes.
  const small = countingPool(64 * 1024);
  const s = await drainGiving(
    chunked(input, 65536).pipeThrough(createGzipStream({ engine: "libdeflate", pool: small })),
    small,
  );
  assertEquals(sha256(s), want);
  // The zlib engine gives input back too (its output is its own).
  const zpool = countingPool((1 << 20) + (1 << 16));
  const wantZ = sha256(await bytes(chunked(input, 1 << 20).pipeThrough(createGzipStream({ engine: "zlib" }))));
  const z = await drainGiving(
    pooledChunks(input, zpool).pipeThrough(createGzipStream({ engine: "zlib", pool: zpool })),
    zpool,
  );
  assertEquals(sha256(z), wantZ);
  assert(zpool.buffers.size <= 8, `zlib: ${zpool.buffers.size} distinct input buffers`);
});
