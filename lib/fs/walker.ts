/**
 * Chooses the walker and hasher: the native addon when it loads, else the pure-TS ones.
 *
 * @module
 */
import { KilnError, type Logger, UsageError } from "../util/mod.ts";
import { type KilnAddon, loadAddon } from "./_addon.ts";
import { createTsHasher } from "./hasher_ts.ts";
import { isHostXattr, type Syscalls, trySyscalls } from "./syscalls.ts";
import type { FileHasher, Walker } from "./types.ts";
import { createNativeHasher, createNativeWalker } from "./walker_native.ts";
import { createTsWalker } from "./walker_ts.ts";

/** Which implementation to use: `"auto"` (default) prefers native and falls back to TS. */
export type WalkerPreference = "native" | "ts" | "auto";

/** Options for {@linkcode loadWalker} and {@linkcode loadHasher}. */
export interface LoadWalkerOptions {
  /** `"native"` fails when the addon cannot load; `"ts"` never tries it; `"auto"` (default) falls back. */
  prefer?: WalkerPreference;
  /** Told once, at debug level, when falling back to TS (and which implementation was chosen). */
  logger?: Logger;
  /** Addon file to load instead of native/build/Release/kiln_native.node (tests). */
  addonPath?: string;
  /** Threads for the native walker/hasher. */
  threads?: number;
}

/**
 * Parses a `--walker` flag value.
 *
 * @param s `native`, `ts` or `auto`.
 * @returns The preference.
 *
 * @example Usage
 * ```ts
 * import { parseWalkerPreference } from "./walker.ts";
 * console.assert(parseWalkerPreference("ts") === "ts");
 * ```
 */
export function parseWalkerPreference(s: string): WalkerPreference {
  if (s === "native" || s === "ts" || s === "auto") return s;
  throw new UsageError(`Invalid value for --walker: "${s}" (expected native, ts or auto)`);
}

function pickAddon(options: LoadWalkerOptions, what: string): KilnAddon | undefined {
  const prefer = options.prefer ?? "auto";
  if (prefer === "ts") {
    options.logger?.debug(`Using the TypeScript ${what} (requested)`);
    return undefined;
  }
  const r = options.addonPath === undefined ? loadAddon() : loadAddon(options.addonPath);
  if (r.ok) {
    options.logger?.debug(`Using the native ${what}`, { addon: r.path });
    return r.addon;
  }
  if (prefer === "native") throw new KilnError(`Cannot use the native ${what}: ${r.reason}`);
  options.logger?.debug(`Native addon unavailable, using the TypeScript ${what}: ${r.reason}`);
  return undefined;
}

/**
 * Returns the native walker if the addon loads (and was not refused), else the pure-TS walker.
 *
 * @param options Preference, logger.
 * @returns A {@linkcode Walker}.
 *
 * @example Pick a walker
 * ```ts
 * import { loadWalker } from "./walker.ts";
 * const w = loadWalker({ prefer: "auto" });
 * const dir = Deno.makeTempDirSync();
 * const r = await w.walk(dir);
 * console.assert(r.count === 0);
 * Deno.removeSync(dir);
 * ```
 */
export function loadWalker(options: LoadWalkerOptions = {}): Walker {
  const addon = pickAddon(options, "walker");
  if (addon) return createNativeWalker(addon, options.threads === undefined ? {} : { threads: options.threads });
  const sc = trySyscalls({ prefer: "ffi" });
  return createTsWalker(sc ? { xattrReader: xattrReaderOf(sc) } : {});
}

/**
 * Adapts a {@linkcode Syscalls} backend to the TS walker's xattr reader (`undefined` for no xattrs). Host-specific
 * attributes ({@linkcode isHostXattr}) are left out.
 *
 * @param sc Syscall backend.
 * @returns An xattr reader.
 */
export function xattrReaderOf(sc: Syscalls): (path: string) => Record<string, Uint8Array> | undefined {
  return (path) => {
    const names = sc.llistxattr(path);
    if (names.length === 0) return undefined;
    const out: Record<string, Uint8Array> = {};
    let any = false;
    for (const n of names) {
      if (isHostXattr(n)) continue;
      const v = sc.lgetxattr(path, n);
      if (v === undefined) continue;
      out[n] = v;
      any = true;
    }
    return any ? out : undefined;
  };
}

/**
 * Returns the native (threaded OpenSSL) hasher if the addon loads, else the `node:crypto` one.
 *
 * @param options Preference, logger.
 * @returns A {@linkcode FileHasher}.
 *
 * @example Pick a hasher
 * ```ts
 * import { loadHasher } from "./walker.ts";
 * const h = loadHasher();
 * console.assert(h.name === "native" || h.name === "ts");
 * ```
 */
export function loadHasher(options: LoadWalkerOptions = {}): FileHasher {
  const addon = pickAddon(options, "hasher");
  if (addon) return createNativeHasher(addon, options.threads === undefined ? {} : { threads: options.threads });
  return createTsHasher();
}
