/**
 * `kiln inspect REF`: prints an image's manifest and config as JSON (`--raw`: the exact manifest bytes).
 *
 * @module
 */
import type { CliCommand } from "../command.ts";
import { bool, parseFlags } from "../flags.ts";
import { UsageError } from "../../lib/util/mod.ts";
import { isImageValue } from "../../lib/image/mod.ts";
import {
  openLocation,
  parseImageLocation,
  registryFlagSpecs,
  registryOptionsFromFlags,
  toSingleImage,
} from "./copy.ts";

/** `kiln inspect`. */
export const inspectCommand: CliCommand = {
  name: "inspect",
  summary: "Print an image's manifest and config",
  usage: "kiln inspect [flags] REF   (docker://REF, oci:DIR[:TAG], docker-archive:FILE[:REF]; bare REF = docker://)",
  flags: [
    ...registryFlagSpecs,
    { name: "raw", type: "boolean", help: "Print the exact manifest (or index) bytes" },
    { name: "config", type: "boolean", help: "Print only the config JSON" },
  ],
  async run(args, io) {
    const parsed = parseFlags(args, this.flags, io.env);
    if (parsed.positionals.length !== 1) throw new UsageError("kiln inspect needs one image reference");
    const opts = registryOptionsFromFlags(parsed.values, io);
    const loc = parseImageLocation(parsed.positionals[0]!, io.cwd);
    let x = await openLocation(loc, opts);
    if (bool(parsed.values, "raw")) {
      await io.stdout(await x.rawManifest());
      return 0;
    }
    const out: Record<string, unknown> = {};
    if (!isImageValue(x)) {
      out.index = { digest: await x.digest(), mediaType: await x.mediaType(), manifest: await x.manifest() };
      x = await toSingleImage(x, opts, parsed.positionals[0]!);
    }
    if (bool(parsed.values, "config")) {
      await io.stdout(JSON.stringify(await x.config(), null, 2) + "\n");
      return 0;
    }
    out.digest = await x.digest();
    out.mediaType = await x.mediaType();
    out.manifest = await x.manifest();
    out.config = await x.config();
    await io.stdout(JSON.stringify(out, null, 2) + "\n");
    return 0;
  },
};
