/**
 * Decompression with format detection by magic bytes: gzip, zstd (node:zlib), bzip2 and xz (through the
 * `bzip2`/`xz` programs, as node:zlib has neither), or plain data.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { Readable, Writable } from "node:stream";
import { KilnError } from "../util/mod.ts";
import { createGunzipStream } from "./gzip.ts";
import { createZstdDecompressStream } from "./zstd.ts";

/** Compression formats kiln writes. */
export type Compression = "gzip" | "zstd" | "none";

/** Formats {@linkcode detectCompression} recognizes. */
export type DetectedCompression = Compression | "bzip2" | "xz";

/**
 * Detects the compression format from the first bytes of data (6 are enough).
 *
 * @param head The first bytes.
 * @returns The format, `"none"` when no known magic matches.
 *
 * @example Usage
 * ```ts
 * import { detectCompression } from "./decompress.ts";
 * console.assert(detectCompression(new Uint8Array([0x1f, 0x8b, 8])) === "gzip");
 * ```
 */
export function detectCompression(head: Uint8Array): DetectedCompression {
  const b = (i: number) => head[i];
  if (b(0) === 0x1f && b(1) === 0x8b) return "gzip";
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return "zstd";
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return "bzip2"; // "BZh"
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0) return "xz";
  return "none";
}

/** Options for {@linkcode createDecompressStream} and {@linkcode autoDecompress}. */
export interface DecompressOptions {
  /** Cancels a spawned `bzip2`/`xz` process. */
  signal?: AbortSignal;
}

/**
 * Creates a decompressor for a known format. bzip2 and xz run the `bzip2 -dc` / `xz -dc` programs (a documented
 * fallback: no maintained pure-JS streaming decoder is available to us); a missing program gives a KilnError.
 *
 * @param format The format.
 * @param options Abort signal.
 * @returns A TransformStream from compressed to raw bytes (identity for `"none"`).
 *
 * @example Usage
 * ```ts
 * import { createDecompressStream } from "./decompress.ts";
 * const s = new Blob(["plain"]).stream().pipeThrough(createDecompressStream("none"));
 * console.assert(await new Response(s).text() === "plain");
 * ```
 */
export function createDecompressStream(
  format: DetectedCompression,
  options: DecompressOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  switch (format) {
    case "gzip":
      return createGunzipStream();
    case "zstd":
      return createZstdDecompressStream();
    case "bzip2":
    case "xz":
      return processStream(format, options.signal);
    case "none":
      return new TransformStream();
  }
}

/**
 * Detects the compression of `stream` from its first bytes and returns the decompressed stream.
 *
 * @param stream Possibly compressed bytes.
 * @param options Abort signal.
 * @returns The detected format and the decompressed bytes.
 *
 * @example Usage
 * ```ts
 * import { autoDecompress, createGzipStream } from "./mod.ts";
 * const gz = new Blob(["hello"]).stream().pipeThrough(createGzipStream({ parallel: 0 }));
 * const { compression, stream } = await autoDecompress(gz);
 * console.assert(compression === "gzip" && await new Response(stream).text() === "hello");
 * ```
 */
export async function autoDecompress(
  stream: ReadableStream<Uint8Array>,
  options: DecompressOptions = {},
): Promise<{ compression: DetectedCompression; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const head: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < 6) {
    const r = await reader.read();
    if (r.done) {
      done = true;
      break;
    }
    head.push(r.value);
    have += r.value.length;
  }
  const first = new Uint8Array(have);
  let o = 0;
  for (const h of head) {
    first.set(h, o);
    o += h.length;
  }
  const compression = have === 0 ? "none" : detectCompression(first);
  const replay = new ReadableStream<Uint8Array>({
    start(c) {
      if (have) c.enqueue(first);
      if (done) c.close();
    },
    async pull(c) {
      const r = await reader.read();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  if (compression === "none") return { compression, stream: replay };
  return { compression, stream: replay.pipeThrough(createDecompressStream(compression, options)) };
}

function processStream(format: "bzip2" | "xz", signal?: AbortSignal): TransformStream<Uint8Array, Uint8Array> {
  const child = spawn(format, ["-dc"], { stdio: ["pipe", "pipe", "pipe"], ...(signal ? { signal } : {}) });
  let stderr = "";
  child.stderr.on("data", (d: Uint8Array) => {
    if (stderr.length < 2000) stderr += new TextDecoder().decode(d);
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(
        e.code === "ENOENT"
          ? new KilnError(`Cannot decompress ${format} data: the "${format}" program is not installed`, { cause: e })
          : new KilnError(`Cannot decompress ${format} data: ${e.message}`, { cause: e }),
      );
    });
    child.on("close", (code) => {
      if (code === 0) resolve();
      else {
        const first = stderr.trim().split("\n")[0] ?? "";
        reject(new KilnError(`Cannot decompress ${format} data: ${format} exited with ${code}: ${first}`));
      }
    });
  });
  exited.catch(() => {});
  const writable = Writable.toWeb(child.stdin) as WritableStream<Uint8Array>;
  const out = Readable.toWeb(child.stdout) as ReadableStream<Uint8Array>;
  const readable = out.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush: () => exited,
    }),
  );
  return { writable, readable } as TransformStream<Uint8Array, Uint8Array>;
}
