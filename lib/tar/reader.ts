/**
 * Streaming tar reader: USTAR, PAX (`x` and `g`), GNU long names (`L`/`K`), base-256 numbers, v7 headers.
 *
 * @module
 */
import { ByteSource } from "./_bytes.ts";
import {
  BLOCK,
  checksum,
  fromUtf8,
  headerFormat,
  parsePaxRecords,
  parsePaxTime,
  readNumber,
  readString,
  signedChecksum,
  typeflagChar,
} from "./_header.ts";
import { TarError } from "./errors.ts";
import type { TarEntry, TarEntryType, TarHeader } from "./types.ts";

/** Options for {@linkcode readTar} and {@linkcode TarReaderStream}. */
export interface TarReaderOptions {
  /** Largest PAX or GNU long-name header accepted, in bytes (default 16 MiB). */
  maxMetaSize?: number;
  /** After the end-of-archive blocks, read and discard the rest of the input (default true), so upstream hashing sees every byte. */
  drain?: boolean;
}

const TYPES: Record<number, TarEntryType> = {
  0: "file",
  0x30: "file",
  0x37: "file", // contiguous file
  0x31: "hardlink",
  0x32: "symlink",
  0x33: "char",
  0x34: "block",
  0x35: "dir",
  0x36: "fifo",
  0x44: "dir", // GNU dumpdir: a directory whose body lists names
};

/**
 * Normalizes an archive path: drops leading `/` and `./`, collapses repeated `/`, drops a trailing `/`.
 * The archive root (`./`, `/`) becomes `.`. `..` components are kept (the extractor rejects them).
 *
 * @param p Path as stored in the archive.
 * @returns The normalized path.
 *
 * @example Usage
 * ```ts
 * import { normalizeArchivePath } from "./reader.ts";
 * console.assert(normalizeArchivePath("./usr//bin/") === "usr/bin");
 * ```
 */
export function normalizeArchivePath(p: string): string {
  const parts = p.split("/").filter((s) => s !== "" && s !== ".");
  return parts.length ? parts.join("/") : ".";
}

function allZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function fail(what: string, offset: number, path?: string): TarError {
  return new TarError(`Cannot read tar archive: ${what} at offset ${offset}`, {
    offset,
    ...(path === undefined ? {} : { path }),
  });
}

/**
 * Reads a tar archive entry by entry. Each file's `body` streams straight from the input; read it or cancel it before
 * asking for the next entry (an unread body is skipped then and errors if read later). Malformed input throws a
 * {@linkcode TarError} `Cannot read tar archive: <what> at offset N`. Paths are normalized with
 * {@linkcode normalizeArchivePath}; hardlink targets too. Non-file entries have `size` 0 and no body.
 *
 * @param stream Tar bytes (already decompressed).
 * @param options Limits.
 * @returns The entries, in archive order.
 *
 * @example Usage
 * ```ts
 * import { readTar, TarWriterStream } from "./mod.ts";
 * const tar = ReadableStream.from([
 *   { header: { path: "a.txt", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 2 },
 *     body: new Blob(["hi"]).stream() },
 * ]).pipeThrough(new TarWriterStream());
 * for await (const e of readTar(tar)) {
 *   console.assert(await new Response(e.body).text() === "hi");
 * }
 * ```
 */
export async function* readTar(
  stream: ReadableStream<Uint8Array>,
  options: TarReaderOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const maxMeta = options.maxMetaSize ?? 16 * 1024 * 1024;
  const src = new ByteSource(stream);
  const global = new Map<string, Uint8Array>();
  let local: Map<string, Uint8Array> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let finished = false;
  try {
    while (true) {
      const at = src.offset;
      const block = await src.readExact(BLOCK);
      if (block.length === 0) {
        if (local || longName !== undefined || longLink !== undefined) {
          throw fail("unexpected end of archive after an extended header", at);
        }
        finished = true; // no end-of-archive blocks: accepted, as GNU tar does
        return;
      }
      if (block.length < BLOCK) throw fail("unexpected end of archive in a header", at);
      if (allZero(block)) {
        finished = true;
        if (options.drain ?? true) await src.drain();
        return;
      }
      const stored = readNumber(block, 148, 8);
      if (stored !== checksum(block) && stored !== signedChecksum(block)) {
        throw fail("invalid header checksum", at);
      }
      const format = headerFormat(block);
      const typeflag = block[156]!;
      const rawSize = readNumber(block, 124, 12);
      if (Number.isNaN(rawSize) || rawSize < 0) throw fail("invalid size field", at);
      const isMeta = typeflag === 0x78 || typeflag === 0x67 || typeflag === 0x4c || typeflag === 0x4b;
      const localSize = isMeta ? undefined : local?.get("size");
      const size = localSize !== undefined ? Number(fromUtf8(localSize)) : rawSize;
      if (!Number.isSafeInteger(size) || size < 0) throw fail("invalid PAX size", at);

      // Metadata entries.
      if (isMeta) {
        if (size > maxMeta) throw fail(`extended header of ${size} bytes is too large`, at);
        const data = await src.readExact(size);
        if (data.length < size) throw fail("unexpected end of archive in an extended header", src.offset);
        if ((await src.skip(padOf(size))) < padOf(size)) {
          throw fail("unexpected end of archive in an extended header", src.offset);
        }
        if (typeflag === 0x4c || typeflag === 0x4b) {
          let end = data.indexOf(0);
          if (end < 0) end = data.length;
          const s = fromUtf8(data.subarray(0, end));
          if (typeflag === 0x4c) longName = s;
          else longLink = s;
          continue;
        }
        let records: Array<[string, Uint8Array]>;
        try {
          records = parsePaxRecords(data);
        } catch (e) {
          throw fail((e as Error).message, at);
        }
        if (typeflag === 0x67) {
          for (const [k, v] of records) {
            if (v.length === 0) global.delete(k);
            else global.set(k, v);
          }
        } else {
          local ??= new Map();
          for (const [k, v] of records) local.set(k, v);
        }
        continue;
      }
      if (typeflag === 0x56) { // 'V' volume label
        await skipOrFail(src, size + padOf(size), at);
        local = undefined;
        longName = longLink = undefined;
        continue;
      }
      let type = TYPES[typeflag];
      if (type === undefined) {
        throw fail(`unsupported entry type '${typeflagChar(typeflag)}'`, at);
      }
      const pax = new Map(global);
      if (local) { for (const [k, v] of local) pax.set(k, v); }
      local = undefined;

      let name = readString(block, 0, 100);
      if (format === "ustar") {
        const prefix = readString(block, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      if (longName !== undefined) name = longName;
      const paxPath = pax.get("path");
      if (paxPath !== undefined) name = fromUtf8(paxPath);
      if (type === "file" && name.endsWith("/") && (typeflag === 0 || typeflag === 0x30)) type = "dir";
      let linkname = readString(block, 157, 100);
      if (longLink !== undefined) linkname = longLink;
      const paxLink = pax.get("linkpath");
      if (paxLink !== undefined) linkname = fromUtf8(paxLink);
      longName = longLink = undefined;

      const num = (off: number, len: number, field: string): number => {
        const v = readNumber(block, off, len);
        if (Number.isNaN(v)) throw fail(`invalid ${field} field`, at, name);
        return v;
      };
      const header: TarHeader = {
        path: normalizeArchivePath(name),
        type,
        mode: num(100, 8, "mode") & 0o7777,
        uid: num(108, 8, "uid"),
        gid: num(116, 8, "gid"),
        mtime: num(136, 12, "mtime"),
        size: type === "file" ? size : 0,
      };
      if (format !== "v7") {
        const uname = readString(block, 265, 32);
        const gname = readString(block, 297, 32);
        if (uname) header.uname = uname;
        if (gname) header.gname = gname;
      }
      if (type === "symlink") header.linkname = linkname;
      else if (type === "hardlink") header.linkname = normalizeArchivePath(linkname);
      if (type === "char" || type === "block") {
        header.devmajor = num(329, 8, "devmajor");
        header.devminor = num(337, 8, "devminor");
      }
      applyPax(header, pax, at);

      const dataLen = size + padOf(size);
      if (type !== "file") {
        await skipOrFail(src, dataLen, at);
        yield { header };
        continue;
      }
      // File: the body streams from the input, through `read` or a lazily created `body` stream.
      let remaining = size;
      let pulling: Promise<void> | undefined;
      let state: "open" | "done" | "cancelled" | "detached" = size === 0 ? "done" : "open";
      let bodyCtrl: ReadableStreamDefaultController<Uint8Array> | undefined;
      let bodyStream: ReadableStream<Uint8Array> | undefined;
      const next = async (): Promise<Uint8Array | undefined> => {
        if (state === "detached") {
          throw new TypeError(`Cannot read body of "${header.path}": the reader moved to the next entry`);
        }
        if (state !== "open") return undefined;
        const chunk = await src.readSome(Math.min(remaining, 1 << 20));
        if (chunk.length === 0) {
          state = "cancelled";
          throw fail("unexpected end of archive in the body of " + JSON.stringify(header.path), src.offset);
        }
        remaining -= chunk.length;
        if (remaining === 0) state = "done";
        return chunk;
      };
      const read = (): Promise<Uint8Array | undefined> => {
        const p = next();
        pulling = p.then(() => {}, () => {});
        return p;
      };
      const makeBody = (): ReadableStream<Uint8Array> =>
        new ReadableStream<Uint8Array>({
          start(c) {
            bodyCtrl = c;
            if (state === "done") c.close();
          },
          async pull(c) {
            if (state !== "open") return;
            try {
              const chunk = await read();
              if (chunk) c.enqueue(chunk);
              if (remaining === 0) c.close();
            } catch (e) {
              c.error(e);
            }
          },
          cancel() {
            if (state === "open") state = "cancelled";
          },
        }, { highWaterMark: 0 });
      yield {
        header,
        get body() {
          return bodyStream ??= makeBody();
        },
        read,
      };
      if (pulling) await pulling;
      if (state === "open") {
        state = "detached";
        try {
          bodyCtrl?.error(new TypeError(`Cannot read body of "${header.path}": the reader moved to the next entry`));
        } catch { /* already closed */ }
      }
      if (remaining > 0 && (await src.skip(remaining)) < remaining) {
        throw fail(`unexpected end of archive in the body of ${JSON.stringify(header.path)}`, src.offset);
      }
      remaining = 0;
      await skipOrFail(src, padOf(size), at);
    }
  } finally {
    if (!finished) await src.cancel();
    else src.release();
  }
}

function padOf(n: number): number {
  const r = n % BLOCK;
  return r ? BLOCK - r : 0;
}

async function skipOrFail(src: ByteSource, n: number, at: number): Promise<void> {
  if ((await src.skip(n)) < n) throw fail("unexpected end of archive in an entry's data", at);
}

const XATTR_SCHILY = "SCHILY.xattr.";
const XATTR_LIBARCHIVE = "LIBARCHIVE.xattr.";

function applyPax(h: TarHeader, pax: Map<string, Uint8Array>, at: number): void {
  for (const [k, v] of pax) {
    switch (k) {
      case "path":
      case "linkpath":
      case "size":
        break;
      case "uid":
      case "gid": {
        const n = Number(fromUtf8(v));
        if (!Number.isSafeInteger(n) || n < 0) throw fail(`invalid PAX ${k}`, at, h.path);
        h[k] = n;
        break;
      }
      case "uname":
      case "gname":
        h[k] = fromUtf8(v);
        break;
      case "mtime": {
        const t = parsePaxTime(fromUtf8(v));
        if (!Number.isFinite(t)) throw fail("invalid PAX mtime", at, h.path);
        h.mtime = t;
        break;
      }
      default:
        if (k.startsWith(XATTR_SCHILY)) {
          (h.xattrs ??= {})[k.slice(XATTR_SCHILY.length)] = v;
        } else if (k.startsWith(XATTR_LIBARCHIVE)) {
          const name = decodeURIComponent(k.slice(XATTR_LIBARCHIVE.length));
          (h.xattrs ??= {})[name] ??= Uint8Array.from(atob(fromUtf8(v)), (c) => c.charCodeAt(0));
        } else if (k.startsWith("GNU.sparse.")) {
          throw fail("sparse files are not supported", at, h.path);
        } else {
          (h.pax ??= {})[k] = fromUtf8(v);
        }
    }
  }
}

/**
 * A TransformStream from tar bytes to {@linkcode TarEntry} objects; see {@linkcode readTar} for the rules.
 *
 * @example Usage
 * ```ts
 * import { TarReaderStream, TarWriterStream } from "./mod.ts";
 * const entries = ReadableStream.from([
 *   { header: { path: "d", type: "dir" as const, mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 } },
 * ]).pipeThrough(new TarWriterStream()).pipeThrough(new TarReaderStream());
 * for await (const e of entries) console.assert(e.header.path === "d");
 * ```
 */
export class TarReaderStream implements TransformStream<Uint8Array, TarEntry> {
  /** Entries. */
  readonly readable: ReadableStream<TarEntry>;
  /** Tar bytes. */
  readonly writable: WritableStream<Uint8Array>;
  /**
   * Creates a tar reader.
   *
   * @param options Limits.
   */
  constructor(options: TarReaderOptions = {}) {
    const pass = new TransformStream<Uint8Array, Uint8Array>();
    this.writable = pass.writable;
    this.readable = ReadableStream.from(readTar(pass.readable, options));
  }
}
