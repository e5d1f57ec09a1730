/**
 * `kiln copy SRC DST`: copies an image (or index) between `docker://REF`, `oci:DIR[:TAG]` and
 * `docker-archive:FILE[:REF]` (skopeo's transport names), printing the manifest digest. Also exports the
 * registry transport flags (kaniko names) and their conversion to {@linkcode RegistryOptions}, shared with
 * `kiln inspect` and the build command.
 *
 * @module
 */
import { homedir } from "node:os";
import { join } from "node:path";
import type { CliCommand, CliIO } from "../command.ts";
import { trustedCaCertsFromEnv } from "../common_flags.ts";
import { bool, type FlagSpec, list, type ParsedFlags, parseFlags, str } from "../flags.ts";
import { createLogger, type Logger, parseLogLevel, UsageError } from "../../lib/util/mod.ts";
import {
  dockerArchiveImage,
  hostPlatform,
  type Image,
  type ImageIndex,
  isImageValue,
  layoutEntry,
  parsePlatform,
  selectPlatform,
  writeDockerArchive,
  writeLayout,
} from "../../lib/image/mod.ts";
import {
  ciKeychain,
  formatReference,
  parseReference,
  pushImage,
  type Reference,
  type RegistryOptions,
  remote,
} from "../../lib/registry/mod.ts";

/** The registry transport flags, named as kaniko's. */
export const registryFlagSpecs: readonly FlagSpec[] = [
  { name: "insecure", type: "boolean", help: "Push to registries over plain HTTP" },
  { name: "insecure-pull", type: "boolean", help: "Pull from registries over plain HTTP" },
  { name: "insecure-registry", type: "list", value: "HOST", help: "Registry reached over plain HTTP" },
  { name: "skip-tls-verify", type: "boolean", help: "Push without verifying TLS certificates" },
  { name: "skip-tls-verify-pull", type: "boolean", help: "Pull without verifying TLS certificates" },
  {
    name: "skip-tls-verify-registry",
    type: "list",
    value: "HOST",
    help: "Registry whose TLS certificate is not verified",
  },
  { name: "registry-certificate", type: "list", value: "HOST=PATH", help: "CA certificate for a registry" },
  { name: "registry-client-cert", type: "list", value: "HOST=CERT,KEY", help: "Client certificate for a registry" },
  {
    name: "registry-mirror",
    type: "list",
    value: "HOST[/PREFIX]",
    env: "KANIKO_REGISTRY_MIRROR",
    help: "Mirror for Docker Hub pulls",
  },
  {
    name: "registry-map",
    type: "list",
    value: "ORIG=NEW[;ORIG2=NEW2]",
    env: "KANIKO_REGISTRY_MAP",
    help: "Replace a registry for pulls",
  },
  { name: "skip-default-registry-fallback", type: "boolean", help: "Fail when every mirror misses" },
  { name: "push-retry", type: "string", value: "N", help: "Retries of push requests", default: "3" },
  { name: "image-download-retry", type: "string", value: "N", help: "Retries of pull requests", default: "3" },
  { name: "custom-platform", type: "string", value: "OS/ARCH[/VARIANT]", help: "Platform chosen from image indexes" },
  { name: "retry-base-delay", type: "string", value: "MS", help: "First retry delay in ms", hidden: true },
  { name: "verbosity", short: "v", type: "string", value: "LEVEL", help: "Log level", default: "info" },
];

function kv(items: string[], flag: string): [string, string][] {
  return items.flatMap((s) => s.split(";")).filter((s) => s.trim()).map((s) => {
    const i = s.indexOf("=");
    if (i <= 0) throw new UsageError(`Invalid --${flag} value "${s}": expected KEY=VALUE`);
    return [s.slice(0, i).trim(), s.slice(i + 1).trim()];
  });
}

function count(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`Invalid --${flag} value "${v}": expected a whole number`);
  return Number(v);
}

/**
 * Converts parsed transport flags (and the Docker config location from the environment) to registry options.
 *
 * @param values Parsed flag values.
 * @param io Environment (DOCKER_CONFIG, HOME) and stderr for logs.
 * @returns Options for pulls and pushes.
 *
 * @example Usage
 * ```ts ignore
 * const opts = registryOptionsFromFlags(parsed.values, io);
 * ```
 */
export function registryOptionsFromFlags(
  values: ParsedFlags["values"],
  io: Pick<CliIO, "env" | "stderr" | "signal">,
): RegistryOptions {
  const opts: RegistryOptions = { signal: io.signal };
  if (bool(values, "insecure")) opts.insecure = true;
  if (bool(values, "insecure-pull")) opts.insecurePull = true;
  if (list(values, "insecure-registry").length) opts.insecureRegistries = list(values, "insecure-registry");
  if (bool(values, "skip-tls-verify")) opts.skipTlsVerify = true;
  if (bool(values, "skip-tls-verify-pull")) opts.skipTlsVerifyPull = true;
  if (list(values, "skip-tls-verify-registry").length) {
    opts.skipTlsVerifyRegistries = list(values, "skip-tls-verify-registry");
  }
  const certs = kv(list(values, "registry-certificate"), "registry-certificate");
  if (certs.length) opts.registryCertificates = Object.fromEntries(certs);
  const client = kv(list(values, "registry-client-cert"), "registry-client-cert");
  if (client.length) {
    opts.registryClientCerts = Object.fromEntries(client.map(([h, v]) => {
      const [cert, key, extra] = v.split(",");
      if (!cert || !key || extra !== undefined) {
        throw new UsageError(`Invalid --registry-client-cert value for ${h}: expected HOST=CERT,KEY`);
      }
      return [h, { cert, key }];
    }));
  }
  const mirrors = list(values, "registry-mirror").flatMap((s) => s.split(",")).filter(Boolean);
  if (mirrors.length) opts.registryMirrors = mirrors;
  const maps = kv(list(values, "registry-map"), "registry-map");
  if (maps.length) {
    const m: Record<string, string[]> = {};
    for (const [k, v] of maps) m[k] = [...(m[k] ?? []), ...v.split(",").filter(Boolean)];
    opts.registryMap = m;
  }
  if (bool(values, "skip-default-registry-fallback")) opts.skipDefaultRegistryFallback = true;
  const pr = count(str(values, "push-retry"), "push-retry");
  if (pr !== undefined) opts.pushRetry = pr;
  const dr = count(str(values, "image-download-retry"), "image-download-retry");
  if (dr !== undefined) opts.imageDownloadRetry = dr;
  const rd = count(str(values, "retry-base-delay"), "retry-base-delay");
  if (rd !== undefined) opts.retryBaseDelayMs = rd;
  const plat = str(values, "custom-platform");
  if (plat) opts.platform = parsePlatform(plat);
  opts.logger = cliLogger(values, io);
  // The same credential sources as kiln build (config.json, DOCKER_AUTH_CONFIG, podman's auth.json, KANIKO_*, GitLab).
  opts.keychain = ciKeychain({ env: io.env, home: io.env.HOME ?? homedir() });
  const trusted = trustedCaCertsFromEnv(io.env);
  if (trusted.length) opts.trustedCaCerts = trusted;
  return opts;
}

function cliLogger(values: ParsedFlags["values"], io: Pick<CliIO, "stderr">): Logger {
  let level;
  try {
    level = parseLogLevel(str(values, "verbosity") ?? "info");
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return createLogger({ level, write: (line) => void io.stderr(line + "\n") });
}

/** A parsed transport location (skopeo syntax). */
export type ImageLocation =
  | { kind: "docker"; ref: Reference }
  | { kind: "oci"; dir: string; tag?: string }
  | { kind: "docker-archive"; file: string; ref?: string };

/**
 * Parses `docker://REF`, `oci:DIR[:TAG]` or `docker-archive:FILE[:REF]` (a bare reference means `docker://`).
 *
 * @param s The location.
 * @param cwd Directory relative paths are resolved against.
 * @returns The location.
 *
 * @example Usage
 * ```ts
 * import { parseImageLocation } from "./copy.ts";
 * console.assert(parseImageLocation("oci:/tmp/l:v1", "/").kind === "oci");
 * ```
 */
export function parseImageLocation(s: string, cwd: string): ImageLocation {
  const abs = (p: string) => p.startsWith("/") ? p : join(cwd, p);
  if (s.startsWith("docker://")) return { kind: "docker", ref: parseReference(s.slice(9)) };
  if (s.startsWith("oci:")) {
    const rest = s.slice(4);
    const i = rest.indexOf(":");
    if (!rest || i === 0) throw new UsageError(`Invalid location "${s}": expected oci:DIR[:TAG]`);
    return i < 0
      ? { kind: "oci", dir: abs(rest) }
      : { kind: "oci", dir: abs(rest.slice(0, i)), tag: rest.slice(i + 1) };
  }
  if (s.startsWith("docker-archive:")) {
    const rest = s.slice(15);
    const i = rest.indexOf(":");
    if (!rest || i === 0) throw new UsageError(`Invalid location "${s}": expected docker-archive:FILE[:REF]`);
    return i < 0
      ? { kind: "docker-archive", file: abs(rest) }
      : { kind: "docker-archive", file: abs(rest.slice(0, i)), ref: rest.slice(i + 1) };
  }
  if (/^[a-z-]+:(?!\d)/.test(s) && !s.includes("/")) {
    throw new UsageError(`Unsupported transport in "${s}" (use docker://, oci: or docker-archive:)`);
  }
  return { kind: "docker", ref: parseReference(s) };
}

/**
 * Opens the image or index at a location.
 *
 * @param loc The location.
 * @param opts Registry options.
 * @returns Image or index.
 *
 * @example Usage
 * ```ts ignore
 * const x = await openLocation(parseImageLocation("oci:out:v1", cwd), opts);
 * ```
 */
export async function openLocation(loc: ImageLocation, opts: RegistryOptions): Promise<Image | ImageIndex> {
  if (loc.kind === "docker") return await remote(loc.ref, opts);
  if (loc.kind === "oci") return await layoutEntry(loc.dir, loc.tag !== undefined ? { tag: loc.tag } : {});
  return await dockerArchiveImage(loc.file, loc.ref !== undefined ? { tag: loc.ref } : {});
}

/**
 * Resolves an index to one image for the platform.
 *
 * @param x Image or index.
 * @param opts Platform option.
 * @param source For messages.
 * @returns The image.
 *
 * @example Usage
 * ```ts ignore
 * const img = await toSingleImage(x, opts, "docker://busybox");
 * ```
 */
export async function toSingleImage(x: Image | ImageIndex, opts: RegistryOptions, source: string): Promise<Image> {
  if (isImageValue(x)) return x;
  const d = selectPlatform(await x.manifest(), opts.platform ?? hostPlatform(), source);
  return x.image(d.digest);
}

/** `kiln copy`. */
export const copyCommand: CliCommand = {
  name: "copy",
  summary: "Copy an image between registries, OCI layouts and docker archives",
  usage: "kiln copy [flags] SRC DST   (docker://REF, oci:DIR[:TAG], docker-archive:FILE[:REF])",
  flags: [
    ...registryFlagSpecs,
    { name: "all", type: "boolean", help: "Copy every platform of an index (default unless --custom-platform)" },
  ],
  async run(args, io) {
    const parsed = parseFlags(args, this.flags, io.env);
    if (parsed.positionals.length !== 2) throw new UsageError("kiln copy needs SRC and DST (see kiln copy --help)");
    const opts = registryOptionsFromFlags(parsed.values, io);
    const src = parseImageLocation(parsed.positionals[0]!, io.cwd);
    const dst = parseImageLocation(parsed.positionals[1]!, io.cwd);
    let x = await openLocation(src, opts);
    const wantOne = (opts.platform && !bool(parsed.values, "all")) || dst.kind === "docker-archive";
    if (wantOne) x = await toSingleImage(x, opts, parsed.positionals[0]!);
    let digest: string;
    if (dst.kind === "docker") {
      const mountFrom = src.kind === "docker" && src.ref.registry === dst.ref.registry ? [src.ref] : [];
      digest = (await pushImage([dst.ref], x, { ...opts, mountFrom })).descriptor.digest;
    } else if (dst.kind === "oci") {
      digest = (await writeLayout(dst.dir, x, dst.tag !== undefined ? { tags: [dst.tag] } : {})).digest;
    } else {
      const img = x as Image;
      const tags = dst.ref !== undefined ? [dst.ref] : [];
      await writeDockerArchive(dst.file, [{ image: img, tags }], { signal: io.signal });
      digest = await img.digest();
    }
    opts.logger?.debug("copied", { from: parsed.positionals[0]!, to: parsed.positionals[1]!, digest });
    await io.stdout(`${digest}\n`);
    return 0;
  },
};

/**
 * Formats a location for messages.
 *
 * @param loc The location.
 * @returns Text.
 *
 * @example Usage
 * ```ts ignore
 * formatLocation({ kind: "oci", dir: "/l", tag: "v1" });
 * ```
 */
export function formatLocation(loc: ImageLocation): string {
  if (loc.kind === "docker") return `docker://${formatReference(loc.ref)}`;
  if (loc.kind === "oci") return `oci:${loc.dir}${loc.tag !== undefined ? `:${loc.tag}` : ""}`;
  return `docker-archive:${loc.file}${loc.ref !== undefined ? `:${loc.ref}` : ""}`;
}
