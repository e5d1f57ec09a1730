/**
 * Shared helpers of the context tests: the reference context tree, a tree signature to compare unpacked
 * contexts, and the git repositories served by the git fixture.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { git } from "../../fixtures/git_server.ts";

/** Writes the reference context (the same content every source serves) into `dir`. */
export async function writeContextTree(dir: string): Promise<void> {
  await mkdir(join(dir, "app/nested/deeper"), { recursive: true });
  await writeFile(join(dir, "Dockerfile"), "FROM scratch\nCOPY app /app\nCOPY hello.txt /\n");
  await writeFile(join(dir, "hello.txt"), "hello from the context\n");
  await writeFile(join(dir, "app/run.sh"), "#!/bin/sh\necho run\n");
  await chmod(join(dir, "app/run.sh"), 0o755);
  await writeFile(join(dir, "app/nested/deeper/data.bin"), new Uint8Array(70_000).map((_, i) => (i * 31) % 251));
  await writeFile(join(dir, "app/nested/a b.txt"), "space in name\n");
  await symlink("run.sh", join(dir, "app/link.sh"));
}

/**
 * A sorted description of a tree: type, executable bit, content digest, link target per path.
 * `.git` is left out.
 */
export async function treeSignature(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      if (p === ".git") continue;
      const st = await lstat(join(dir, p));
      if (st.isDirectory()) {
        out.push(`d ${p}`);
        await walk(p);
      } else if (st.isSymbolicLink()) {
        out.push(`l ${p} -> ${await readlink(join(dir, p))}`);
      } else {
        const h = createHash("sha256").update(await readFile(join(dir, p))).digest("hex").slice(0, 16);
        out.push(`f ${p} ${st.mode & 0o100 ? "x" : "-"} ${h}`);
      }
    }
  }
  await walk("");
  return out;
}

/** Creates a gzip tar of `dir` with GNU tar (deterministic order, owner 0). */
export function tarGz(dir: string, out: string, compress: "gzip" | "zstd" | "none" = "gzip"): void {
  const c = compress === "gzip" ? ["-z"] : compress === "zstd" ? ["--zstd"] : [];
  const r = spawnSync("tar", ["-c", ...c, "-f", out, "--sort=name", "--owner=0", "--group=0", "-C", dir, "."], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
}

/** Names and commits of the repositories {@linkcode makeRepos} creates. */
export interface Repos {
  /** Commit of `repo.git`'s first commit (tagged v1). */
  firstCommit: string;
  /** Commit at `refs/pull/1/head` (not on any branch). */
  pullCommit: string;
}

/**
 * Creates bare repositories under `root`: `ctx.git` (main = the reference context), `private/ctx.git`
 * (the same, needs credentials), `sub.git`, and `repo.git` (branches main/feature, tags v1 (annotated) and
 * v1-light, `refs/pull/1/head`, a submodule `vendor/sub` -> ../sub.git, a subdirectory `app/`).
 */
export async function makeRepos(root: string, scratch: string): Promise<Repos> {
  // ctx
  const ctx = join(scratch, "ctx");
  await mkdir(ctx, { recursive: true });
  await writeContextTree(ctx);
  git(ctx, "init", "-q", "-b", "main");
  git(ctx, "add", "-A");
  git(ctx, "commit", "-q", "-m", "context");
  git(scratch, "clone", "-q", "--bare", ctx, join(root, "ctx.git"));
  await mkdir(join(root, "private"), { recursive: true });
  git(scratch, "clone", "-q", "--bare", ctx, join(root, "private/ctx.git"));
  // sub
  const sub = join(scratch, "sub");
  await mkdir(sub);
  await writeFile(join(sub, "sub.txt"), "submodule content\n");
  git(sub, "init", "-q", "-b", "main");
  git(sub, "add", "-A");
  git(sub, "commit", "-q", "-m", "sub");
  git(scratch, "clone", "-q", "--bare", sub, join(root, "sub.git"));
  // repo
  const repo = join(scratch, "repo");
  await mkdir(join(repo, "app"), { recursive: true });
  await writeFile(join(repo, "version.txt"), "v1\n");
  await writeFile(join(repo, "app/Dockerfile"), "FROM scratch\n");
  git(repo, "init", "-q", "-b", "main");
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "first");
  const firstCommit = git(repo, "rev-parse", "HEAD");
  git(repo, "tag", "-a", "v1", "-m", "version 1");
  git(repo, "tag", "v1-light");
  await writeFile(join(repo, "version.txt"), "main\n");
  git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", join(root, "sub.git"), "vendor/sub");
  // the submodule URL above was resolved against the local path; make it relative for the served copy
  git(repo, "config", "-f", ".gitmodules", "submodule.vendor/sub.url", "../sub.git");
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "main with submodule");
  git(repo, "checkout", "-q", "-b", "feature");
  await writeFile(join(repo, "feature.txt"), "feature\n");
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "feature");
  git(repo, "checkout", "-q", "main");
  git(repo, "checkout", "-q", "--detach", firstCommit);
  await writeFile(join(repo, "pull.txt"), "pull request\n");
  git(repo, "add", "pull.txt");
  git(repo, "commit", "-q", "-m", "pull");
  const pullCommit = git(repo, "rev-parse", "HEAD");
  git(repo, "checkout", "-q", "main");
  git(scratch, "clone", "-q", "--bare", repo, join(root, "repo.git"));
  git(join(root, "repo.git"), "update-ref", "refs/pull/1/head", pullCommit);
  return { firstCommit, pullCommit };
}
