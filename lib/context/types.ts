/**
 * The build-context contract: every source kiln accepts for `--context` (a local directory, a tar archive or
 * stdin, S3, GCS, Azure Blob, git, an HTTPS tarball) is a {@linkcode ContextSource} that puts the context's files
 * into a directory.
 *
 * @module
 */
import type { Logger } from "../util/mod.ts";

/** Which kind of source a context spec names. */
export type ContextKind = "dir" | "tar" | "stdin" | "s3" | "gcs" | "azure" | "git" | "https";

/** Progress of a download: bytes received so far and, when the server said, the total. */
export interface ContextProgress {
  /** Bytes received so far (compressed, as sent). */
  bytes: number;
  /** Total size in bytes, when known. */
  total?: number;
}

/** Options for {@linkcode ContextSource.fetch}. */
export interface ContextFetchOptions {
  /** Cancels the download. */
  signal?: AbortSignal;
  /** Where progress and diagnostics go. */
  logger?: Logger;
  /** Called as bytes arrive (once per chunk; throttle in the caller if you print). */
  onProgress?: (progress: ContextProgress) => void;
}

/** One place a build context comes from. */
export interface ContextSource {
  /** The kind of source. */
  readonly kind: ContextKind;
  /** The spec with any credentials redacted, for messages. */
  readonly description: string;
  /**
   * Downloads and unpacks the context into `destDir`, which must exist and be empty. Throws a
   * {@linkcode ContextError} naming the source and the cause; on failure `destDir` may hold partial content
   * (the caller removes it).
   */
  fetch(destDir: string, options?: ContextFetchOptions): Promise<void | FetchedContext>;
}

/** What a fetch learned about the source, when it can tell (a git commit). */
export interface FetchedContext {
  /** Digests of what was fetched, by algorithm (`{ sha1: "<commit>" }` for git). */
  digest?: Record<string, string>;
}

/** Environment variables, passed in explicitly (library code never reads `process.env`). */
export type ContextEnv = Readonly<Record<string, string | undefined>>;

/** kaniko's `--git` options (`--git branch=main,single-branch=true,...`), see {@linkcode parseGitOptions}. */
export interface GitOptions {
  /** Branch (or tag) to clone when the URL has no `#ref`. */
  branch?: string;
  /** Fetch only the one branch. */
  singleBranch?: boolean;
  /** Also clone submodules, recursively. */
  recurseSubmodules?: boolean;
  /** Do not verify TLS certificates. */
  insecureSkipTls?: boolean;
}

/** Options used to create a source from a spec (see {@linkcode createContextSource}). */
export interface ContextSourceOptions {
  /**
   * Environment: AWS_* / S3_ENDPOINT / S3_FORCE_PATH_STYLE, GOOGLE_APPLICATION_CREDENTIALS / STORAGE_EMULATOR_HOST,
   * AZURE_STORAGE_ACCESS_KEY / AZURE_STORAGE_CONNECTION_STRING, GIT_USERNAME / GIT_PASSWORD / GIT_TOKEN /
   * GIT_PULL_METHOD, HOME.
   */
  env?: ContextEnv;
  /** kaniko's `--git` options. */
  gitOptions?: GitOptions;
  /** Opens standard input, for `tar://stdin` (called at most once). */
  stdin?: () => ReadableStream<Uint8Array>;
  /** Base for a relative local path (default: the path is used as given). */
  cwd?: string;
  /** The `fetch` used for HTTPS downloads (default: the global one). */
  fetch?: typeof globalThis.fetch;
}
