/**
 * Private: the deflate half of kiln's optional N-API addon (native/src/deflate.cc, libdeflate on worker threads).
 * Loading never throws: without the addon, or with one built without libdeflate, gzip uses node:zlib.
 *
 * @module
 */
import { ADDON_PATH, requireAddon } from "../util/mod.ts";

/**
 * The addon's block deflater: non-final, byte-aligned raw deflate of one block (a sync-flushed block), written into
 * `into` (the result is a view of it) when the block's bound fits there, else into a new array.
 */
export interface NativeDeflate {
  deflateBlock(bytes: Uint8Array, level: number, into?: Uint8Array): Promise<Uint8Array>;
}

/**
 * The addon's deflater, or why there is none.
 *
 * @param path The .node file (default: the one `npm install` builds).
 * @returns The deflater or a reason.
 */
export function loadNativeDeflate(
  path: string = ADDON_PATH,
): { ok: true; deflate: NativeDeflate } | { ok: false; reason: string } {
  const r = requireAddon<NativeDeflate>(path, "deflateBlock", "was built without libdeflate");
  return r.ok ? { ok: true, deflate: r.module } : r;
}
