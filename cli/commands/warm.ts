/**
 * `kiln warm`: kaniko's warmer. Fills the base-image cache dir (`--cache-dir`, default `/cache`) with the images
 * given by `--image` and those a `--dockerfile` pulls, so that `kiln build --cache=true --cache-dir DIR` takes its
 * bases from there with no network. Several warmers (and builds) may share the dir at once.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import type { CliCommand, CliIO } from "../command.ts";
import { bool, type FlagSpec, list, parseFlags, str } from "../flags.ts";
import {
  buildArgsFromFlags,
  DEFAULT_CACHE_DIR,
  logFormatFor,
  PULL_REGISTRY_FLAGS,
  registryOptionsFromFlags,
  ttlFlag,
} from "../common_flags.ts";
import { createLogger, isKilnError, type Logger, parseLogLevel, UsageError } from "../../lib/util/mod.ts";
import { type DockerfileBase, dockerfileBaseImages, warmImage } from "../../lib/cache/mod.ts";
import { resolveDockerfile } from "../../lib/context/mod.ts";
import { parseGoDuration } from "../../lib/dockerfile/mod.ts";
import { hostPlatform, parsePlatform, type Platform } from "../../lib/image/mod.ts";

/** Flags of `kiln warm` (kaniko warmer compatible). */
export const WARM_FLAGS: readonly FlagSpec[] = [
  { name: "cache-dir", short: "c", type: "string", value: "DIR", default: DEFAULT_CACHE_DIR, help: "Cache directory" },
  { name: "image", short: "i", type: "list", value: "REF", help: "Image to warm (repeatable)" },
  {
    name: "dockerfile",
    short: "d",
    type: "string",
    value: "PATH",
    help: "Warm the images a Dockerfile (a path or an http(s) URL) pulls: its FROMs and COPY --from images",
  },
  { name: "build-arg", type: "list", value: "K=V", help: "Build argument for ${ARG} in --dockerfile's FROM lines" },
  { name: "force", short: "f", type: "boolean", help: "Fetch again even when the image is already in the dir" },
  {
    name: "cache-ttl",
    type: "string",
    value: "DUR",
    help: "An older entry whose tag still points at it gets a fresh time (default 336h)",
  },
  {
    name: "custom-platform",
    aliases: ["customPlatform"],
    type: "string",
    value: "P",
    help: "Platform os/arch[/variant] to warm (default: the host's)",
  },
  ...PULL_REGISTRY_FLAGS,
  {
    name: "verbosity",
    short: "v",
    type: "string",
    value: "LEVEL",
    default: "info",
    help: "Log level: trace, debug, info, warn, error, fatal, panic",
  },
  {
    name: "log-format",
    type: "string",
    value: "FMT",
    default: "color on a terminal, else text",
    help: "Log format: text, color or json",
  },
  { name: "log-timestamp", type: "boolean", help: "Prefix log lines with a timestamp" },
];

function loggerFor(values: Record<string, string | boolean | string[]>, io: CliIO): Logger {
  const format = logFormatFor(str(values, "log-format"), io);
  return createLogger({
    level: parseLogLevel(str(values, "verbosity") ?? "info"),
    format,
    timestamp: bool(values, "log-timestamp"),
    write: (line) => void io.stderr(line + "\n"),
  });
}

/** The images to warm: `--image` values, then what `--dockerfile` pulls. */
async function imagesToWarm(
  values: Record<string, string | boolean | string[]>,
  io: CliIO,
  platform: Platform,
): Promise<DockerfileBase[]> {
  const images: DockerfileBase[] = list(values, "image").map((ref) => ({ ref }));
  const file = str(values, "dockerfile");
  if (file) {
    const df = await resolveDockerfile(file, io.cwd, { workDir: tmpdir(), cwd: io.cwd, signal: io.signal });
    try {
      const text = await readFile(df.path, "utf8");
      const buildArgs = buildArgsFromFlags(list(values, "build-arg"), io.env);
      images.push(...dockerfileBaseImages(text, { buildArgs, platform, file }));
    } finally {
      await df.cleanup();
    }
  }
  return images;
}

/** `kiln warm`. */
export const warmCommand: CliCommand = {
  name: "warm",
  summary: "Fill a base-image cache dir for offline builds (kaniko's warmer flags)",
  usage: "kiln warm [flags]   e.g. kiln warm -c /cache -i alpine:3.20 -d Dockerfile",
  flags: WARM_FLAGS,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, WARM_FLAGS, io.env);
    if (positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}" (flags only)`);
    const logger = loggerFor(values, io);
    const p = str(values, "custom-platform");
    const platform = p ? parsePlatform(p) : hostPlatform();
    const ttlMs = ttlFlag(str(values, "cache-ttl"), parseGoDuration);
    const registry = registryOptionsFromFlags(values, io.env, (m) => void io.stderr(`kiln: warning: ${m}\n`));
    const images = await imagesToWarm(values, io, platform);
    if (images.length === 0) throw new UsageError("Nothing to warm: give --image REF or --dockerfile PATH");
    const cacheDir = resolve(io.cwd, str(values, "cache-dir") ?? DEFAULT_CACHE_DIR);
    let failed = 0;
    for (const img of images) {
      try {
        const r = await warmImage(img.ref, {
          cacheDir,
          registry,
          platform: img.platform ?? platform,
          force: bool(values, "force"),
          ...(ttlMs === undefined ? {} : { ttlMs }),
          logger,
          signal: io.signal,
        });
        await io.stdout(`${r.ref}@${r.digest} ${r.status}\n`);
      } catch (e) {
        if (!isKilnError(e) || io.signal.aborted) throw e;
        // kaniko's warmer logs a failed image and goes on; kiln goes on too but exits 1 (see DIVERGENCES.md).
        failed++;
        await io.stderr(`kiln: warm ${img.ref}: ${e.message}\n`);
      }
    }
    if (failed > 0) {
      await io.stderr(`kiln: ${failed} of ${images.length} image(s) could not be warmed\n`);
      return 1;
    }
    return 0;
  },
};
