/**
 * Shared fixtures for the tar tests: the feature list of reference/runtime.md §3 as TarEntry objects.
 *
 * @module
 */
import type { TarEntry, TarHeader } from "../../../lib/tar/mod.ts";
import { spawnSync } from "node:child_process";

/** A 207-character path. */
export const LONG_PATH = "d/" + "x".repeat(100) + "/" + "y".repeat(104);
/** A 150-character symlink target. */
export const LONG_TARGET = "/" + "t".repeat(149);

/** Builds a header with defaults. */
export function hdr(h: Partial<TarHeader> & Pick<TarHeader, "path" | "type">): TarHeader {
  return { mode: h.type === "dir" ? 0o755 : 0o644, uid: 0, gid: 0, mtime: 1700000000, size: 0, ...h };
}

/** A body stream delivering `data` in chunks of `chunk` bytes. */
export function bodyOf(data: Uint8Array | string, chunk = 7): ReadableStream<Uint8Array> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.slice(i, i + chunk));
  return ReadableStream.from(parts);
}

/** The runtime.md §3 feature list (fresh streams on every call). */
export function featureEntries(chunk = 7): TarEntry[] {
  const enc = new TextEncoder();
  return [
    { header: hdr({ path: "d", type: "dir" }) },
    { header: hdr({ path: "d/" + "x".repeat(100), type: "dir" }) },
    {
      header: hdr({ path: LONG_PATH, type: "file", size: 5, uid: 3000000, gid: 4000000, mtime: 1700000000.789 }),
      body: bodyOf("long\n", chunk),
    },
    {
      header: hdr({
        path: "d/xattr.txt",
        type: "file",
        size: 3,
        mode: 0o4755,
        xattrs: { "user.foo": enc.encode("bar"), "user.bin": new Uint8Array([0x00, 0xff, 0x80, 0xfe]) },
      }),
      body: bodyOf("xa\n", chunk),
    },
    { header: hdr({ path: "d/hard", type: "hardlink", linkname: "d/xattr.txt" }) },
    { header: hdr({ path: "d/sym", type: "symlink", linkname: LONG_TARGET, mode: 0o777 }) },
    { header: hdr({ path: "d/null", type: "char", devmajor: 1, devminor: 3, mode: 0o666 }) },
    { header: hdr({ path: "d/sda", type: "block", devmajor: 8, devminor: 0, mode: 0o660 }) },
    { header: hdr({ path: "d/fifo", type: "fifo", mode: 0o600 }) },
    { header: hdr({ path: "d/ünï.txt", type: "file", size: 0, uname: "root", gname: "root" }) },
  ];
}

/** Collects a byte stream. */
export async function bytesOf(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Runs a command synchronously, throwing with its stderr on failure; returns stdout. */
export function run(cmd: string, args: string[], opts: { input?: Uint8Array; cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { input: opts.input, cwd: opts.cwd, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr?.toString()}`);
  return r.stdout.toString();
}
