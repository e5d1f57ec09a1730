/**
 * Cloning one ref of an http(s) git repository with isomorphic-git (loaded only when used): the one git
 * implementation behind `--context git://…` (lib/context) and `ADD https://…/repo.git#ref` (lib/copy).
 *
 * @module
 */
import { rm } from "node:fs/promises";
import { join, posix } from "node:path";
import { describeError, KilnError, type Logger, redact } from "../util/mod.ts";
import { gitHttpClient } from "./_http.ts";

/** Environment variables a clone reads credentials from (GIT_USERNAME, GIT_PASSWORD, GIT_TOKEN). */
export type GitEnv = Readonly<Record<string, string | undefined>>;

/** Progress of a clone. */
export interface GitProgress {
  /** Bytes received so far. */
  bytes: number;
}

/** A user name and password (or token) for a repository. */
export interface GitCredentials {
  /** User name (the token itself when only GIT_TOKEN is set). */
  username: string;
  /** Password or token. */
  password: string;
}

const HASH = /^[0-9a-f]{40}$/i;
const SHORT_HASH = /^[0-9a-f]{7,39}$/i;

/**
 * Credentials for a repository URL: user info in the URL wins, then GIT_USERNAME/GIT_PASSWORD, then GIT_TOKEN
 * (sent as the user name with an empty password, as kaniko does, or as the password when GIT_USERNAME is set).
 *
 * @param url Repository URL.
 * @param env Environment.
 * @returns Credentials, or undefined.
 */
export function gitCredentials(url: URL, env: GitEnv): GitCredentials | undefined {
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

/** Options for {@linkcode cloneGitRef}. */
export interface CloneGitRefOptions {
  /** Branch, tag, full ref (`refs/pull/1/head`) or commit sha (40 hex; a 7–39 hex prefix when no ref has that name). */
  ref?: string;
  /** Commit to check out after fetching `ref` (kaniko's `#REF#COMMIT`). */
  commit?: string;
  /** Keep `.git` in `destDir` (ADD `--keep-git-dir`); by default it is removed, as for contexts. */
  keepGitDir?: boolean;
  /** Also clone submodules, recursively (their `.git` is always removed). */
  recurseSubmodules?: boolean;
  /** Do not verify TLS certificates. */
  insecureSkipTls?: boolean;
  /** GIT_USERNAME, GIT_PASSWORD, GIT_TOKEN (credentials in the URL win). */
  env?: GitEnv;
  /** Cancels the clone. */
  signal?: AbortSignal;
  /** Debug messages. */
  logger?: Logger;
  /** Called as bytes arrive. */
  onProgress?: (progress: GitProgress) => void;
}

/**
 * A git repository could not be cloned: `reason` is one line (credentials redacted), e.g. `access denied (HTTP 401)`
 * or `unknown ref "v9"`; the message is `Cannot clone URL#REF: reason`.
 */
export class GitCloneError extends KilnError {
  /** The repository (and ref), credentials redacted. */
  readonly repo: string;
  /** The cause, one line. */
  readonly reason: string;
  /**
   * Creates the error.
   *
   * @param repo Repository URL and ref, redacted.
   * @param reason What went wrong.
   * @param options Underlying cause.
   */
  constructor(repo: string, reason: string, options: { cause?: unknown } = {}) {
    super(`Cannot clone ${repo}: ${reason}`, options);
    this.name = "GitCloneError";
    this.repo = repo;
    this.reason = reason;
  }
}

/**
 * Clones one ref of an http(s) git repository into `destDir` (which must exist and be empty) and checks it out:
 * only that ref is fetched, with depth 1 when possible (a commit sha fetches the branches and tags); annotated tags
 * are peeled to their commit; submodules are cloned when `recurseSubmodules` is set (relative URLs resolved against
 * the parent's); `.git` is removed unless `keepGitDir`. The one git implementation behind `--context git://…` and
 * `ADD https://…/repo.git#ref`.
 *
 * @param url Repository URL (http or https), possibly with `user:token@`.
 * @param destDir Empty directory to check out into.
 * @param options Ref, credentials, TLS, cancellation.
 * @returns The commit checked out.
 * @throws {GitCloneError} For anything the user can fix (access denied, unknown ref, not a repository).
 *
 * @example Usage
 * ```ts ignore
 * import { cloneGitRef } from "./clone.ts";
 * const { commit } = await cloneGitRef("https://github.com/org/repo.git", "/tmp/checkout", {
 *   ref: "v1.2",
 *   env: { GIT_TOKEN: "ghp_..." },
 *   keepGitDir: true,
 * });
 * ```
 */
export async function cloneGitRef(
  url: string,
  destDir: string,
  options: CloneGitRefOptions = {},
): Promise<{ commit: string }> {
  const env = options.env ?? {};
  const description = redact(
    url + (options.ref ? `#${options.ref}` : "") + (options.commit ? `#${options.commit}` : ""),
  );
  if (!/^https?:\/\//i.test(url)) {
    throw new GitCloneError(description, "only http(s) git URLs are supported (no ssh)");
  }
  const git = await import("isomorphic-git");
  const fs = await import("node:fs");
  let bytes = 0;
  const onProgress = options.onProgress;
  const http = gitHttpClient({
    ...(options.insecureSkipTls ? { insecureSkipTls: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onBytes: (n) => {
      bytes += n;
      onProgress?.({ bytes });
    },
  });
  const log = options.logger;
  async function cloneInto(
    repoUrl: string,
    dir: string,
    ref: string | undefined,
    commit: string | undefined,
  ): Promise<string> {
    const u = new URL(repoUrl);
    const creds = gitCredentials(u, env);
    u.username = "";
    u.password = "";
    // name the repository in messages only for submodules (the top level is the source itself)
    const shown = repoUrl === url ? "" : ` in submodule ${redact(repoUrl)}`;
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
    const fetchAll = () => git.fetch({ ...common, remote: "origin", singleBranch: false, tags: true });
    let target: string;
    try {
      if (want !== undefined && HASH.test(want)) {
        log?.debug("Fetching all branches to find a commit", { repo: redact(repoUrl), commit: want });
        await fetchAll();
        target = want.toLowerCase();
      } else {
        const prefix = want !== undefined && commit === undefined && SHORT_HASH.test(want);
        let head: string | null | undefined;
        try {
          head = (await git.fetch({
            ...common,
            remote: "origin",
            singleBranch: true,
            tags: false,
            ...(want !== undefined ? { ref: want } : {}),
            ...(commit === undefined ? { depth: 1 } : {}),
          })).fetchHead;
        } catch (e) {
          if (!prefix || (e as { code?: string }).code !== "NotFoundError") throw e;
        }
        if (head) target = commit?.toLowerCase() ?? head;
        else if (prefix) {
          // no ref of that name: an abbreviated commit sha
          log?.debug("Fetching all branches to find a commit", { repo: redact(repoUrl), commit: want });
          await fetchAll();
          target = await git.expandOid({ fs, dir, oid: want.toLowerCase() });
        } else throw new GitCloneError(description, `unknown ref "${want ?? "HEAD"}"${shown}`);
      }
    } catch (e) {
      throw translate(e, description, shown, want, creds !== undefined, options.signal);
    }
    // peel annotated tags down to their commit
    let oid = target;
    try {
      for (let i = 0; i < 10; i++) {
        const o = await git.readObject({ fs, dir, oid, format: "parsed" });
        if (o.type === "commit") break;
        if (o.type === "tag") oid = (o.object as { object: string }).object;
        else throw new GitCloneError(description, `${want ?? oid} is a ${o.type}, not a commit`);
      }
    } catch (e) {
      if (e instanceof GitCloneError) throw e;
      throw new GitCloneError(description, `unknown commit "${target}"${shown}`, { cause: e });
    }
    await git.checkout({ fs, dir, ref: oid, force: true });
    await normalizeModes(dir);
    if (options.recurseSubmodules) await submodules(repoUrl, dir, oid);
    return oid;
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
  const commit = await cloneInto(url, destDir, options.ref, options.commit);
  if (!options.keepGitDir) await rm(join(destDir, ".git"), { recursive: true, force: true });
  return { commit };
}

/**
 * Gives a checkout git's modes whatever the process umask: files 0644, or 0755 when git records them executable
 * (the checkout sets the owner's x bit for those), directories 0755, as `git clone` under umask 022 and BuildKit.
 */
async function normalizeModes(dir: string): Promise<void> {
  const { lstat, chmod, readdir } = await import("node:fs/promises");
  await chmod(dir, 0o755);
  const walk = async (d: string): Promise<void> => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) {
        if (d === dir && ent.name === ".git") continue;
        await chmod(p, 0o755);
        await walk(p);
      } else if (ent.isFile()) {
        await chmod(p, ((await lstat(p)).mode & 0o100) !== 0 ? 0o755 : 0o644);
      }
    }
  };
  await walk(dir);
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
  if (signal?.aborted || e instanceof GitCloneError) return e;
  const err = e as { code?: string; data?: { statusCode?: number; statusMessage?: string }; message?: string };
  if (err.code === "UserCanceledError") {
    return new GitCloneError(
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
      return new GitCloneError(description, `access denied${repo} (HTTP ${status})`, { cause: e });
    }
    if (status === 404) return new GitCloneError(description, `no such repository${repo} (HTTP 404)`, { cause: e });
    return new GitCloneError(description, `HTTP ${status}${repo}`, { cause: e });
  }
  if (err.code === "NotFoundError") {
    return new GitCloneError(description, `unknown ref "${ref ?? "HEAD"}"${repo}`, { cause: e });
  }
  if (err.code === "SmartHttpError" || err.code === "ParseError") {
    return new GitCloneError(description, `not a git repository${repo}: ${describeError(e)}`, { cause: e });
  }
  return new GitCloneError(description, `cannot clone${repo}: ${describeError(e)}`, { cause: e });
}
