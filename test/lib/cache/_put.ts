/**
 * A separate process that stores one entry in a layout cache, for the concurrency test (in-process promises do not
 * race like processes do).
 *
 * `deno run -A _put.ts DIR KEY`: puts a 64 KiB random layer under KEY into `oci:DIR`; prints `ok DIFFID` or the
 * warnings and exits 1.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { layoutCache } from "../../../lib/cache/mod.ts";
import { bytesLayer, recordingLogger } from "./_helpers.ts";

const [path = "", key = ""] = Deno.args;
const logger = recordingLogger();
const layer = bytesLayer(new Uint8Array(randomBytes(64 * 1024)));
await layoutCache({ path, logger }).put(key, { layer, createdBy: `RUN put ${key}` });
if (logger.warnings().length) {
  console.log(logger.warnings().join("\n"));
  Deno.exit(1);
}
console.log(`ok ${await layer.diffId()}`);
