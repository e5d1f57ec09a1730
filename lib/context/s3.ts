/**
 * S3 contexts: `s3://BUCKET/KEY.tar.gz`, read with `@aws-sdk/client-s3` (loaded only when used).
 *
 * @module
 */
import { loadAwsConfig } from "./_aws_config.ts";
import { extractArchive } from "./_archive.ts";
import { ContextError, describeError } from "./errors.ts";
import type { ContextEnv, ContextFetchOptions, ContextSource } from "./types.ts";

/** Options for {@linkcode s3Source}. */
export interface S3SourceOptions {
  /**
   * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE,
   * AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, HOME, and kaniko's S3_ENDPOINT and S3_FORCE_PATH_STYLE
   * (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL also work).
   */
  env?: ContextEnv;
}

/**
 * Creates the source for an S3 object holding a tar archive (plain, gzip or zstd). Credentials come from the
 * environment or the shared config files; without static credentials the SDK's default chain (SSO, web
 * identity, instance metadata) is used.
 *
 * @param bucket Bucket name.
 * @param key Object key.
 * @param options Environment.
 * @returns The source.
 *
 * @example Usage
 * ```ts
 * import { s3Source } from "./s3.ts";
 * const src = s3Source("my-bucket", "ctx.tar.gz", { env: { AWS_REGION: "eu-west-1" } });
 * console.assert(src.description === "s3://my-bucket/ctx.tar.gz");
 * ```
 */
export function s3Source(bucket: string, key: string, options: S3SourceOptions = {}): ContextSource {
  const env = options.env ?? {};
  const description = `s3://${bucket}/${key}`;
  return {
    kind: "s3",
    description,
    async fetch(destDir: string, fetchOptions: ContextFetchOptions = {}): Promise<void> {
      const { S3Client, GetObjectCommand } = await import("@aws-sdk/client-s3");
      const conf = await loadAwsConfig(env);
      const endpoint = env.S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
      const client = new S3Client({
        region: conf.region ?? "us-east-1",
        ...(endpoint ? { endpoint } : {}),
        forcePathStyle: (env.S3_FORCE_PATH_STYLE ?? "").toLowerCase() === "true",
        ...(conf.credentials ? { credentials: conf.credentials } : { profile: conf.profile }),
        maxAttempts: 3,
      });
      try {
        let out;
        try {
          out = await client.send(
            new GetObjectCommand({ Bucket: bucket, Key: key }),
            fetchOptions.signal ? { abortSignal: fetchOptions.signal } : {},
          );
        } catch (e) {
          if (fetchOptions.signal?.aborted) throw e;
          throw new ContextError(description, s3Reason(e, bucket, key), { cause: e });
        }
        const body = out.Body;
        if (!body) throw new ContextError(description, "empty response body");
        fetchOptions.logger?.debug("Downloading S3 context", { object: description, size: out.ContentLength });
        await extractArchive(body.transformToWebStream() as ReadableStream<Uint8Array>, destDir, {
          ...fetchOptions,
          source: description,
          ...(out.ContentLength !== undefined ? { total: out.ContentLength } : {}),
        });
      } finally {
        client.destroy();
      }
    },
  };
}

function s3Reason(e: unknown, bucket: string, key: string): string {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const code = err.Code ?? err.name ?? "";
  const status = err.$metadata?.httpStatusCode;
  switch (code) {
    case "NoSuchBucket":
      return `no such bucket "${bucket}"`;
    case "NoSuchKey":
    case "NotFound":
      return `no such object "${key}" in bucket "${bucket}"`;
    case "AccessDenied":
    case "Forbidden":
    case "AllAccessDisabled":
      return `access denied (${code})`;
    case "InvalidAccessKeyId":
    case "SignatureDoesNotMatch":
    case "ExpiredToken":
    case "InvalidToken":
      return `access denied: the credentials were rejected (${code})`;
    case "CredentialsProviderError":
      return `no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE): ${
        describeError(e)
      }`;
  }
  if (status === 404) return `no such object "${key}" in bucket "${bucket}"`;
  if (status === 403) return `access denied (HTTP 403${code ? ` ${code}` : ""})`;
  return `${code ? `${code}: ` : ""}${describeError(e)}`;
}
