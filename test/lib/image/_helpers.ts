/**
 * Helpers for image tests: small random layers made with GNU tar, and running tools.
 *
 * @module
 */
import { execFileSync, spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { uncompressedLayer } from "../../../lib/image/layer.ts";
import type { Layer } from "../../../lib/image/types.ts";
import { tempDir as fixtureTempDir } from "../../fixtures/temp.ts";

/** Makes an uncompressed tar holding `files` (name → content). */
export function tarBytes(files: Record<string, string | Uint8Array>): Uint8Array {
  const dir = fixtureTempDir("kiln-tar-");
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return new Uint8Array(
      execFileSync("tar", ["-C", dir, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-cf", "-", "."], {
        maxBuffer: 1 << 30,
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A layer with one random file of `size` bytes. */
export function randomLayer(size = 4096, name = "file"): Layer {
  const tar = tarBytes({ [name]: randomBytes(size) });
  return uncompressedLayer({ open: () => Promise.resolve(new Blob([tar as Uint8Array<ArrayBuffer>]).stream()) });
}

/** Runs a command; returns stdout, throws with stderr on failure. */
export function run(cmd: string, args: string[], opts: { input?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", input: opts.input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** A temp dir (test/fixtures/temp.ts: removed after the test at the latest) that `using` removes at scope end. */
export function tempDir(prefix = "kiln-test-"): { dir: string; [Symbol.dispose](): void } {
  const dir = fixtureTempDir(prefix);
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}
