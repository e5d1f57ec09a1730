/**
 * Build secrets: `--secret id=NAME,src=FILE` / `--secret id=NAME,env=VAR` (Docker's `docker build --secret`
 * syntax). Secret values are read only when a step mounts them, never logged, never part of a cache key, never
 * written into a rootfs.
 *
 * @module
 */
import * as fsp from "node:fs/promises";
import { KilnError, UsageError } from "../util/mod.ts";

/** One `--secret` option, parsed. */
export interface SecretSpec {
  /** The secret id (what `RUN --mount=type=secret,id=…` names). */
  id: string;
  /** Host file to read the value from. */
  src?: string;
  /** Environment variable to read the value from. */
  env?: string;
}

/**
 * Parses one `--secret` value: `id=x,src=path` (aliases `source`), `id=x,env=VAR`, or `id=x` alone (then the
 * environment variable of the same name if set, else… the file-less form is an error at use). `type=file|env` is
 * accepted as Docker accepts it.
 *
 * @param value The flag value.
 * @returns The parsed spec.
 *
 * @example Usage
 * ```ts
 * import { parseSecretFlag } from "./secrets.ts";
 * console.assert(parseSecretFlag("id=npm,src=/home/me/.npmrc").src === "/home/me/.npmrc");
 * ```
 */
export function parseSecretFlag(value: string): SecretSpec {
  const out: { id?: string; src?: string; env?: string; type?: string } = {};
  for (const part of value.split(",")) {
    const i = part.indexOf("=");
    const k = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
    const v = i < 0 ? "" : part.slice(i + 1);
    if (k === "id") out.id = v;
    else if (k === "src" || k === "source") out.src = v;
    else if (k === "env") out.env = v;
    else if (k === "type") out.type = v;
    else throw new UsageError(`Invalid --secret ${JSON.stringify(value)}: unknown key ${JSON.stringify(k)}`);
  }
  if (out.type !== undefined && out.type !== "file" && out.type !== "env") {
    throw new UsageError(`Invalid --secret ${JSON.stringify(value)}: type must be file or env`);
  }
  if (!out.id) {
    const from = out.src?.split("/").pop() ?? out.env;
    if (!from) throw new UsageError(`Invalid --secret ${JSON.stringify(value)}: id is required`);
    out.id = from;
  }
  if (out.src !== undefined && out.env !== undefined) {
    throw new UsageError(`Invalid --secret ${JSON.stringify(value)}: give src or env, not both`);
  }
  if (out.src === undefined && out.env === undefined) {
    if (out.type === "file") out.src = out.id;
    else out.env = out.id;
  }
  return {
    id: out.id,
    ...(out.src !== undefined ? { src: out.src } : {}),
    ...(out.env !== undefined ? { env: out.env } : {}),
  };
}

/** Where secrets come from during a build. */
export interface SecretStore {
  /** Ids that were given. */
  readonly ids: readonly string[];
  /** The value of secret `id`, or `undefined` when no such secret was given (or its variable is unset). */
  get(id: string, options?: { signal?: AbortSignal }): Promise<Uint8Array | undefined>;
}

/**
 * Creates the secret store of a build.
 *
 * @param specs Parsed `--secret` options (a later one with the same id wins).
 * @param options `env`: the process environment, passed in (library code never reads it).
 * @returns The store.
 *
 * @example Usage
 * ```ts
 * import { createSecretStore } from "./secrets.ts";
 * const s = createSecretStore([{ id: "tok", env: "TOKEN" }], { env: { TOKEN: "s3cr3t" } });
 * console.assert(new TextDecoder().decode(await s.get("tok")) === "s3cr3t");
 * ```
 */
export function createSecretStore(
  specs: readonly SecretSpec[],
  options: { env?: Readonly<Record<string, string | undefined>> } = {},
): SecretStore {
  const byId = new Map<string, SecretSpec>();
  for (const s of specs) byId.set(s.id, s);
  return {
    ids: [...byId.keys()],
    async get(id) {
      const s = byId.get(id);
      if (!s) return undefined;
      if (s.src !== undefined) {
        try {
          return new Uint8Array(await fsp.readFile(s.src));
        } catch (e) {
          throw new KilnError(`Cannot read secret ${JSON.stringify(id)} from ${s.src}: ${(e as Error).message}`, {
            cause: e,
          });
        }
      }
      const v = s.env === undefined ? undefined : options.env?.[s.env];
      return v === undefined ? undefined : new TextEncoder().encode(v);
    },
  };
}
