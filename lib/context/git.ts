/**
 * Git contexts: `git://HOST/REPO.git#REF[#COMMIT][:SUBDIR]` (kaniko's form, cloned over HTTPS, or HTTP with
 * `GIT_PULL_METHOD=http`) and `https://HOST/REPO.git#REF[:SUBDIR]`, cloned with isomorphic-git (loaded only
 * when used). REF may be a branch, a tag, a full ref (`refs/pull/1/head`) or a commit sha.
 *
 * @module
 */
import { rm } from "node:fs/promises";
import { join, posix } from "node:path";
import { gitHttpClient } from "./_git_http.ts";
import { ContextError, describeError, redact } from "./errors.ts";
import type { ContextEnv, ContextFetchOptions, ContextSource, GitOptions } from "./types.ts";

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

interface Credentials {
  username: string;
  password: string;
}

const HASH = /^[0-9a-f]{40}$/i;

/**
 * Credentials for a repository URL: user info in the URL wins, then GIT_USERNAME/GIT_PASSWORD, then GIT_TOKEN
 * (sent as the user name with an empty password, as kaniko does, or as the password when GIT_USERNAME is set).
 *
 * @param url Repository URL.
 * @param env Environment.
 * @returns Credentials, or undefined.
 */
export function gitCredentials(url: URL, env: ContextEnv): Credentials | undefined {
  if (url.username || url.password) {
    return { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  }
  const token = env.GIT_TOKEN;
  if (token) {
    return env.GIT_USERNAME ? { username: env.GIT_USERNAME, password: token } : { username: token, password: "" };
  }
  if (env.GIT_USERNAME || env.GIT_PASSWORD) {
    return { username: env.GIT_USERNAME ?? "", password: env.GIT_PASSWORD ?? "" };
  }
  return undefined;
}

/**
 * Creates the source for a git repository. `fetch` clones into the destination (history is fetched only as
 * deep as needed), checks out the ref, clones submodules when `recurseSubmodules` is set, and removes `.git`.
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
  const env = options.env ?? {};
  const gitOptions = options.gitOptions ?? {};
  const description = redact(
    spec.url + (spec.ref ? `#${spec.ref}` : "") + (spec.commit ? `#${spec.commit}` : "") +
      (spec.subdir ? `:${spec.subdir}` : ""),
  );
  return {
    kind: "git",
    description,
    ...(spec.subdir ? { subDir: spec.subdir } : {}),
    async fetch(destDir: string, fetchOptions: ContextFetchOptions = {}): Promise<void> {
      const git = await import("isomorphic-git");
      const fs = await import("node:fs");
      let bytes = 0;
      const onProgress = fetchOptions.onProgress;
      const http = gitHttpClient({
        ...(gitOptions.insecureSkipTls ? { insecureSkipTls: true } : {}),
        ...(fetchOptions.signal ? { signal: fetchOptions.signal } : {}),
        onBytes: (n) => {
          bytes += n;
          onProgress?.({ bytes });
        },
      });
      const log = fetchOptions.logger;
      async function cloneInto(url: string, dir: string, ref: string | undefined, commit: string | undefined) {
        const u = new URL(url);
        const creds = gitCredentials(u, env);
        u.username = "";
        u.password = "";
        // name the repository in messages only for submodules (the top level is the source itself)
        const shown = url === spec.url ? "" : ` in submodule ${redact(url)}`;
        let triedAuth = false;
        const auth = {
          onAuth: () => {
            if (!creds || triedAuth) return { cancel: true };
            triedAuth = true;
            return creds;
          },
          onAuthFailure: () => ({ cancel: true }),
        };
        const common = { fs, http, dir, ...auth };
        await git.init({ fs, dir, defaultBranch: "main" });
        await git.addRemote({ fs, dir, remote: "origin", url: u.href });
        const want = ref;
        let target: string;
        try {
          if (want !== undefined && HASH.test(want)) {
            log?.debug("Fetching all branches to find a commit", { repo: redact(url), commit: want });
            await git.fetch({ ...common, remote: "origin", singleBranch: false, tags: true });
            target = want.toLowerCase();
          } else {
            const r = await git.fetch({
              ...common,
              remote: "origin",
              singleBranch: true,
              tags: false,
              ...(want !== undefined ? { ref: want } : {}),
              ...(commit === undefined ? { depth: 1 } : {}),
            });
            if (!r.fetchHead) throw new ContextError(description, `unknown ref "${want ?? "HEAD"}"${shown}`);
            target = commit?.toLowerCase() ?? r.fetchHead;
          }
        } catch (e) {
          throw translate(e, description, shown, want, creds !== undefined, fetchOptions.signal);
        }
        // peel annotated tags down to their commit
        let oid = target;
        try {
          for (let i = 0; i < 10; i++) {
            const o = await git.readObject({ fs, dir, oid, format: "parsed" });
            if (o.type === "commit") break;
            if (o.type === "tag") oid = (o.object as { object: string }).object;
            else throw new ContextError(description, `${want ?? oid} is a ${o.type}, not a commit`);
          }
        } catch (e) {
          if (e instanceof ContextError) throw e;
          throw new ContextError(description, `unknown commit "${target}"${shown}`, { cause: e });
        }
        await git.checkout({ fs, dir, ref: oid, force: true });
        if (gitOptions.recurseSubmodules) await submodules(url, dir, oid);
      }
      async function submodules(parentUrl: string, dir: string, commit: string): Promise<void> {
        let text: string;
        try {
          text = await fs.promises.readFile(join(dir, ".gitmodules"), "utf8");
        } catch {
          return;
        }
        for (const m of parseGitmodules(text)) {
          const parent = posix.dirname(m.path);
          const { tree } = await git.readTree({ fs, dir, oid: commit, ...(parent !== "." ? { filepath: parent } : {}) })
            .catch(() => ({ tree: [] as { path: string; type: string; oid: string }[] }));
          const entry = tree.find((t) => t.path === posix.basename(m.path) && t.type === "commit");
          if (!entry) continue;
          const subUrl = /^\.\.?\//.test(m.url) ? new URL(m.url, parentUrl.replace(/\/*$/, "/")).href : m.url;
          log?.debug("Cloning submodule", { path: m.path, url: redact(subUrl) });
          const subDir = join(dir, m.path);
          await fs.promises.mkdir(subDir, { recursive: true });
          await cloneInto(subUrl, subDir, entry.oid, undefined);
          await rm(join(subDir, ".git"), { recursive: true, force: true });
        }
      }
      const ref = spec.ref ?? gitOptions.branch;
      log?.info("Cloning git context", { repo: description });
      await cloneInto(spec.url, destDir, ref, spec.commit);
      await rm(join(destDir, ".git"), { recursive: true, force: true });
    },
  };
}

/**
 * Parses `.gitmodules` into `{path, url}` pairs.
 *
 * @param text File content.
 * @returns Submodules in file order.
 */
export function parseGitmodules(text: string): { name: string; path: string; url: string }[] {
  const out: { name: string; path: string; url: string }[] = [];
  let cur: { name: string; path?: string; url?: string } | undefined;
  const flush = () => {
    if (cur?.path && cur.url) out.push({ name: cur.name, path: cur.path, url: cur.url });
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const sec = /^\[submodule\s+"(.*)"\]$/.exec(line);
    if (sec) {
      flush();
      cur = { name: sec[1]! };
      continue;
    }
    const kv = /^(\w+)\s*=\s*(.*)$/.exec(line);
    if (kv && cur) {
      if (kv[1] === "path") cur.path = kv[2]!;
      if (kv[1] === "url") cur.url = kv[2]!;
    }
  }
  flush();
  return out;
}

function translate(
  e: unknown,
  description: string,
  repo: string, // "" or " in submodule URL"
  ref: string | undefined,
  hadCreds: boolean,
  signal: AbortSignal | undefined,
): unknown {
  if (signal?.aborted || e instanceof ContextError) return e;
  const err = e as { code?: string; data?: { statusCode?: number; statusMessage?: string }; message?: string };
  if (err.code === "UserCanceledError") {
    return new ContextError(
      description,
      hadCreds
        ? `access denied${repo}: the server rejected the credentials`
        : `access denied${repo}: credentials required (GIT_USERNAME/GIT_PASSWORD, GIT_TOKEN or user:token@ in the URL)`,
      { cause: e },
    );
  }
  if (err.code === "HttpError") {
    const status = err.data?.statusCode;
    if (status === 401 || status === 403) {
      return new ContextError(description, `access denied${repo} (HTTP ${status})`, { cause: e });
    }
    if (status === 404) return new ContextError(description, `no such repository${repo} (HTTP 404)`, { cause: e });
    return new ContextError(description, `HTTP ${status}${repo}`, { cause: e });
  }
  if (err.code === "NotFoundError") {
    return new ContextError(description, `unknown ref "${ref ?? "HEAD"}"${repo}`, { cause: e });
  }
  if (err.code === "SmartHttpError" || err.code === "ParseError") {
    return new ContextError(description, `not a git repository${repo}: ${describeError(e)}`, { cause: e });
  }
  return new ContextError(description, `cannot clone${repo}: ${describeError(e)}`, { cause: e });
}
