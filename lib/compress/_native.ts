/**
 * Private: the deflate half of kiln's optional N-API addon (native/src/deflate.cc, libdeflate on worker threads).
 * Loading never throws: without the addon, or with one built without libdeflate, gzip uses node:zlib.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** The addon's block deflater: non-final, byte-aligned raw deflate of one block (a sync-flushed block). */
export interface NativeDeflate {
  deflateBlock(bytes: Uint8Array, level: number): Promise<{ out: Uint8Array; crc: number }>;
}

/** Where `npm install` puts the addon. */
const ADDON = fileURLToPath(new URL("../../native/build/Release/kiln_native.node", import.meta.url));

/**
 * The addon's deflater, or why there is none.
 *
 * @param path The .node file (default: the one `npm install` builds).
 * @returns The deflater or a reason.
 */
export function loadNativeDeflate(path: string = ADDON): { ok: true; deflate: NativeDeflate } | {
  ok: false;
  reason: string;
} {
  try {
    if (!existsSync(path)) return { ok: false, reason: `${path} not built` };
    const addon = createRequire(import.meta.url)(path) as Partial<NativeDeflate>;
    if (typeof addon.deflateBlock !== "function") return { ok: false, reason: `${path} was built without libdeflate` };
    return { ok: true, deflate: addon as NativeDeflate };
  } catch (e) {
    return { ok: false, reason: `cannot load ${path}: ${(e as Error).message ?? e}` };
  }
}
