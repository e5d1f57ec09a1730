/**
 * The scheme → source table: turns a `--context` value into a {@linkcode ContextSource}.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { azureBlobSource } from "./azure.ts";
import { dirSource } from "./dir.ts";
import { ContextError } from "./errors.ts";
import { gcsSource } from "./gcs.ts";
import { gitSource } from "./git.ts";
import { httpTarballSource } from "./https.ts";
import { s3Source } from "./s3.ts";
import { parseContextSpec } from "./spec.ts";
import { stdinSource, tarFileSource } from "./tar.ts";
import type { ContextSource, ContextSourceOptions } from "./types.ts";

/**
 * A source as returned by {@linkcode createContextSource}: local directories carry `localDir` (used in place),
 * git sources may carry `subDir` (from `#ref:subdir`).
 */
export type AnyContextSource = ContextSource & { readonly localDir?: string; readonly subDir?: string };

/**
 * Creates the source for a `--context` value (see parseContextSpec for the schemes). Nothing is read or
 * downloaded until `fetch`; the cloud SDKs and isomorphic-git are imported only then.
 *
 * @param spec The `--context` value.
 * @param options Environment, `--git` options, stdin, working directory, fetch.
 * @returns The source.
 *
 * @example Usage
 * ```ts
 * import { createContextSource } from "./source.ts";
 * const src = createContextSource("s3://bucket/ctx.tar.gz", { env: { AWS_REGION: "us-east-1" } });
 * console.assert(src.kind === "s3");
 * ```
 */
export function createContextSource(spec: string, options: ContextSourceOptions = {}): AnyContextSource {
  const env = options.env ?? {};
  const p = parseContextSpec(spec, env);
  const abs = (path: string) => (options.cwd && !isAbsolute(path) ? resolve(options.cwd, path) : path);
  switch (p.kind) {
    case "dir":
      return dirSource(abs(p.path), spec);
    case "tar":
      return tarFileSource(abs(p.path), spec);
    case "stdin":
      if (!options.stdin) throw new ContextError("tar://stdin", "standard input is not available here");
      return stdinSource(options.stdin);
    case "s3":
      return s3Source(p.bucket, p.key, { env });
    case "gcs":
      return gcsSource(p.bucket, p.object, { env });
    case "azure":
      return azureBlobSource(p, { env });
    case "git":
      return gitSource(p, { env, ...(options.gitOptions ? { gitOptions: options.gitOptions } : {}) });
    case "https":
      return httpTarballSource(p.url, options.fetch ? { fetch: options.fetch } : {});
  }
}
