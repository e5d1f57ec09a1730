/**
 * The pure-TS file hasher: `node:crypto` sha256 over synchronous 1 MiB reads (fast under Deno, about 1 GB/s).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { AbortedError, KilnError } from "../util/mod.ts";
import type { FileHasher } from "./types.ts";

/**
 * Hashes one file synchronously.
 *
 * @param path File path.
 * @param buf Scratch buffer to read into.
 * @returns Lowercase hex sha256 of the content.
 */
export function sha256FileSync(path: string, buf: Uint8Array = new Uint8Array(1 << 20)): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new KilnError(`Cannot hash ${path}: ${(e as { code?: string }).code ?? e}`, { cause: e });
  }
  try {
    const h = createHash("sha256");
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
    }
    return h.digest("hex");
  } catch (e) {
    throw new KilnError(`Cannot hash ${path}: ${(e as { code?: string }).code ?? e}`, { cause: e });
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates the pure-TS {@linkcode FileHasher}.
 *
 * @returns A hasher named `"ts"`.
 *
 * @example Hash a file
 * ```ts
 * import { createTsHasher } from "./hasher_ts.ts";
 * const f = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(f, "abc");
 * const [hex] = await createTsHasher().hashFiles([f]);
 * console.assert(hex === "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
 * Deno.removeSync(f);
 * ```
 */
export function createTsHasher(): FileHasher {
  return {
    name: "ts",
    async hashFiles(paths: readonly string[], opts: { signal?: AbortSignal } = {}): Promise<string[]> {
      const buf = new Uint8Array(1 << 20);
      const out: string[] = new Array(paths.length);
      let t = performance.now();
      for (let i = 0; i < paths.length; i++) {
        if (opts.signal?.aborted) throw new AbortedError("Hashing aborted");
        out[i] = sha256FileSync(paths[i]!, buf);
        if (performance.now() - t > 50) {
          await new Promise<void>((r) => setTimeout(r, 0));
          t = performance.now();
        }
      }
      return out;
    },
  };
}
