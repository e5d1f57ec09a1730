/**
 * Registry transport options, named after kaniko's flags.
 *
 * @module
 */
import type { Logger } from "../util/mod.ts";
import type { Platform } from "../image/mod.ts";
import type { Keychain } from "./auth.ts";
import type { TransportFactory } from "./transport.ts";

/** Options shared by every registry operation (kaniko flag names in parentheses). */
export interface RegistryOptions {
  /** Push over plain HTTP (`--insecure`). */
  insecure?: boolean;
  /** Pull over plain HTTP (`--insecure-pull`). */
  insecurePull?: boolean;
  /** Hosts reached over plain HTTP for push and pull (`--insecure-registry`). */
  insecureRegistries?: string[];
  /** Push without TLS verification (`--skip-tls-verify`). */
  skipTlsVerify?: boolean;
  /** Pull without TLS verification (`--skip-tls-verify-pull`). */
  skipTlsVerifyPull?: boolean;
  /** Hosts with TLS verification skipped (`--skip-tls-verify-registry`). */
  skipTlsVerifyRegistries?: string[];
  /** Host → CA certificate file (`--registry-certificate host=path`). */
  registryCertificates?: Record<string, string>;
  /**
   * CA certificates (PEM text) trusted for every registry besides the runtime's own roots — the CLI reads
   * `SSL_CERT_FILE` and the files of `SSL_CERT_DIR` into it (the executor image's `/kaniko/ssl/certs`, where a job
   * mounts its own CA).
   */
  trustedCaCerts?: string[];
  /** Host → client certificate and key files (`--registry-client-cert host=cert,key`). */
  registryClientCerts?: Record<string, { cert: string; key: string }>;
  /** Pull-through mirrors for Docker Hub (`--registry-mirror`). */
  registryMirrors?: string[];
  /** Registry → replacements `host[/prefix]`, tried in order for pulls (`--registry-map`). */
  registryMap?: Record<string, string[]>;
  /** Fail instead of using the original registry when every mirror missed (`--skip-default-registry-fallback`). */
  skipDefaultRegistryFallback?: boolean;
  /** Retries for push requests (`--push-retry`; default 3). */
  pushRetry?: number;
  /** Retries for pull requests (`--image-download-retry`; default 3). */
  imageDownloadRetry?: number;
  /** First backoff delay in ms, doubled per retry (default 1000). */
  retryBaseDelayMs?: number;
  /** Longest wait honoured from a Retry-After header, in ms (default 60 000). */
  maxRetryAfterMs?: number;
  /**
   * Longest time in ms a request may wait for the registry without receiving a byte — for the response headers
   * (after the last byte sent), or for the next piece of the body (default 60 000). Past it the request is
   * abandoned and retried like a dropped connection, then fails naming the registry and the request.
   */
  idleTimeoutMs?: number;
  /** Credentials (default: anonymous). */
  keychain?: Keychain;
  /** Logger (default: silent). */
  logger?: Logger;
  /** HTTP transport factory (default {@linkcode defaultTransport}). */
  transport?: TransportFactory;
  /** User-Agent header. */
  userAgent?: string;
  /** Platform chosen from indexes (default: the host's; `--custom-platform`). */
  platform?: Platform;
  /** Concurrent blob transfers (default 4). */
  concurrency?: number;
  /** Blobs up to this size are uploaded in one PUT (default 32 MiB); larger ones in PATCH chunks. */
  monolithicThreshold?: number;
  /** Chunk size of chunked uploads (default 32 MiB). */
  chunkSize?: number;
  /** Abort signal. */
  signal?: AbortSignal;
}
