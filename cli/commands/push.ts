/**
 * `kiln push SRC -d REF [-d REF…]`: pushes a built OCI layout (a directory, or `oci:DIR[:TAG]`) or docker archive
 * (a file, or `docker-archive:FILE[:REF]`) to registries — the kaniko fork's `executor push`, for jobs that build
 * with `--no-push --oci-layout-path` or `--tar-path` and push later. Prints the manifest digest.
 *
 * @module
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { CliCommand } from "../command.ts";
import { type FlagSpec, list, parseFlags } from "../flags.ts";
import { UsageError } from "../../lib/util/mod.ts";
import { parseReference, pushImage } from "../../lib/registry/mod.ts";
import {
  type ImageLocation,
  openLocation,
  parseImageLocation,
  registryFlagSpecs,
  registryOptionsFromFlags,
} from "./copy.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "destination", short: "d", type: "list", value: "REF", help: "Image reference to push to (repeatable)" },
  ...registryFlagSpecs,
];

async function sourceOf(spec: string, cwd: string): Promise<ImageLocation> {
  if (/^(oci|docker-archive):/.test(spec)) return parseImageLocation(spec, cwd);
  const path = resolve(cwd, spec);
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new UsageError(`kiln push: ${spec}: no such OCI layout directory or docker archive`);
  return st.isDirectory() ? { kind: "oci", dir: path } : { kind: "docker-archive", file: path };
}

/** `kiln push`. */
export const pushCommand: CliCommand = {
  name: "push",
  summary: "Push a built OCI layout or docker archive to registries (kaniko fork's executor push)",
  usage: "kiln push [flags] DIR|TAR -d REF [-d REF]   e.g. kiln push out/app -d registry.example/app:1",
  flags: FLAGS,
  async run(args, io) {
    const parsed = parseFlags(args, FLAGS, io.env);
    if (parsed.positionals.length !== 1) throw new UsageError("kiln push needs one SRC (see kiln push --help)");
    const destinations = list(parsed.values, "destination");
    if (destinations.length === 0) throw new UsageError("kiln push: give at least one --destination REF");
    const refs = destinations.map((d) => parseReference(d));
    const opts = registryOptionsFromFlags(parsed.values, io);
    const src = await sourceOf(parsed.positionals[0]!, io.cwd);
    const x = await openLocation(src, opts);
    const { descriptor } = await pushImage(refs, x, opts);
    await io.stdout(`${descriptor.digest}\n`);
    return 0;
  },
};
