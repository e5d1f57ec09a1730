/**
 * What `kiln build` and `kiln warm` share: the registry flags (kaniko's names) and the {@linkcode RegistryOptions}
 * they make, `--cache-ttl` and the `--cache-dir` default.
 *
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { B, bool, type FlagSpec, L, list, S, str } from "./flags.ts";
import { UsageError } from "../lib/util/mod.ts";
import { BUILTIN_CREDENTIAL_HELPERS, ciKeychain, type RegistryOptions } from "../lib/registry/mod.ts";

type Values = Record<string, string | boolean | string[]>;

/** kaniko's `--cache-dir` default, the executor's and the warmer's. */
export const DEFAULT_CACHE_DIR = "/cache";

/** The registry flags of kaniko's warmer: everything that pulls. */
export const PULL_REGISTRY_FLAGS: readonly FlagSpec[] = [
  B("insecure-pull", "Pull over plain HTTP"),
  B("skip-tls-verify-pull", "Pull without TLS verification"),
  L("insecure-registry", "Registry reached over plain HTTP", { value: "HOST" }),
  L("skip-tls-verify-registry", "Registry whose TLS certificate is not verified", { value: "HOST" }),
  L("registry-certificate", "CA certificate for a registry: HOST=PATH", { value: "HOST=PATH" }),
  L("registry-client-cert", "Client certificate for a registry: HOST=CERT,KEY", { value: "HOST=CERT,KEY" }),
  L("registry-mirror", "Mirror for docker.io", { env: "KANIKO_REGISTRY_MIRROR", value: "HOST" }),
  L("registry-map", "Registry remap ORIG=NEW[;ORIG2=NEW2]", { env: "KANIKO_REGISTRY_MAP", value: "MAP" }),
  B("skip-default-registry-fallback", "Fail instead of falling back to the original registry"),
  S("image-download-retry", "Retries for fetching a remote image", { value: "N" }),
  L(
    "credential-helpers",
    "Built-in credential helpers, in order: env (KANIKO_<HOST>_USER/_PASSWORD), gitlab; '' for none",
    {
      value: "NAME",
    },
  ),
];

/** The registry flags of kaniko's executor: the pull flags plus the push ones. */
export const REGISTRY_FLAGS: readonly FlagSpec[] = [
  B("insecure", "Push over plain HTTP"),
  B("skip-tls-verify", "Push without TLS verification"),
  ...PULL_REGISTRY_FLAGS,
  S("push-retry", "Push retries", { value: "N" }),
  B("push-ignore-immutable-tag-errors", "Treat immutable-tag errors as success"),
  B("skip-push-permission-check", "Skip the up-front push permission check"),
  S("image-fs-extract-retry", "Accepted for compatibility (extraction is local and not retried)", { value: "N" }),
];

/**
 * `--flag K=V` values as a record.
 *
 * @param values The flag's values.
 * @param flag Its name, for the message.
 * @returns The record.
 * @throws {UsageError} for a value without `=` or with an empty key.
 */
export function kvMap(values: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf("=");
    if (i <= 0) throw new UsageError(`Invalid --${flag} "${v}": expected KEY=VALUE`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

/**
 * `--build-arg` words as values: `K=V` as given; a bare `K` takes `K` from `env` and is dropped when unset (as the
 * docker CLI and kaniko do).
 *
 * @param words `K=V` or `K` words.
 * @param env The environment bare names are read from.
 * @returns Name → value.
 *
 * @example Usage
 * ```ts
 * import { buildArgsFromFlags } from "./common_flags.ts";
 * const a = buildArgsFromFlags(["A=1", "HOME", "NOPE"], { HOME: "/root" });
 * console.assert(a.A === "1" && a.HOME === "/root" && !("NOPE" in a));
 * ```
 */
export function buildArgsFromFlags(
  words: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of words) {
    const i = w.indexOf("=");
    if (i >= 0) out[w.slice(0, i)] = w.slice(i + 1);
    else if (env[w] !== undefined) out[w] = env[w]!;
  }
  return out;
}

/**
 * An integer flag.
 *
 * @param v Parsed flags.
 * @param name The flag.
 * @returns Its value, or undefined when absent.
 * @throws {UsageError} when it is not an integer.
 */
export function intFlag(v: Values, name: string): number | undefined {
  const s = str(v, name);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n)) throw new UsageError(`Invalid --${name} "${s}": expected an integer`);
  return n;
}

/**
 * The registry options of the parsed {@linkcode REGISTRY_FLAGS} (absent ones keep their defaults), with credentials
 * from every source CI uses (lib/registry `ciKeychain`: config.json, `DOCKER_AUTH_CONFIG`, podman's auth.json, the
 * `--credential-helpers`).
 *
 * @param v Parsed flags.
 * @param env The environment (`DOCKER_CONFIG`, `HOME`, `DOCKER_AUTH_CONFIG`, `REGISTRY_AUTH_FILE`, …).
 * @param warn Says that a flag value is accepted but has no effect.
 * @returns Registry options.
 * @throws {UsageError} for a malformed certificate, client certificate or registry map.
 */
export function registryOptionsFromFlags(
  v: Values,
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void = () => {},
): Omit<RegistryOptions, "signal" | "logger" | "platform"> {
  const helpers = credentialHelpers(v, warn);
  const registry: Omit<RegistryOptions, "signal" | "logger" | "platform"> = {
    insecure: bool(v, "insecure"),
    insecurePull: bool(v, "insecure-pull"),
    skipTlsVerify: bool(v, "skip-tls-verify"),
    skipTlsVerifyPull: bool(v, "skip-tls-verify-pull"),
    insecureRegistries: list(v, "insecure-registry"),
    skipTlsVerifyRegistries: list(v, "skip-tls-verify-registry"),
    registryCertificates: kvMap(list(v, "registry-certificate"), "registry-certificate"),
    registryMirrors: list(v, "registry-mirror"),
    skipDefaultRegistryFallback: bool(v, "skip-default-registry-fallback"),
    keychain: ciKeychain({ env, home: env.HOME ?? homedir(), ...(helpers ? { helpers } : {}) }),
  };
  const clientCerts: Record<string, { cert: string; key: string }> = {};
  for (const [host, pair] of Object.entries(kvMap(list(v, "registry-client-cert"), "registry-client-cert"))) {
    const [cert, key] = pair.split(",");
    if (!cert || !key) throw new UsageError(`Invalid --registry-client-cert "${host}=${pair}": expected HOST=CERT,KEY`);
    clientCerts[host] = { cert, key };
  }
  if (Object.keys(clientCerts).length) registry.registryClientCerts = clientCerts;
  const maps: Record<string, string[]> = {};
  for (const m of list(v, "registry-map").flatMap((x) => x.split(";")).filter((x) => x !== "")) {
    const i = m.indexOf("=");
    if (i <= 0) throw new UsageError(`Invalid --registry-map "${m}": expected ORIG=NEW`);
    (maps[m.slice(0, i)] ??= []).push(m.slice(i + 1));
  }
  if (Object.keys(maps).length) registry.registryMap = maps;
  const trusted = trustedCaCertsFromEnv(env);
  if (trusted.length) registry.trustedCaCerts = trusted;
  const pushRetry = intFlag(v, "push-retry");
  if (pushRetry !== undefined) registry.pushRetry = pushRetry;
  const dlRetry = intFlag(v, "image-download-retry");
  if (dlRetry !== undefined) registry.imageDownloadRetry = dlRetry;
  return registry;
}

/**
 * `--credential-helpers` (repeated or comma-separated; `--credential-helpers=` for none): kiln's built-in `env` and
 * `gitlab`; the fork's cloud helpers (`google`, `ecr`, `acr`) are skipped with a warning (name a
 * `docker-credential-*` program in config.json's `credHelpers` instead).
 */
function credentialHelpers(v: Values, warn: (message: string) => void): string[] | undefined {
  if (v["credential-helpers"] === undefined) return undefined;
  const names = list(v, "credential-helpers").flatMap((x) => x.split(",")).map((x) => x.trim()).filter((x) => x);
  for (const n of names) {
    if (!BUILTIN_CREDENTIAL_HELPERS.includes(n)) {
      if (!["google", "ecr", "acr"].includes(n)) throw new UsageError(`Invalid --credential-helpers "${n}"`);
      warn(
        `--credential-helpers ${n} is not built into kiln: name a docker-credential-${
          n === "ecr" ? "ecr-login" : n === "google" ? "gcr" : n
        } program in config.json's credHelpers instead`,
      );
    }
  }
  return names.filter((n) => BUILTIN_CREDENTIAL_HELPERS.includes(n));
}

/**
 * The CA certificates `SSL_CERT_FILE` and `SSL_CERT_DIR` (colon-separated directories; every file in them holding a
 * PEM certificate) name, trusted for every registry besides the runtime's roots: the executor images set
 * `SSL_CERT_DIR=/kaniko/ssl/certs`, where a CI job mounts its own CA file, as with kaniko.
 *
 * @param env The environment.
 * @returns PEM texts (empty when neither is set).
 */
export function trustedCaCertsFromEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  const files: string[] = [];
  if (env.SSL_CERT_FILE) files.push(env.SSL_CERT_FILE);
  for (const dir of (env.SSL_CERT_DIR ?? "").split(":").filter((d) => d !== "")) {
    let names: string[] = [];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue; // a missing dir is no error, as for OpenSSL
    }
    for (const n of names) files.push(join(dir, n));
  }
  const out: string[] = [];
  for (const f of files) {
    try {
      if (!statSync(f).isFile()) continue;
      const text = readFileSync(f, "utf8");
      if (text.includes("-----BEGIN CERTIFICATE-----")) out.push(text);
    } catch {
      // unreadable: skipped, as OpenSSL does
    }
  }
  return out;
}

/**
 * The log format: `--log-format` when given; otherwise `color` only when standard error is a terminal and neither
 * `NO_COLOR` (no-color.org) is set nor `TERM=dumb`, else `text` — no ANSI codes in pipes and CI logs.
 *
 * @param value The `--log-format` value, if given.
 * @param io Whether stderr is a terminal, and the environment.
 * @returns The format.
 * @throws {UsageError} for an unknown format.
 */
export function logFormatFor(
  value: string | undefined,
  io: { stderrIsTTY?: boolean; env: Readonly<Record<string, string | undefined>> },
): "text" | "color" | "json" {
  if (value !== undefined) {
    if (value !== "text" && value !== "color" && value !== "json") {
      throw new UsageError(`Invalid --log-format "${value}": expected text, color or json`);
    }
    return value;
  }
  const noColor = (io.env.NO_COLOR ?? "") !== "" || io.env.TERM === "dumb";
  return io.stderrIsTTY && !noColor ? "color" : "text";
}

/**
 * `--cache-ttl` (a Go duration) in milliseconds.
 *
 * @param value The flag's value.
 * @param parse A Go duration parser returning nanoseconds.
 * @returns Milliseconds, or undefined when absent.
 * @throws {UsageError} when it is not a duration.
 */
export function ttlFlag(value: string | undefined, parse: (s: string) => number | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const ns = parse(value);
  if (ns === undefined || ns < 0) {
    throw new UsageError(`Invalid --cache-ttl "${value}": expected a duration like 336h or 90m`);
  }
  return ns / 1e6;
}
