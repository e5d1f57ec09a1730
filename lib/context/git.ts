/**
 * Git contexts: `git://HOST/REPO.git#REF[#COMMIT][:SUBDIR]` (kaniko's form, cloned over HTTPS, or HTTP with
 * `GIT_PULL_METHOD=http`) and `https://HOST/REPO.git#REF[:SUBDIR]`, cloned with lib/git's `cloneGitRef`. REF may
 * be a branch, a tag, a full ref (`refs/pull/1/head`) or a commit sha.
 *
 * @module
 */
import { cloneGitRef, GitCloneError } from "../git/mod.ts";
import { redact } from "../util/mod.ts";
import { ContextError } from "./errors.ts";
import type { ContextEnv, ContextFetchOptions, ContextSource, FetchedContext, GitOptions } from "./types.ts";

// Cloning lives in lib/git (shared with ADD); the old names keep working from here.
export {
  /** @deprecated Import from lib/git/mod.ts. */
  cloneGitRef,
  /** @deprecated Import from lib/git/mod.ts. */
  type CloneGitRefOptions,
  /** @deprecated Import from lib/git/mod.ts. */
  GitCloneError,
  /** @deprecated Import from lib/git/mod.ts. */
  gitCredentials,
  /** @deprecated Import from lib/git/mod.ts. */
  parseGitmodules,
} from "../git/mod.ts";

/** What to clone: a parsed git spec (see parseContextSpec). */
export interface GitSpec {
  /** Repository URL (http or https), possibly with `user:token@`. */
  url: string;
  /** Branch, tag, full ref or commit sha. */
  ref?: string;
  /** Commit to check out after fetching `ref` (kaniko's `#REF#COMMIT`). */
  commit?: string;
  /** Directory inside the repository that is the context. */
  subdir?: string;
}

/** Options for {@linkcode gitSource}. */
export interface GitSourceOptions {
  /** GIT_USERNAME, GIT_PASSWORD, GIT_TOKEN. */
  env?: ContextEnv;
  /** kaniko's `--git` options. */
  gitOptions?: GitOptions;
}

/** A git source; `subDir` is the part of the checkout that is the context. */
export interface GitContextSource extends ContextSource {
  /** Directory inside the checkout that is the context root (from `:SUBDIR`). */
  readonly subDir?: string;
}

/**
 * Creates the source for a git repository. `fetch` clones into the destination with {@linkcode cloneGitRef}
 * (history is fetched only as deep as needed), checks out the ref, clones submodules when `recurseSubmodules` is
 * set, and removes `.git`.
 *
 * @param spec URL, ref, commit and subdirectory.
 * @param options Environment and `--git` options.
 * @returns The source.
 *
 * @example Usage
 * ```ts
 * import { gitSource } from "./git.ts";
 * const src = gitSource({ url: "https://github.com/org/repo.git", ref: "main" });
 * console.assert(src.kind === "git");
 * ```
 */
export function gitSource(spec: GitSpec, options: GitSourceOptions = {}): GitContextSource {
  const gitOptions = options.gitOptions ?? {};
  const description = redact(
    spec.url + (spec.ref ? `#${spec.ref}` : "") + (spec.commit ? `#${spec.commit}` : "") +
      (spec.subdir ? `:${spec.subdir}` : ""),
  );
  return {
    kind: "git",
    description,
    ...(spec.subdir ? { subDir: spec.subdir } : {}),
    async fetch(destDir: string, fetchOptions: ContextFetchOptions = {}): Promise<FetchedContext> {
      fetchOptions.logger?.info("Cloning git context", { repo: description });
      const ref = spec.ref ?? gitOptions.branch;
      try {
        const { commit } = await cloneGitRef(spec.url, destDir, {
          ...(ref !== undefined ? { ref } : {}),
          ...(spec.commit !== undefined ? { commit: spec.commit } : {}),
          ...(gitOptions.recurseSubmodules ? { recurseSubmodules: true } : {}),
          ...(gitOptions.insecureSkipTls ? { insecureSkipTls: true } : {}),
          ...(options.env ? { env: options.env } : {}),
          ...(fetchOptions.signal ? { signal: fetchOptions.signal } : {}),
          ...(fetchOptions.logger ? { logger: fetchOptions.logger } : {}),
          ...(fetchOptions.onProgress ? { onProgress: fetchOptions.onProgress } : {}),
        });
        return { digest: { sha1: commit } };
      } catch (e) {
        if (e instanceof GitCloneError) throw new ContextError(description, e.reason, { cause: e });
        throw e;
      }
    },
  };
}
