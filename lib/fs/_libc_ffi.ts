/**
 * The one adapter over Deno's FFI: glibc's xattr calls, mknod and statx, opened with `Deno.dlopen("libc.so.6")`.
 * Returns `undefined` where there is no Deno FFI (Node), no `--allow-ffi`, or no glibc.
 *
 * @module
 */
import { constants as osConstants } from "node:os";

const ERRNO_NAMES: Map<number, string> = new Map(
  Object.entries(osConstants.errno ?? {}).map(([k, v]) => [v as number, k] as [number, string]),
);

/**
 * The symbolic name of an errno value.
 *
 * @param e errno.
 * @returns e.g. `"ENOENT"`, or `"errno N"` when unknown.
 */
export function errnoName(e: number): string {
  return ERRNO_NAMES.get(e) ?? `errno ${e}`;
}

const LIBC_SYMBOLS = {
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The libc functions kiln calls through FFI (buffers are NUL-terminated C strings where a path is meant). */
export interface LibcSymbols {
  lgetxattr(p: Uint8Array, n: Uint8Array, v: Uint8Array | null, size: number | bigint): number | bigint;
  llistxattr(p: Uint8Array, l: Uint8Array | null, size: number | bigint): number | bigint;
  lsetxattr(p: Uint8Array, n: Uint8Array, v: Uint8Array, size: number | bigint, flags: number): number;
  mknod(p: Uint8Array, mode: number, dev: bigint): number;
  statx(dirfd: number, p: Uint8Array, flags: number, mask: number, buf: Uint8Array): number;
}

/** An opened libc plus `errno`. */
export interface LibcFfi {
  /** The functions. */
  symbols: LibcSymbols;
  /** The calling thread's errno, read right after a failed call. */
  errno(): number;
}

type DenoFfi = {
  dlopen?: (path: string, symbols: typeof LIBC_SYMBOLS) => { symbols: LibcSymbols & { __errno_location(): unknown } };
  UnsafePointerView?: new (p: unknown) => { getInt32(off?: number): number };
};

// dlopen costs ~1 ms per call in Deno and every call leaks a handle: open once per process. This caches an
// immutable capability of the runtime, not configuration.
const opened: { lib?: LibcFfi | null } = {};

/**
 * Opens libc through Deno's FFI (once per process; later calls return the same adapter).
 *
 * @returns The adapter, or `undefined` when FFI is unavailable or refused.
 */
export function openLibcFfi(): LibcFfi | undefined {
  if (opened.lib === undefined) opened.lib = dlopenLibc() ?? null;
  return opened.lib ?? undefined;
}

function dlopenLibc(): LibcFfi | undefined {
  const D = (globalThis as unknown as { Deno?: DenoFfi }).Deno;
  if (typeof D?.dlopen !== "function" || D.UnsafePointerView === undefined) return undefined;
  try {
    const lib = D.dlopen("libc.so.6", LIBC_SYMBOLS);
    const View = D.UnsafePointerView;
    const s = lib.symbols;
    return { symbols: s, errno: () => new View(s.__errno_location()).getInt32(0) };
  } catch {
    return undefined; // no --allow-ffi, or not glibc
  }
}
