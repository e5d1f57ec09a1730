/**
 * Credentials: keychains resolving a registry to an {@linkcode AuthConfig}, from static values, Docker's
 * `config.json` (`auths` with `auth` / `identitytoken` / `registrytoken`, `credsStore`, `credHelpers`) and
 * docker-credential-helper executables. Secrets are never logged or put in error messages.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { KilnError } from "../util/mod.ts";
import { DOCKER_HUB, normalizeRegistry } from "./reference.ts";

/** Credentials for one registry (Docker's AuthConfig). */
export interface AuthConfig {
  /** User name. */
  username?: string;
  /** Password or personal token. */
  password?: string;
  /** OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint. */
  identityToken?: string;
  /** A bearer token sent as is (`registrytoken`). */
  registryToken?: string;
  /**
   * Where the credentials came from, for messages (`/kaniko/.docker/config.json`, `DOCKER_AUTH_CONFIG`,
   * `credential helper docker-credential-ecr-login`, `KANIKO_REG_EXAMPLE_COM_USER`); never a secret.
   */
  source?: string;
}

/** Resolves credentials for a registry; `undefined` means anonymous. */
export interface Keychain {
  /** Credentials for `registry` (canonical name, e.g. `docker.io`, `127.0.0.1:5000`). */
  resolve(registry: string): Promise<AuthConfig | undefined>;
  /** The sources this keychain reads, for a message when none had credentials (never their contents). */
  describe?(): string[];
}

/**
 * A keychain that never has credentials.
 *
 * @example Usage
 * ```ts
 * import { anonymousKeychain } from "./auth.ts";
 * console.assert(await anonymousKeychain.resolve("docker.io") === undefined);
 * ```
 */
export const anonymousKeychain: Keychain = Object.freeze({ resolve: () => Promise.resolve(undefined) });

/**
 * A keychain with fixed credentials per registry.
 *
 * @param creds Registry → credentials.
 * @returns The keychain.
 *
 * @example Usage
 * ```ts
 * import { staticKeychain } from "./auth.ts";
 * const k = staticKeychain({ "127.0.0.1:5000": { username: "u", password: "p" } });
 * console.assert((await k.resolve("127.0.0.1:5000"))?.username === "u");
 * ```
 */
export function staticKeychain(creds: Record<string, AuthConfig>): Keychain {
  const m = new Map(Object.entries(creds).map(([k, v]) => [registryKey(k), v]));
  return { resolve: (r) => Promise.resolve(m.get(normalizeRegistry(r))) };
}

/**
 * Tries keychains in order; the first that has credentials wins.
 *
 * @param chains Keychains.
 * @returns The combined keychain.
 *
 * @example Usage
 * ```ts
 * import { anonymousKeychain, multiKeychain } from "./auth.ts";
 * console.assert(await multiKeychain([anonymousKeychain]).resolve("x") === undefined);
 * ```
 */
export function multiKeychain(chains: Keychain[]): Keychain {
  return {
    async resolve(r) {
      for (const c of chains) {
        const a = await c.resolve(r);
        if (a) return a;
      }
      return undefined;
    },
    describe: () => chains.flatMap((c) => c.describe?.() ?? []),
  };
}

/** Turns a config.json key (`https://index.docker.io/v1/`, `http://host:5000`, `host`) into a registry name. */
function registryKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z]+:\/\//i, "");
  k = k.split("/")[0]!;
  return normalizeRegistry(k);
}

/** Runs a credential helper; answers from it. */
export type HelperRunner = (helper: string, serverUrl: string) => Promise<AuthConfig | undefined>;

/** Options for {@linkcode credentialHelperRunner}. */
export interface HelperRunnerOptions {
  /** Environment for the helper (default: the process's). */
  env?: Record<string, string | undefined>;
  /** Timeout in ms (default 30 s). */
  timeoutMs?: number;
}

/**
 * Runs `docker-credential-NAME get` (the docker-credential-helpers protocol): server URL on stdin,
 * `{"ServerURL","Username","Secret"}` on stdout. A `<token>` user name means the secret is an identity token.
 *
 * @param opts Environment and timeout.
 * @returns A runner.
 *
 * @example Usage
 * ```ts ignore
 * const run = credentialHelperRunner();
 * const auth = await run("ecr-login", "123.dkr.ecr.us-east-1.amazonaws.com");
 * ```
 */
export function credentialHelperRunner(opts: HelperRunnerOptions = {}): HelperRunner {
  return (helper, serverUrl) =>
    new Promise((resolve, reject) => {
      const cmd = `docker-credential-${helper}`;
      const child = spawn(cmd, ["get"], {
        stdio: ["pipe", "pipe", "pipe"],
        ...(opts.env ? { env: opts.env as Record<string, string> } : {}),
        timeout: opts.timeoutMs ?? 30_000,
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => out += d.toString());
      child.stderr.on("data", (d: Buffer) => err += d.toString());
      child.on("error", (e) =>
        reject(new KilnError(`Cannot run credential helper ${cmd} for ${serverUrl}: ${e.message}`, { cause: e })));
      child.on("close", (code) => {
        const text = (out + err).trim();
        if (code !== 0) {
          if (/credentials not found/i.test(text)) {
            return resolve(undefined);
          }
          // The helper's output may contain secrets: report only its exit status.
          return reject(new KilnError(`Credential helper ${cmd} failed for ${serverUrl} (exit status ${code})`));
        }
        try {
          const j = JSON.parse(out) as { Username?: string; Secret?: string };
          if (!j.Secret) {
            return resolve(undefined);
          }
          resolve(
            j.Username === "<token>" ? { identityToken: j.Secret } : { username: j.Username ?? "", password: j.Secret },
          );
        } catch {
          reject(new KilnError(`Credential helper ${cmd} returned invalid JSON for ${serverUrl}`));
        }
      });
      child.stdin.end(serverUrl);
    });
}

/** Options for {@linkcode dockerConfigKeychain}. */
export interface DockerConfigKeychainOptions {
  /** Directories holding `config.json`, tried in order (e.g. `$DOCKER_CONFIG`, `~/.docker`, `/kaniko/.docker`). */
  configDirs?: string[];
  /** Files in config.json's format, tried after `configDirs` (podman's `auth.json`: `$REGISTRY_AUTH_FILE`…). */
  files?: string[];
  /** The config as text instead of a file (GitLab's `DOCKER_AUTH_CONFIG`), named `label` in messages. */
  text?: string;
  /** The name of `text` in messages (default `DOCKER_AUTH_CONFIG`). */
  label?: string;
  /** Runs credential helpers (default {@linkcode credentialHelperRunner}). */
  runHelper?: HelperRunner;
}

interface DockerConfigFile {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }
  >;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/**
 * Reads Docker `config.json` files (or podman's `auth.json`, or the same JSON from an environment variable). The
 * first existing file is used (as Docker does); per registry, a `credHelpers` entry wins, then `credsStore`, then
 * `auths`. Every credential carries its `source` (the file, the variable or the helper), for messages.
 *
 * @param opts Config directories, files or text, and the helper runner.
 * @returns The keychain.
 *
 * @example Usage
 * ```ts ignore
 * const k = dockerConfigKeychain({ configDirs: [env.DOCKER_CONFIG ?? `${home}/.docker`, "/kaniko/.docker"] });
 * ```
 */
export function dockerConfigKeychain(opts: DockerConfigKeychainOptions): Keychain {
  const runHelper = opts.runHelper ?? credentialHelperRunner();
  const candidates = [...(opts.configDirs ?? []).map((d) => join(d, "config.json")), ...(opts.files ?? [])];
  const label = opts.label ?? "DOCKER_AUTH_CONFIG";
  let loaded: Promise<{ cfg: DockerConfigFile; path: string } | undefined> | undefined;
  const parse = (text: string, path: string) => {
    try {
      return { cfg: JSON.parse(text) as DockerConfigFile, path };
    } catch (err) {
      throw new KilnError(`Cannot parse Docker config ${path}: invalid JSON`, { cause: err });
    }
  };
  function load() {
    return loaded ??= (async () => {
      if (opts.text !== undefined) return parse(opts.text, label);
      for (const path of candidates) {
        let text: string;
        try {
          text = await readFile(path, "utf8");
        } catch {
          continue;
        }
        return parse(text, path);
      }
      return undefined;
    })();
  }
  return {
    async resolve(registry) {
      const f = await load();
      if (!f) return undefined;
      const reg = normalizeRegistry(registry);
      const serverUrl = reg === DOCKER_HUB ? "https://index.docker.io/v1/" : reg;
      const viaHelper = async (helper: string) => {
        const a = await runHelper(helper, serverUrl);
        return a ? { ...a, source: `credential helper docker-credential-${helper} (${f.path})` } : undefined;
      };
      const helper = Object.entries(f.cfg.credHelpers ?? {}).find(([k]) => registryKey(k) === reg)?.[1];
      if (helper) return await viaHelper(helper);
      if (f.cfg.credsStore) {
        const a = await viaHelper(f.cfg.credsStore);
        if (a) return a;
      }
      const entry = Object.entries(f.cfg.auths ?? {}).find(([k]) => registryKey(k) === reg)?.[1];
      if (!entry) return undefined;
      const out: AuthConfig = {};
      if (entry.auth) {
        const dec = Buffer.from(entry.auth, "base64").toString("utf8");
        const i = dec.indexOf(":");
        if (i < 0) {
          throw new KilnError(`Cannot use credentials for ${reg} from ${f.path}: "auth" is not base64 user:password`);
        }
        out.username = dec.slice(0, i);
        out.password = dec.slice(i + 1);
      } else if (entry.username !== undefined) {
        out.username = entry.username;
        out.password = entry.password ?? "";
      }
      if (entry.identitytoken) out.identityToken = entry.identitytoken;
      if (entry.registrytoken) out.registryToken = entry.registrytoken;
      return Object.keys(out).length ? { ...out, source: f.path } : undefined;
    },
    describe: () => (opts.text !== undefined ? [label] : candidates.length ? [candidates.join(" or ")] : []),
  };
}
