/**
 * The credential sources CI systems provide, in kaniko's order, as one {@linkcode Keychain}: Docker's config.json
 * (`$DOCKER_CONFIG`, `~/.docker`, `/kaniko/.docker`; `auths`, `credHelpers`, `credsStore`), GitLab's
 * `DOCKER_AUTH_CONFIG` (the same JSON in a variable), podman's `auth.json` (`$REGISTRY_AUTH_FILE`, then
 * `$XDG_RUNTIME_DIR/containers/auth.json`), and the kaniko fork's built-in helpers named by `--credential-helpers`:
 * `env` (`KANIKO_<HOST>_USER` / `KANIKO_<HOST>_PASSWORD`) and `gitlab` (`CI_REGISTRY` with `CI_REGISTRY_USER` /
 * `CI_REGISTRY_PASSWORD`, and GitLab's dependency proxy). The environment is passed in; nothing here reads the
 * process's.
 *
 * @module
 */
import { join } from "node:path";
import { type AuthConfig, dockerConfigKeychain, type HelperRunner, type Keychain, multiKeychain } from "./auth.ts";
import { normalizeRegistry } from "./reference.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** The built-in helpers of `--credential-helpers` kiln has (the fork's others need their cloud SDKs). */
export const BUILTIN_CREDENTIAL_HELPERS: readonly string[] = ["env", "gitlab"];

/**
 * The names `envKeychain` looks up for `registry`: `KANIKO_<NAME>_USER` for the host and each of its parent domains
 * (upper case, `-`, `.` and `:` as `_`), most specific first, as the kaniko fork's env helper does (kiln also maps
 * a port's `:`, so `127.0.0.1:5000` is `KANIKO_127_0_0_1_5000_USER`).
 *
 * @param registry The registry host.
 * @returns The variable name stems, e.g. `["REG_EXAMPLE_COM", "EXAMPLE_COM", "COM"]`.
 *
 * @example Usage
 * ```ts
 * import { envCredentialNames } from "./keychains.ts";
 * console.assert(envCredentialNames("reg-1.example.com").join() === "REG_1_EXAMPLE_COM,EXAMPLE_COM,COM");
 * ```
 */
export function envCredentialNames(registry: string): string[] {
  const labels = registry.toUpperCase().replaceAll("-", "_").replaceAll(":", "_").split(".");
  return labels.map((_, i) => labels.slice(i).join("_"));
}

/**
 * The kaniko fork's `env` helper: `KANIKO_<HOST>_USER` and `KANIKO_<HOST>_PASSWORD` (see {@linkcode envCredentialNames}).
 *
 * @param env The environment.
 * @returns The keychain.
 *
 * @example Usage
 * ```ts
 * import { envKeychain } from "./keychains.ts";
 * const k = envKeychain({ KANIKO_EXAMPLE_COM_USER: "u", KANIKO_EXAMPLE_COM_PASSWORD: "p" });
 * console.assert((await k.resolve("reg.example.com"))?.username === "u");
 * ```
 */
export function envKeychain(env: Env): Keychain {
  return {
    resolve(registry) {
      for (const n of envCredentialNames(normalizeRegistry(registry))) {
        const user = env[`KANIKO_${n}_USER`];
        const password = env[`KANIKO_${n}_PASSWORD`];
        if (user !== undefined && password !== undefined) {
          return Promise.resolve({ username: user, password, source: `KANIKO_${n}_USER/_PASSWORD` });
        }
      }
      return Promise.resolve(undefined);
    },
    describe: () => ["KANIKO_<HOST>_USER/_PASSWORD"],
  };
}

/**
 * GitLab CI's job credentials (the fork's `gitlab` helper): `CI_REGISTRY_USER` / `CI_REGISTRY_PASSWORD` for
 * `CI_REGISTRY`, `CI_DEPENDENCY_PROXY_USER` / `CI_DEPENDENCY_PROXY_PASSWORD` for `CI_DEPENDENCY_PROXY_SERVER`.
 *
 * @param env The environment.
 * @returns The keychain.
 *
 * @example Usage
 * ```ts
 * import { gitlabKeychain } from "./keychains.ts";
 * const k = gitlabKeychain({ CI_REGISTRY: "registry.gitlab.com", CI_REGISTRY_USER: "gitlab-ci-token", CI_REGISTRY_PASSWORD: "t" });
 * console.assert((await k.resolve("registry.gitlab.com"))?.username === "gitlab-ci-token");
 * ```
 */
export function gitlabKeychain(env: Env): Keychain {
  const pairs: [string | undefined, string, string][] = [
    [env.CI_REGISTRY, "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD"],
    [env.CI_DEPENDENCY_PROXY_SERVER, "CI_DEPENDENCY_PROXY_USER", "CI_DEPENDENCY_PROXY_PASSWORD"],
  ];
  return {
    resolve(registry) {
      const reg = normalizeRegistry(registry);
      for (const [host, u, p] of pairs) {
        if (!host || normalizeRegistry(host.replace(/^[a-z]+:\/\//i, "").split("/")[0]!) !== reg) continue;
        const username = env[u], password = env[p];
        if (username !== undefined && password !== undefined) {
          return Promise.resolve<AuthConfig>({
            username,
            password,
            source: `GitLab CI (${u}, ${p})`,
          });
        }
      }
      return Promise.resolve(undefined);
    },
    describe: () => ["GitLab CI job credentials"],
  };
}

/** Options for {@linkcode ciKeychain}. */
export interface CiKeychainOptions {
  /** The environment (DOCKER_CONFIG, DOCKER_AUTH_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, KANIKO_*, CI_*). */
  env: Env;
  /** The home directory (`~/.docker`). */
  home: string;
  /** `--credential-helpers`: the built-in helpers to use, in order (default `env`, `gitlab`; `[]` for none). */
  helpers?: readonly string[];
  /** Runs `docker-credential-*` programs named in config files. */
  runHelper?: HelperRunner;
}

/**
 * Every credential source CI uses, in order: config.json, `DOCKER_AUTH_CONFIG`, `$REGISTRY_AUTH_FILE`,
 * `$XDG_RUNTIME_DIR/containers/auth.json`, then the built-in helpers. The first with credentials for a registry
 * wins; each credential says its `source`, and `describe()` lists what was read, for a 401's message.
 *
 * @param options Environment, home, helpers.
 * @returns The keychain.
 *
 * @example Usage
 * ```ts
 * import { ciKeychain } from "./keychains.ts";
 * const auth = JSON.stringify({ auths: { "reg.example": { auth: btoa("u:p") } } });
 * const k = ciKeychain({ env: { DOCKER_AUTH_CONFIG: auth }, home: "/nonexistent" });
 * console.assert((await k.resolve("reg.example"))?.source === "DOCKER_AUTH_CONFIG");
 * ```
 */
export function ciKeychain(options: CiKeychainOptions): Keychain {
  const env = options.env;
  const runHelper = options.runHelper ? { runHelper: options.runHelper } : {};
  const chains: Keychain[] = [
    dockerConfigKeychain({
      configDirs: [...(env.DOCKER_CONFIG ? [env.DOCKER_CONFIG] : []), join(options.home, ".docker"), "/kaniko/.docker"],
      ...runHelper,
    }),
  ];
  if (env.DOCKER_AUTH_CONFIG !== undefined && env.DOCKER_AUTH_CONFIG !== "") {
    chains.push(dockerConfigKeychain({ text: env.DOCKER_AUTH_CONFIG, label: "DOCKER_AUTH_CONFIG", ...runHelper }));
  }
  const authFiles = [
    ...(env.REGISTRY_AUTH_FILE ? [env.REGISTRY_AUTH_FILE] : []),
    ...(env.XDG_RUNTIME_DIR ? [join(env.XDG_RUNTIME_DIR, "containers", "auth.json")] : []),
  ];
  for (const f of authFiles) chains.push(dockerConfigKeychain({ files: [f], ...runHelper }));
  for (const h of options.helpers ?? BUILTIN_CREDENTIAL_HELPERS) {
    if (h === "env") chains.push(envKeychain(env));
    else if (h === "gitlab") chains.push(gitlabKeychain(env));
  }
  return multiKeychain(chains);
}
