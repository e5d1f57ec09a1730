/**
 * Filesystem syscalls that neither Deno nor Node expose: extended attributes (binary-safe, never following
 * symlinks) and `mknod` for device nodes and fifos.
 *
 * Backends, in order: kiln's native addon (native/, when built), else Deno's FFI into glibc
 * (`Deno.dlopen("libc.so.6")`, needs `--allow-ffi`), else none: every call then throws a {@linkcode KilnError}
 * "xattrs not supported on this runtime". On Node without the addon there is no backend.
 *
 * @example Read and write an xattr
 * ```ts ignore
 * import { lgetxattr, lsetxattr } from "./syscalls.ts";
 * lsetxattr("/tmp/f", "user.k", new Uint8Array([0, 1, 2]));
 * console.log(lgetxattr("/tmp/f", "user.k")); // Uint8Array [0, 1, 2]
 * ```
 *
 * @module
 */
import { KilnError } from "../util/mod.ts";
import { type KilnAddon, loadAddon } from "./_addon.ts";
import { errnoName, openLibcFfi } from "./_libc_ffi.ts";

/** The syscall surface; one object per backend. */
export interface Syscalls {
  /** `"native"` (addon) or `"ffi"` (Deno FFI into libc). */
  readonly backend: "native" | "ffi";
  /** Value of xattr `name` of `path` (symlinks not followed), or `undefined` if it is not set. */
  lgetxattr(path: string, name: string): Uint8Array | undefined;
  /** Names of the xattrs of `path`; empty if none or the filesystem has no xattr support. */
  llistxattr(path: string): string[];
  /** All xattrs of `path` (empty record if none). */
  lgetxattrs(path: string): Record<string, Uint8Array>;
  /** Sets xattr `name` of `path` (symlinks not followed). */
  lsetxattr(path: string, name: string, value: Uint8Array): void;
  /** Creates a char/block device or fifo; `mode` includes the type bits (`S_IFCHR`, `S_IFBLK`, `S_IFIFO`). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /**
   * Native backend only: copies a batch of regular files on a worker thread, each `srcs[i]` to the new file
   * `dsts[i]` (created exclusively, never through a symlink) with the owner, mode (set after the chown) and times of
   * `meta` (5 numbers per file: mode, uid, gid, atimeMs, mtimeMs). Result i: 0 copied, 1 copied and the source has
   * xattrs (the caller copies them), -errno failed with nothing left at `dsts[i]`. EPERM from a chown is ignored when
   * `chownEpermOk` (a non-root build keeps its own uid).
   */
  copyFiles?(srcs: string[], dsts: string[], meta: Float64Array, chownEpermOk: boolean): Promise<Int32Array>;
}

/** File-type bits for {@linkcode mknod}'s `mode`. */
export const S_IF = { fifo: 0o010000, char: 0o020000, block: 0o060000 } as const;

const ENODATA = 61;
const ENOTSUP = 95;
const ERANGE = 34;

/**
 * Linux `makedev(major, minor)` as a bigint.
 *
 * @param major Major device number.
 * @param minor Minor device number.
 * @returns The `dev_t`.
 */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | ((ma & 0xfffff000n) << 32n);
}

/**
 * Splits a Linux `st_rdev` into major and minor numbers.
 *
 * @param rdev Device number (as in `WalkResult.rdev`).
 * @returns `[major, minor]`.
 *
 * @example Usage
 * ```ts
 * import { splitDev } from "./syscalls.ts";
 * console.assert(splitDev(0x0103).join() === "1,3"); // /dev/null
 * ```
 */
export function splitDev(rdev: number): [number, number] {
  const d = BigInt(rdev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return [Number(major), Number(minor)];
}

function sysError(what: string, path: string, code: string | number): KilnError {
  const name = typeof code === "number" ? errnoName(code) : code;
  return new KilnError(`Cannot ${what} ${path}: ${name}`);
}

function fromAddon(addon: KilnAddon): Syscalls {
  const wrap = <T>(what: string, path: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw sysError(what, path, (e as { code?: string }).code ?? String((e as Error).message ?? e));
    }
  };
  const sc: Syscalls = {
    backend: "native",
    lgetxattr: (path, name) => wrap(`read xattr ${name} of`, path, () => addon.lgetxattr(path, name)),
    llistxattr: (path) => wrap("list xattrs of", path, () => addon.llistxattr(path)),
    lgetxattrs(path) {
      const out: Record<string, Uint8Array> = {};
      for (const n of sc.llistxattr(path)) {
        const v = sc.lgetxattr(path, n);
        if (v !== undefined) out[n] = v;
      }
      return out;
    },
    lsetxattr: (path, name, value) => wrap(`set xattr ${name} on`, path, () => addon.lsetxattr(path, name, value)),
    mknod: (path, mode, major, minor) =>
      wrap("mknod", path, () => addon.mknod(path, mode, Number(makedev(major, minor)))),
    ...(typeof addon.copyFiles === "function"
      ? {
        copyFiles: (srcs: string[], dsts: string[], meta: Float64Array, ok: boolean) =>
          addon.copyFiles(srcs.join("\0"), dsts.join("\0"), meta, ok),
      }
      : {}),
  };
  return sc;
}

function fromFfi(): Syscalls | undefined {
  const libc = openLibcFfi();
  if (libc === undefined) return undefined;
  const s = libc.symbols;
  const errno = libc.errno;
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const cstr = (x: string) => enc.encode(x + "\0");
  const sc: Syscalls = {
    backend: "ffi",
    lgetxattr(path, name) {
      const p = cstr(path);
      const n = cstr(name);
      for (let attempt = 0; attempt < 8; attempt++) {
        const len = Number(s.lgetxattr(p, n, null, 0));
        if (len < 0) {
          const e = errno();
          if (e === ENODATA) return undefined;
          throw sysError(`read xattr ${name} of`, path, e);
        }
        const buf = new Uint8Array(len);
        if (len === 0) return buf;
        const got = Number(s.lgetxattr(p, n, buf, len));
        if (got >= 0) return buf.slice(0, got);
        const e = errno();
        if (e === ENODATA) return undefined;
        if (e !== ERANGE) throw sysError(`read xattr ${name} of`, path, e);
      }
      throw sysError(`read xattr ${name} of`, path, "value keeps changing size");
    },
    llistxattr(path) {
      const p = cstr(path);
      for (let attempt = 0; attempt < 8; attempt++) {
        const len = Number(s.llistxattr(p, null, 0));
        if (len < 0) {
          const e = errno();
          if (e === ENOTSUP) return [];
          throw sysError("list xattrs of", path, e);
        }
        if (len === 0) return [];
        const buf = new Uint8Array(len);
        const got = Number(s.llistxattr(p, buf, len));
        if (got >= 0) return dec.decode(buf.subarray(0, got)).split("\0").filter((x) => x !== "");
        const e = errno();
        if (e !== ERANGE) throw sysError("list xattrs of", path, e);
      }
      throw sysError("list xattrs of", path, "list keeps changing size");
    },
    lgetxattrs(path) {
      const out: Record<string, Uint8Array> = {};
      for (const n of sc.llistxattr(path)) {
        const v = sc.lgetxattr(path, n);
        if (v !== undefined) out[n] = v;
      }
      return out;
    },
    lsetxattr(path, name, value) {
      if (s.lsetxattr(cstr(path), cstr(name), value, value.length, 0) !== 0) {
        throw sysError(`set xattr ${name} on`, path, errno());
      }
    },
    mknod(path, mode, major, minor) {
      if (s.mknod(cstr(path), mode, makedev(major, minor)) !== 0) throw sysError("mknod", path, errno());
    },
  };
  return sc;
}

/** Options for {@linkcode createSyscalls}. */
export interface SyscallsOptions {
  /** `"native"` or `"ffi"` forces a backend (KilnError if unavailable); `"auto"` (default) picks the first that works. */
  prefer?: "native" | "ffi" | "auto";
  /** Addon file to try instead of the default build output. */
  addonPath?: string;
}

/**
 * Returns the best available syscall backend, or `undefined` when there is none.
 *
 * @param options Backend preference.
 * @returns A {@linkcode Syscalls} object or `undefined`.
 *
 * @example Usage
 * ```ts
 * import { trySyscalls } from "./syscalls.ts";
 * const sc = trySyscalls();
 * console.log(sc ? `xattrs via ${sc.backend}` : "no xattr support");
 * ```
 */
export function trySyscalls(options: SyscallsOptions = {}): Syscalls | undefined {
  const prefer = options.prefer ?? "auto";
  if (prefer !== "ffi") {
    const r = options.addonPath === undefined ? loadAddon() : loadAddon(options.addonPath);
    if (r.ok) return fromAddon(r.addon);
    if (prefer === "native") return undefined;
  }
  return fromFfi();
}

/**
 * Like {@linkcode trySyscalls} but throws a KilnError when no backend is available.
 *
 * @param options Backend preference.
 * @returns A {@linkcode Syscalls} object.
 *
 * @example Usage
 * ```ts ignore
 * import { createSyscalls } from "./syscalls.ts";
 * const sc = createSyscalls({ prefer: "ffi" });
 * ```
 */
export function createSyscalls(options: SyscallsOptions = {}): Syscalls {
  const sc = trySyscalls(options);
  if (sc === undefined) {
    const which = options.prefer === "native"
      ? "the native addon is not built or cannot load"
      : "needs kiln's native addon or Deno with --allow-ffi";
    throw new KilnError(`xattrs not supported on this runtime (${which})`);
  }
  return sc;
}

// The default backend, resolved on first use. A memo of an immutable capability, not configuration.
const memo: { sc?: Syscalls | null } = {};
function def(): Syscalls {
  if (memo.sc === undefined) memo.sc = trySyscalls() ?? null;
  if (memo.sc === null) {
    throw new KilnError("xattrs not supported on this runtime (needs kiln's native addon or Deno with --allow-ffi)");
  }
  return memo.sc;
}

/**
 * True if xattrs and mknod are available on this runtime (addon or FFI).
 *
 * @returns Whether the default backend exists.
 */
export function syscallsAvailable(): boolean {
  try {
    def();
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads one xattr without following symlinks, using the default backend.
 *
 * @param path File path.
 * @param name Attribute name, e.g. `security.capability`.
 * @returns The raw value, or `undefined` when not set.
 */
export function lgetxattr(path: string, name: string): Uint8Array | undefined {
  return def().lgetxattr(path, name);
}

/**
 * True for extended attributes that describe the host rather than the file: security labels and integrity data
 * (`security.selinux`, `security.SMACK64*`, `security.apparmor`, `security.ima`, `security.evm`) and overlayfs'
 * own bookkeeping (`trusted.overlay.*`, `user.overlay.*`). They depend on the machine and on the filesystem the work
 * dir is on (tmpfs and ext4 label files differently), so they never go into a layer nor from a context into the
 * rootfs — as Docker's archiver, which keeps only `security.capability` of the security namespace. Everything else
 * (`security.capability`, `user.*`, `trusted.*`, POSIX ACLs) is kept.
 *
 * @param name Attribute name.
 * @returns Whether kiln leaves it out.
 *
 * @example
 * ```ts
 * import { isHostXattr } from "./syscalls.ts";
 * console.assert(isHostXattr("security.selinux") && !isHostXattr("security.capability"));
 * ```
 */
export function isHostXattr(name: string): boolean {
  return name === "security.selinux" || name.startsWith("security.SMACK64") || name === "security.apparmor" ||
    name === "security.ima" || name === "security.evm" || name.startsWith("trusted.overlay.") ||
    name.startsWith("user.overlay.");
}

/**
 * Lists xattr names without following symlinks, using the default backend.
 *
 * @param path File path.
 * @returns Attribute names (empty if none or unsupported by the filesystem).
 */
export function llistxattr(path: string): string[] {
  return def().llistxattr(path);
}

/**
 * Reads all xattrs without following symlinks, using the default backend.
 *
 * @param path File path.
 * @returns Name → raw value (empty if none).
 *
 * @example Usage
 * ```ts ignore
 * import { lgetxattrs } from "./syscalls.ts";
 * const caps = lgetxattrs("/usr/bin/ping")["security.capability"];
 * ```
 */
export function lgetxattrs(path: string): Record<string, Uint8Array> {
  return def().lgetxattrs(path);
}

/**
 * Sets one xattr without following symlinks, using the default backend.
 *
 * @param path File path.
 * @param name Attribute name.
 * @param value Raw value (binary-safe).
 */
export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  def().lsetxattr(path, name, value);
}

/**
 * Creates a device node or fifo, using the default backend (devices need root).
 *
 * @param path Path to create.
 * @param mode Type bits ({@linkcode S_IF}) | permission bits.
 * @param major Major device number (0 for fifos).
 * @param minor Minor device number (0 for fifos).
 *
 * @example Create a fifo
 * ```ts ignore
 * import { mknod, S_IF } from "./syscalls.ts";
 * mknod("/tmp/p", S_IF.fifo | 0o644, 0, 0);
 * ```
 */
export function mknod(path: string, mode: number, major: number, minor: number): void {
  def().mknod(path, mode, major, minor);
}
