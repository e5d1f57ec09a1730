/**
 * Google Cloud Storage contexts: `gs://BUCKET/OBJECT.tar.gz`, read with `@google-cloud/storage` (loaded only
 * when used).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { extractArchive } from "./_archive.ts";
import { ContextError, describeError } from "./errors.ts";
import type { ContextEnv, ContextFetchOptions, ContextSource } from "./types.ts";

/** Options for {@linkcode gcsSource}. */
export interface GcsSourceOptions {
  /**
   * GOOGLE_APPLICATION_CREDENTIALS (a service-account or ADC JSON file), STORAGE_EMULATOR_HOST (a custom
   * endpoint: `http://host:port` or `host:port`; no authentication is sent to it), GOOGLE_CLOUD_PROJECT.
   */
  env?: ContextEnv;
}

/**
 * The JSON-API endpoint for `STORAGE_EMULATOR_HOST`, with a scheme and without a trailing slash.
 *
 * @param host The variable's value.
 * @returns The endpoint URL.
 */
export function gcsEmulatorEndpoint(host: string): string {
  return (/^https?:\/\//.test(host) ? host : `http://${host}`).replace(/\/+$/, "");
}

/**
 * Creates the source for a GCS object holding a tar archive (plain, gzip or zstd). Credentials are Application
 * Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, else the SDK's well-known file / metadata server).
 *
 * @param bucket Bucket name.
 * @param object Object name.
 * @param options Environment.
 * @returns The source.
 *
 * @example Usage
 * ```ts
 * import { gcsSource } from "./gcs.ts";
 * const src = gcsSource("my-bucket", "ctx.tar.gz");
 * console.assert(src.description === "gs://my-bucket/ctx.tar.gz");
 * ```
 */
export function gcsSource(bucket: string, object: string, options: GcsSourceOptions = {}): ContextSource {
  const env = options.env ?? {};
  const description = `gs://${bucket}/${object}`;
  return {
    kind: "gcs",
    description,
    async fetch(destDir: string, fetchOptions: ContextFetchOptions = {}): Promise<void> {
      const { Storage } = await import("@google-cloud/storage");
      const emulator = env.STORAGE_EMULATOR_HOST;
      const keyFile = env.GOOGLE_APPLICATION_CREDENTIALS;
      const project = env.GOOGLE_CLOUD_PROJECT ?? env.GCLOUD_PROJECT;
      let universeDomain: string | undefined;
      if (keyFile) {
        // read it ourselves: a clear error for a missing/bad file, and its universe domain
        try {
          const json = JSON.parse(await readFile(keyFile, "utf8")) as { universe_domain?: unknown };
          if (typeof json.universe_domain === "string") universeDomain = json.universe_domain;
        } catch (e) {
          throw new ContextError(
            description,
            `cannot read GOOGLE_APPLICATION_CREDENTIALS file ${keyFile}: ${describeError(e)}`,
            { cause: e },
          );
        }
      }
      const storage = new Storage({
        ...(emulator ? { apiEndpoint: gcsEmulatorEndpoint(emulator) } : {}),
        // with an emulator, authenticate only when credentials were given explicitly
        ...(emulator && keyFile ? { useAuthWithCustomEndpoint: true } : {}),
        ...(keyFile ? { keyFilename: keyFile } : {}),
        ...(universeDomain ? { universeDomain } : {}),
        ...(project ? { projectId: project } : {}),
        retryOptions: { maxRetries: 2 },
      });
      const file = storage.bucket(bucket).file(object);
      let size: number | undefined;
      try {
        const [meta] = await file.getMetadata();
        if (meta.size !== undefined) size = Number(meta.size);
      } catch (e) {
        throw new ContextError(description, gcsReason(e, bucket, object), { cause: e });
      }
      fetchOptions.logger?.debug("Downloading GCS context", { object: description, size });
      const node = file.createReadStream();
      const web = Readable.toWeb(node) as unknown as ReadableStream<Uint8Array>;
      try {
        await extractArchive(web, destDir, {
          ...fetchOptions,
          source: description,
          ...(size !== undefined ? { total: size } : {}),
        });
      } catch (e) {
        node.destroy();
        if (e instanceof ContextError || fetchOptions.signal?.aborted) throw e;
        throw new ContextError(description, gcsReason(e, bucket, object), { cause: e });
      }
    },
  };
}

function gcsReason(e: unknown, bucket: string, object: string): string {
  const err = e as { code?: number | string; message?: string };
  const msg = describeError(e);
  if (err.code === 404) {
    return /bucket/i.test(msg) ? `no such bucket "${bucket}"` : `no such object "${object}" in bucket "${bucket}"`;
  }
  if (err.code === 401) return `access denied: the credentials were rejected (HTTP 401: ${msg})`;
  if (err.code === 403) return `access denied (HTTP 403: ${msg})`;
  if (/Could not load the default credentials|invalid_grant|ENOENT.*json/i.test(msg)) {
    return `cannot authenticate (GOOGLE_APPLICATION_CREDENTIALS): ${msg}`;
  }
  return msg;
}
