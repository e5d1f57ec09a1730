/**
 * Azure Blob Storage contexts: `https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB.tar.gz` (and the other
 * Azure clouds' host suffixes), or any URL under the `BlobEndpoint` of `AZURE_STORAGE_CONNECTION_STRING`
 * (emulators such as azurite). Read with `@azure/storage-blob`, loaded only when used.
 *
 * @module
 */
import { Readable } from "node:stream";
import { extractArchive } from "./_archive.ts";
import { ContextError, describeError, redact } from "./errors.ts";
import { parseConnectionString } from "./spec.ts";
import type { ContextEnv, ContextFetchOptions, ContextSource } from "./types.ts";

/** Where the blob is (as parsed by parseContextSpec). */
export interface AzureBlobSpec {
  /** Full blob URL (may carry a SAS query). */
  url: string;
  /** Storage account. */
  account: string;
  /** Container name. */
  container: string;
  /** Blob name. */
  blob: string;
}

/** Options for {@linkcode azureBlobSource}. */
export interface AzureSourceOptions {
  /** AZURE_STORAGE_ACCESS_KEY (kaniko), AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT. */
  env?: ContextEnv;
}

/**
 * Creates the source for an Azure blob holding a tar archive (plain, gzip or zstd). Credentials, in order:
 * `AZURE_STORAGE_CONNECTION_STRING` (when it has an AccountKey or SharedAccessSignature), `AZURE_STORAGE_ACCESS_KEY`
 * (shared key for the URL's account), a SAS token in the URL, or none (public container).
 *
 * @param spec Blob URL and its parts.
 * @param options Environment.
 * @returns The source.
 *
 * @example Usage
 * ```ts
 * import { azureBlobSource } from "./azure.ts";
 * const src = azureBlobSource({
 *   url: "https://acct.blob.core.windows.net/ctx/context.tar.gz", account: "acct", container: "ctx", blob: "context.tar.gz",
 * });
 * console.assert(src.kind === "azure");
 * ```
 */
export function azureBlobSource(spec: AzureBlobSpec, options: AzureSourceOptions = {}): ContextSource {
  const env = options.env ?? {};
  const description = redact(spec.url.replace(/\?.*$/, ""));
  return {
    kind: "azure",
    description,
    async fetch(destDir: string, fetchOptions: ContextFetchOptions = {}): Promise<void> {
      const sdk = await import("@azure/storage-blob");
      const cs = env.AZURE_STORAGE_CONNECTION_STRING;
      let client;
      const f = cs ? parseConnectionString(cs) : {};
      // a connection string with only BlobEndpoint= just names an endpoint (emulators); the key may come from
      // AZURE_STORAGE_ACCESS_KEY as in kaniko
      if (cs && (f.AccountKey || f.SharedAccessSignature || f.UseDevelopmentStorage === "true")) {
        if (f.AccountName && f.AccountName !== spec.account) {
          fetchOptions.logger?.warn("Connection string account differs from the URL's", {
            url: spec.account,
            connectionString: f.AccountName,
          });
        }
        client = new sdk.BlobClient(cs, spec.container, spec.blob);
      } else if (env.AZURE_STORAGE_ACCESS_KEY) {
        const cred = new sdk.StorageSharedKeyCredential(spec.account, env.AZURE_STORAGE_ACCESS_KEY);
        client = new sdk.BlobClient(spec.url, cred);
      } else {
        client = new sdk.BlobClient(spec.url, new sdk.AnonymousCredential());
      }
      let res;
      try {
        res = await client.download(0, undefined, {
          ...(fetchOptions.signal ? { abortSignal: fetchOptions.signal } : {}),
          maxRetryRequests: 3,
        });
      } catch (e) {
        if (fetchOptions.signal?.aborted) throw e;
        throw new ContextError(description, azureReason(e, spec), { cause: e });
      }
      const body = res.readableStreamBody;
      if (!body) throw new ContextError(description, "empty response body");
      const web = Readable.toWeb(body as Readable) as unknown as ReadableStream<Uint8Array>;
      await extractArchive(web, destDir, {
        ...fetchOptions,
        source: description,
        ...(res.contentLength !== undefined ? { total: res.contentLength } : {}),
      });
    },
  };
}

function azureReason(e: unknown, spec: AzureBlobSpec): string {
  const err = e as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  const code = err.details?.errorCode ?? err.code ?? "";
  switch (code) {
    case "ContainerNotFound":
      return `no such container "${spec.container}" in account "${spec.account}"`;
    case "BlobNotFound":
      return `no such blob "${spec.blob}" in container "${spec.container}"`;
    case "AuthenticationFailed":
    case "AuthorizationFailure":
    case "InvalidAuthenticationInfo":
      return `access denied: the credentials were rejected (${code})`;
    case "ResourceNotFound":
      return `not found: account "${spec.account}", container "${spec.container}" or blob "${spec.blob}"`;
  }
  if (err.statusCode === 404) return `no such blob "${spec.blob}" in container "${spec.container}"`;
  if (err.statusCode === 401 || err.statusCode === 403) {
    return `access denied (HTTP ${err.statusCode}${
      code ? ` ${code}` : ""
    }); set AZURE_STORAGE_ACCESS_KEY or AZURE_STORAGE_CONNECTION_STRING`;
  }
  return `${code ? `${code}: ` : ""}${describeError(e)}`;
}
