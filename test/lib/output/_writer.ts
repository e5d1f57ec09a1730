/**
 * A separate process that writes one image through lib/output's writeOutputs, for the concurrency and signal
 * tests (in-process promises do not race like processes do). SIGINT/SIGTERM abort the write as cli/main.ts does.
 *
 * `deno run -A _writer.ts layout DIR TAG [SLOW_MS]`: one image tagged TAG into the OCI layout DIR; with SLOW_MS,
 * its layer trickles in (64 KiB every SLOW_MS ms, 200 chunks) and "writing" is printed when the write starts.
 * `deno run -A _writer.ts digest FILE TAG`: only `--digest-file FILE`.
 *
 * Prints `ok DIGEST` or `error MESSAGE`; exits 0, 1 (a KilnError) or 3 (anything else).
 *
 * @module
 */
import process from "node:process";
import { randomBytes } from "node:crypto";
import { appendLayers, compressedLayer, emptyImage, MediaTypes } from "../../../lib/image/mod.ts";
import { writeOutputs } from "../../../lib/output/mod.ts";
import { sha256 } from "../../../lib/util/digest.ts";
import { isKilnError } from "../../../lib/util/errors.ts";
import { nullLogger } from "../../../lib/util/logger.ts";

const [mode, path = "", tag = "latest", slow] = Deno.args;
const ac = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => ac.abort(new Error(`Interrupted by ${sig}`)));

const chunks = slow ? 200 : 1;
const chunk = new Uint8Array(randomBytes(slow ? 64 * 1024 : 4096));
const all = new Uint8Array(chunk.byteLength * chunks);
for (let i = 0; i < chunks; i++) all.set(chunk, i * chunk.byteLength);
const layer = compressedLayer({
  mediaType: MediaTypes.OCI_LAYER,
  digest: sha256(all),
  size: all.byteLength,
  diffId: sha256(all),
  open: () => {
    let i = 0;
    return Promise.resolve(
      new ReadableStream<Uint8Array>({
        async pull(ctl) {
          if (i === 0 && slow) console.log("writing");
          if (i === chunks) return ctl.close();
          if (slow) await new Promise((r) => setTimeout(r, Number(slow)));
          ctl.enqueue(chunk.slice());
          i++;
        },
      }),
    );
  },
});
const image = appendLayers(emptyImage(), [layer]);
try {
  const out = await writeOutputs(image, {
    destinations: [`example.com/app:${tag}`],
    noPush: true,
    ...(mode === "layout" ? { ociLayoutPath: path } : { digestFile: path }),
    registry: {},
    log: nullLogger,
    signal: ac.signal,
  });
  console.log(`ok ${await image.digest()} ${out.length}`);
  process.exit(0);
} catch (e) {
  console.log(`error ${e instanceof Error ? e.message : String(e)}`);
  process.exit(isKilnError(e) ? 1 : 3);
}
