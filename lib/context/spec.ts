/**
 * Parsing a `--context` value into a typed spec: the scheme table that picks the source.
 *
 * @module
 */
import { ContextError, redact } from "./errors.ts";
import type { ContextEnv, ContextKind } from "./types.ts";

/** A parsed `--context` value, keyed by `kind`. */
export type ContextSpec =
  | { kind: "dir"; path: string }
  | { kind: "tar"; path: string }
  | { kind: "stdin" }
  | { kind: "s3"; bucket: string; key: string }
  | { kind: "gcs"; bucket: string; object: string }
  | { kind: "azure"; url: string; account: string; container: string; blob: string; endpoint: string }
  | { kind: "git"; url: string; ref?: string; commit?: string; subdir?: string }
  | { kind: "https"; url: string };

/** Host suffixes of Azure Blob Storage (public cloud, China, US Government, Germany). */
export const AZURE_BLOB_HOST_SUFFIXES: readonly string[] = [
  ".blob.core.windows.net",
  ".blob.core.chinacloudapi.cn",
  ".blob.core.usgovcloudapi.net",
  ".blob.core.cloudapi.de",
];

/** Azurite's well-known development-storage blob endpoint (`UseDevelopmentStorage=true`). */
export const AZURITE_DEFAULT_BLOB_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1";

/**
 * Parses an Azure Storage connection string (`Key=Value;...`) into its fields.
 *
 * @param s The connection string.
 * @returns Field map (keys as written).
 *
 * @example Usage
 * ```ts
 * import { parseConnectionString } from "./spec.ts";
 * console.assert(parseConnectionString("AccountName=a;AccountKey=k==").AccountKey === "k==");
 * ```
 */
export function parseConnectionString(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/**
 * The custom blob endpoint named by `AZURE_STORAGE_CONNECTION_STRING` (its `BlobEndpoint`, or azurite's
 * default for `UseDevelopmentStorage=true`), without a trailing slash; undefined when there is none.
 *
 * @param env Environment.
 * @returns The endpoint URL or undefined.
 */
export function azureCustomBlobEndpoint(env: ContextEnv): string | undefined {
  const cs = env.AZURE_STORAGE_CONNECTION_STRING;
  if (!cs) return undefined;
  const f = parseConnectionString(cs);
  if (f.BlobEndpoint) return f.BlobEndpoint.replace(/\/+$/, "");
  if (f.UseDevelopmentStorage === "true") return AZURITE_DEFAULT_BLOB_ENDPOINT;
  return undefined;
}

function parseGitFragment(
  base: string,
  fragment: string | undefined,
): { kind: "git"; url: string; ref?: string; commit?: string; subdir?: string } {
  const out: { kind: "git"; url: string; ref?: string; commit?: string; subdir?: string } = { kind: "git", url: base };
  if (fragment === undefined) return out;
  const parts = fragment.split("#");
  let last = parts[parts.length - 1]!;
  const colon = last.indexOf(":");
  if (colon >= 0) {
    const subdir = last.slice(colon + 1).replace(/^\/+|\/+$/g, "");
    if (subdir) out.subdir = subdir;
    last = last.slice(0, colon);
    parts[parts.length - 1] = last;
  }
  if (parts[0]) out.ref = parts[0];
  if (parts[1]) out.commit = parts[1];
  return out;
}

/**
 * Parses a `--context` value. The scheme picks the source:
 * a plain path or `dir://PATH` (local directory); `tar://PATH` or `tar://stdin`; `s3://BUCKET/KEY`;
 * `gs://BUCKET/OBJECT`; `git://HOST/REPO[#REF[#COMMIT]][:SUBDIR]` (cloned over `GIT_PULL_METHOD`, default https);
 * `http(s)://…` is Azure Blob when the host ends in an Azure blob suffix or the URL starts with the
 * `BlobEndpoint` of `AZURE_STORAGE_CONNECTION_STRING`, git when the path ends in `.git`, otherwise a tarball.
 * Throws a {@linkcode ContextError} (exit code 2) for an unknown scheme or a malformed value.
 *
 * @param spec The `--context` value.
 * @param env Environment (GIT_PULL_METHOD, AZURE_STORAGE_CONNECTION_STRING).
 * @returns The parsed spec.
 *
 * @example Usage
 * ```ts
 * import { parseContextSpec } from "./spec.ts";
 * const s = parseContextSpec("git://github.com/org/repo.git#refs/heads/main:app");
 * console.assert(s.kind === "git" && s.url === "https://github.com/org/repo.git" && s.subdir === "app");
 * ```
 */
export function parseContextSpec(spec: string, env: ContextEnv = {}): ContextSpec {
  const shown = redact(spec);
  const bad = (why: string) => new ContextError(shown, why, { exitCode: 2 });
  if (spec === "") throw bad("empty context");
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s.exec(spec);
  if (!m) return { kind: "dir", path: spec };
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  switch (scheme) {
    case "dir":
      if (!rest) throw bad("missing directory path");
      return { kind: "dir", path: rest };
    case "tar":
      if (!rest) throw bad("missing archive path (or stdin)");
      return rest === "stdin" ? { kind: "stdin" } : { kind: "tar", path: rest };
    case "s3":
    case "gs": {
      const slash = rest.indexOf("/");
      const bucket = slash < 0 ? rest : rest.slice(0, slash);
      const key = slash < 0 ? "" : rest.slice(slash + 1);
      if (!bucket) throw bad("missing bucket name");
      // kaniko: a bucket without an object path means the object context.tar.gz
      const object = key === "" ? "context.tar.gz" : key;
      return scheme === "s3" ? { kind: "s3", bucket, key: object } : { kind: "gcs", bucket, object };
    }
    case "git": {
      const method = (env.GIT_PULL_METHOD ?? "https").toLowerCase();
      if (method !== "https" && method !== "http") {
        throw bad(`GIT_PULL_METHOD must be https or http, not "${env.GIT_PULL_METHOD}"`);
      }
      const hash = rest.indexOf("#");
      const base = hash < 0 ? rest : rest.slice(0, hash);
      if (!base || base.startsWith("/")) throw bad("missing host");
      return parseGitFragment(`${method}://${base}`, hash < 0 ? undefined : rest.slice(hash + 1));
    }
    case "http":
    case "https": {
      const hash = spec.indexOf("#");
      const base = hash < 0 ? spec : spec.slice(0, hash);
      let u: URL;
      try {
        u = new URL(base);
      } catch (e) {
        throw new ContextError(shown, "malformed URL", { cause: e, exitCode: 2 });
      }
      const azure = azureFromUrl(u, env);
      if (azure) return azure;
      if (/\.git\/?$/.test(u.pathname)) {
        return parseGitFragment(base, hash < 0 ? undefined : spec.slice(hash + 1));
      }
      return { kind: "https", url: spec };
    }
    default:
      throw bad(
        `unknown scheme "${scheme}://" (expected a directory, dir://, tar://, s3://, gs://, git://, https://)`,
      );
  }
}

function azureFromUrl(u: URL, env: ContextEnv): ContextSpec | undefined {
  const custom = azureCustomBlobEndpoint(env);
  const href = u.href;
  let endpoint: string | undefined;
  let account: string | undefined;
  if (custom && (href === custom || href.startsWith(custom + "/"))) {
    endpoint = custom;
    const cu = new URL(custom);
    // path-style endpoint (emulators): the account is the endpoint's last path segment
    account = cu.pathname.split("/").filter(Boolean).pop() ?? cu.hostname.split(".")[0]!;
  } else if (u.protocol === "https:" && AZURE_BLOB_HOST_SUFFIXES.some((s) => u.hostname.endsWith(s))) {
    endpoint = `https://${u.host}`;
    account = u.hostname.split(".")[0]!;
  }
  if (endpoint === undefined || account === undefined) return undefined;
  const path = decodeURIComponent(href.slice(endpoint.length).replace(/^\/+/, ""));
  const slash = path.indexOf("/");
  const container = slash < 0 ? path : path.slice(0, slash);
  const blob = slash < 0 ? "" : path.slice(slash + 1);
  if (!container || !blob) {
    throw new ContextError(redact(href), "expected an Azure Blob URL of the form ENDPOINT/CONTAINER/BLOB", {
      exitCode: 2,
    });
  }
  return { kind: "azure", url: href, account, container, blob, endpoint };
}

/** The kinds {@linkcode parseContextSpec} can return, in the order of the documentation. */
export const CONTEXT_KINDS: readonly ContextKind[] = ["dir", "tar", "stdin", "s3", "gcs", "azure", "git", "https"];

/**
 * True if `spec` names something other than a local directory (a plain path or `dir://`), i.e. a source
 * {@linkcode parseContextSpec} would download. Does not validate the spec.
 *
 * @param spec The `--context` value.
 * @returns Whether it must be fetched.
 *
 * @example Usage
 * ```ts
 * import { isRemoteContext } from "./spec.ts";
 * console.assert(isRemoteContext("s3://b/k.tar.gz") && !isRemoteContext("dir:///ws") && !isRemoteContext("."));
 * ```
 */
export function isRemoteContext(spec: string): boolean {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(spec);
  return m !== null && m[1]!.toLowerCase() !== "dir";
}
