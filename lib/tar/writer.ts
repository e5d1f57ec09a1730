/**
 * Streaming, deterministic tar writer (USTAR + PAX extended headers).
 *
 * @module
 */
import {
  BLOCK,
  encodeUstar,
  formatPaxTime,
  isAscii,
  MAX_OCTAL_12,
  MAX_OCTAL_8,
  paxRecord,
  type RawHeader,
  TYPEFLAG,
  utf8,
} from "./_header.ts";
import { TarError } from "./errors.ts";
import type { TarEntry, TarHeader } from "./types.ts";

/** Options for {@linkcode TarWriterStream}. */
export interface TarWriterOptions {
  /** Bytes buffered on the readable side before backpressure applies (default 1 MiB). */
  highWaterMark?: number;
  /** Size of the output chunks small pieces are coalesced into (default 64 KiB). */
  chunkSize?: number;
  /**
   * Where the output chunks come from (lib/util's ChunkPool fits): chunks are then `pool.size` bytes and the stream's
   * last reader gives them back (lib/compress's gzip does), instead of a fresh buffer per chunk.
   */
  pool?: { readonly size: number; take(): Uint8Array };
}

const SMALL = 16 * 1024;

/**
 * Turns {@linkcode TarEntry} objects into tar bytes: a USTAR header per entry, preceded by a PAX extended header
 * (`x`) when a value does not fit USTAR (path > 100 bytes that cannot be split into prefix/name, link target > 100
 * bytes, non-ASCII names, uid/gid > 0o7777777, size ≥ 8 GiB, fractional or negative mtime, long or non-ASCII
 * user/group names, xattrs as binary-safe `SCHILY.xattr.<name>` records, extra `pax` records). The archive ends with two
 * zero blocks. Output is deterministic: the same entries give the same bytes whatever the chunking of bodies.
 *
 * Directories get a trailing `/`. File bodies are streamed, never buffered whole; a body whose length differs from
 * `header.size` errors the stream with a {@linkcode TarError}. Output applies backpressure to the writer.
 *
 * @example Usage
 * ```ts
 * import { TarWriterStream } from "./writer.ts";
 * const body = new Blob(["hi\n"]).stream();
 * const tar = ReadableStream.from([
 *   { header: { path: "etc", type: "dir" as const, mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 } },
 *   { header: { path: "etc/motd", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3 }, body },
 * ]).pipeThrough(new TarWriterStream());
 * const bytes = new Uint8Array(await new Response(tar).arrayBuffer());
 * console.assert(bytes.length === 512 * 5);
 * ```
 */
export class TarWriterStream implements TransformStream<TarEntry, Uint8Array> {
  /** Tar bytes. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Entries to write. */
  readonly writable: WritableStream<TarEntry>;

  /**
   * Creates a tar writer.
   *
   * @param options Buffering options.
   */
  constructor(options: TarWriterOptions = {}) {
    const pool = options.pool;
    const chunkSize = Math.max(pool?.size ?? options.chunkSize ?? 64 * 1024, 2 * BLOCK);
    // Reserved bytes must be zeros (padding, unused header fields): a pooled buffer is zeroed first.
    const fresh = () => pool ? pool.take().fill(0) : new Uint8Array(chunkSize);
    let ctrl!: ReadableStreamDefaultController<Uint8Array>;
    let waiter: (() => void) | undefined;
    let cancelled = undefined as { reason: unknown } | undefined;
    let buf = fresh();
    let pos = 0;

    this.readable = new ReadableStream<Uint8Array>({
      start(c) {
        ctrl = c;
      },
      pull() {
        const w = waiter;
        waiter = undefined;
        w?.();
      },
      cancel(reason) {
        cancelled = { reason };
        const w = waiter;
        waiter = undefined;
        w?.();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: options.highWaterMark ?? 1024 * 1024 }));

    async function emit(chunk: Uint8Array): Promise<void> {
      if (cancelled) throw cancelled.reason ?? new TypeError("Cannot write tar entry: output stream was cancelled");
      if ((ctrl.desiredSize ?? 0) <= 0) {
        await new Promise<void>((r) => waiter = r);
        const c = cancelled as { reason: unknown } | undefined;
        if (c) throw c.reason ?? new TypeError("Cannot write tar entry: output stream was cancelled");
      }
      ctrl.enqueue(chunk);
    }
    async function flushBuf(): Promise<void> {
      if (pos === 0) return;
      const out = buf.subarray(0, pos);
      buf = fresh();
      pos = 0;
      await emit(out);
    }
    /** Reserves `n` zeroed bytes in the buffer (n ≤ chunkSize), returning their offset. */
    async function reserve(n: number): Promise<number> {
      if (pos + n > buf.length) await flushBuf();
      const at = pos;
      pos += n;
      return at;
    }
    async function write(bytes: Uint8Array): Promise<void> {
      if (bytes.length >= SMALL) {
        await flushBuf();
        await emit(bytes);
        return;
      }
      const at = await reserve(bytes.length);
      buf.set(bytes, at);
    }
    async function pad(n: number): Promise<void> {
      const rem = n % BLOCK;
      if (rem) await reserve(BLOCK - rem);
    }

    async function writeEntry(entry: TarEntry): Promise<void> {
      const h = entry.header;
      const { raw, pax } = prepare(h);
      if (pax.length) {
        let paxLen = 0;
        for (const r of pax) paxLen += r.length;
        const at = await reserve(BLOCK);
        encodeUstar(buf, at, {
          name: paxName(raw.prefix ? `${raw.prefix}/${raw.name}` : raw.name, h.path),
          mode: 0o644,
          uid: 0,
          gid: 0,
          size: paxLen,
          mtime: raw.mtime,
          typeflag: 0x78, // 'x'
          linkname: "",
          uname: "",
          gname: "",
          devmajor: 0,
          devminor: 0,
          prefix: "",
        });
        for (const r of pax) await write(r);
        await pad(paxLen);
      }
      const at = await reserve(BLOCK);
      encodeUstar(buf, at, raw);
      if (h.type !== "file") {
        if (entry.body || entry.data) {
          await entry.body?.cancel();
          throw new TarError(`Cannot write tar entry "${h.path}": a ${h.type} entry cannot have a body`, {
            path: h.path,
          });
        }
        return;
      }
      const size = h.size;
      if (entry.data) {
        if (entry.body) await entry.body.cancel();
        if (entry.data.length !== size) {
          throw new TarError(
            `Cannot write tar entry "${h.path}": data has ${entry.data.length} bytes but header.size is ${size}`,
            { path: h.path },
          );
        }
        await write(entry.data);
        await pad(size);
        return;
      }
      if (!entry.body) {
        if (size !== 0) {
          throw new TarError(`Cannot write tar entry "${h.path}": header.size is ${size} but there is no body`, {
            path: h.path,
          });
        }
        return;
      }
      const reader = entry.body.getReader();
      let n = 0;
      try {
        while (true) {
          const { done, value } = await reader.read();
          if (done) break;
          n += value.length;
          if (n > size) {
            throw new TarError(`Cannot write tar entry "${h.path}": body is longer than header.size ${size}`, {
              path: h.path,
            });
          }
          await write(value);
        }
      } catch (e) {
        await reader.cancel(e).catch(() => {});
        throw e;
      } finally {
        reader.releaseLock();
      }
      if (n !== size) {
        throw new TarError(
          `Cannot write tar entry "${h.path}": body has ${n} bytes but header.size is ${size}`,
          { path: h.path },
        );
      }
      await pad(size);
    }

    this.writable = new WritableStream<TarEntry>({
      async write(entry) {
        try {
          await writeEntry(entry);
        } catch (e) {
          if (!cancelled) ctrl.error(e);
          throw e;
        }
      },
      async close() {
        await reserve(2 * BLOCK);
        await flushBuf();
        ctrl.close();
      },
      abort(reason) {
        if (!cancelled) ctrl.error(reason);
      },
    });
  }
}

/** Name field of a PAX extended header: `<dir>/PaxHeaders/<base>` like GNU tar, ASCII, ≤ 100 bytes. */
function paxName(fallback: string, path: string): string {
  const p = path.replace(/\/+$/, "");
  const slash = p.lastIndexOf("/");
  const dir = slash < 0 ? "." : p.slice(0, slash);
  const base = slash < 0 ? p : p.slice(slash + 1);
  let name = asciiOnly(`${dir}/PaxHeaders/${base}`);
  if (name.length > 100) name = asciiOnly(fallback).slice(0, 100);
  return name;
}

function asciiOnly(s: string): string {
  return isAscii(s) ? s : s.replace(/[\u0080-\uffff]/g, "_");
}

/** Splits an ASCII path into USTAR prefix (≤155) and name (≤100) at a `/`, or returns undefined. */
function splitUstar(p: string): [string, string] | undefined {
  if (p.length > 256) return undefined;
  // The last possible split point keeps the name as long as allowed; search for the first `/` that works.
  let i = p.length - 101;
  if (i < 0) i = 0;
  for (; i < p.length && i <= 155; i++) {
    if (p.charCodeAt(i) !== 0x2f) continue;
    const name = p.slice(i + 1);
    if (name.length === 0 || name.length > 100) continue;
    return [p.slice(0, i), name];
  }
  return undefined;
}

function checkNumber(h: TarHeader, field: string, v: number | undefined): void {
  if (v === undefined) return;
  if (!Number.isFinite(v) || (field !== "mtime" && (v < 0 || !Number.isInteger(v)))) {
    throw new RangeError(`Cannot write tar entry "${h.path}": invalid ${field} ${v}`);
  }
}

/** Computes the USTAR fields and the PAX records an entry needs. */
function prepare(h: TarHeader): { raw: RawHeader; pax: Uint8Array[] } {
  if (!h.path) throw new TypeError("Cannot write tar entry: empty path");
  for (const f of ["mode", "uid", "gid", "size", "mtime", "devmajor", "devminor"] as const) checkNumber(h, f, h[f]);
  const typeflag = TYPEFLAG[h.type];
  if (typeflag === undefined) throw new TypeError(`Cannot write tar entry "${h.path}": unknown type ${h.type}`);
  if (h.type !== "file" && h.size !== 0) {
    throw new RangeError(`Cannot write tar entry "${h.path}": size must be 0 for a ${h.type}`);
  }
  if ((h.type === "symlink" || h.type === "hardlink") && !h.linkname) {
    throw new TypeError(`Cannot write tar entry "${h.path}": a ${h.type} needs a linkname`);
  }
  const pax: Array<[string, Uint8Array]> = [];
  let path = h.path;
  if (h.type === "dir" && !path.endsWith("/")) path += "/";
  let name = path;
  let prefix = "";
  if (!isAscii(path) || path.length > 100) {
    const split = isAscii(path) ? splitUstar(path) : undefined;
    if (split) [prefix, name] = split;
    else {
      pax.push(["path", utf8(path)]);
      name = asciiOnly(path).slice(0, 100);
    }
  }
  let linkname = h.linkname ?? "";
  if (linkname && (!isAscii(linkname) || linkname.length > 100)) {
    pax.push(["linkpath", utf8(linkname)]);
    linkname = asciiOnly(linkname).slice(0, 100);
  }
  let size = h.size;
  if (size > MAX_OCTAL_12) {
    pax.push(["size", utf8(String(size))]);
    size = 0;
  }
  let uid = h.uid;
  if (uid > MAX_OCTAL_8) {
    pax.push(["uid", utf8(String(uid))]);
    uid = 0;
  }
  let gid = h.gid;
  if (gid > MAX_OCTAL_8) {
    pax.push(["gid", utf8(String(gid))]);
    gid = 0;
  }
  let uname = h.uname ?? "";
  if (uname && (!isAscii(uname) || uname.length > 32)) {
    pax.push(["uname", utf8(uname)]);
    uname = "";
  }
  let gname = h.gname ?? "";
  if (gname && (!isAscii(gname) || gname.length > 32)) {
    pax.push(["gname", utf8(gname)]);
    gname = "";
  }
  let mtime = h.mtime;
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > MAX_OCTAL_12) {
    pax.push(["mtime", utf8(formatPaxTime(mtime))]);
    mtime = Math.min(Math.max(Math.floor(mtime), 0), MAX_OCTAL_12);
  }
  if (h.pax) {
    for (const k of Object.keys(h.pax).sort()) pax.push([k, utf8(h.pax[k]!)]);
  }
  if (h.xattrs) {
    for (const k of Object.keys(h.xattrs).sort()) pax.push([`SCHILY.xattr.${k}`, h.xattrs[k]!]);
  }
  return {
    raw: {
      name,
      mode: h.mode & 0o7777,
      uid,
      gid,
      size,
      mtime,
      typeflag,
      linkname,
      uname,
      gname,
      devmajor: h.devmajor ?? 0,
      devminor: h.devminor ?? 0,
      prefix,
    },
    pax: pax.map(([k, v]) => paxRecord(k, v)),
  };
}
