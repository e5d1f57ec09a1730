import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { ContextError, resolveContext } from "../../../lib/context/mod.ts";
import { startGitServer } from "../../fixtures/git_server.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { makeTestCerts } from "../../fixtures/certs.ts";
import { makeRepos, type Repos, treeSignature, writeContextTree } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("git contexts", "git");

interface SharedRepos {
  tmp: string;
  repos: Repos;
  expected: string[];
}

// The repositories are made once per file (dozens of git commands); each test starts its own server.
let shared: Promise<SharedRepos> | undefined;

function sharedRepos(): Promise<SharedRepos> {
  return shared ??= (async () => {
    const tmp = tempDir("kiln-gitctx-", { scope: "file" });
    await mkdir(join(tmp, "root"));
    await mkdir(join(tmp, "scratch"));
    await mkdir(join(tmp, "ref"));
    await writeContextTree(join(tmp, "ref"));
    const repos = await makeRepos(join(tmp, "root"), join(tmp, "scratch"));
    return { tmp, repos, expected: await treeSignature(join(tmp, "ref")) };
  })();
}

async function setup() {
  const { tmp, repos, expected } = await sharedRepos();
  const server = await startGitServer({ projectRoot: join(tmp, "root") });
  const work = await mkdtemp(join(tmp, "work-"));
  return {
    tmp,
    repos,
    server,
    work,
    expected,
    async close() {
      await server.close();
      await rm(work, { recursive: true, force: true });
    },
  };
}

async function files(dir: string): Promise<string[]> {
  return (await treeSignature(dir)).filter((l) => l.startsWith("f ")).map((l) => l.split(" ")[1]!);
}

Deno.test(
  { name: "resolveContext() clones git repositories at branches, tags, refs and commits", ignore },
  async () => {
    const t = await setup();
    try {
      const repo = `${t.server.url}/repo.git`;
      const cases: [string, string[]][] = [
        [repo, [".gitmodules", "app/Dockerfile", "version.txt"]],
        [`${repo}#main`, [".gitmodules", "app/Dockerfile", "version.txt"]],
        [`${repo}#feature`, [".gitmodules", "app/Dockerfile", "feature.txt", "version.txt"]],
        [`${repo}#refs/heads/feature`, [".gitmodules", "app/Dockerfile", "feature.txt", "version.txt"]],
        [`${repo}#v1`, ["app/Dockerfile", "version.txt"]],
        [`${repo}#refs/tags/v1-light`, ["app/Dockerfile", "version.txt"]],
        [`${repo}#refs/pull/1/head`, ["app/Dockerfile", "pull.txt", "version.txt"]],
        [`${repo}#${t.repos.firstCommit}`, ["app/Dockerfile", "version.txt"]],
        [`${repo}#refs/pull/1/head#${t.repos.pullCommit}`, ["app/Dockerfile", "pull.txt", "version.txt"]],
        [`git://${t.server.host}/git/repo.git#v1:app`, ["Dockerfile"]],
      ];
      for (const [spec, want] of cases) {
        const ctx = await resolveContext(spec, { workDir: t.work, env: { GIT_PULL_METHOD: "http" } });
        try {
          assertEquals(await files(ctx.dir), want, spec);
          assertEquals(ctx.kind, "git");
          assert(ctx.fetched);
        } finally {
          await ctx.cleanup();
        }
      }
      assertEquals(await readdir(t.work), []);
    } finally {
      await t.close();
    }
  },
);

Deno.test({ name: "resolveContext() clones the reference context tree exactly", ignore }, async () => {
  const t = await setup();
  try {
    const ctx = await resolveContext(`git://${t.server.host}/git/ctx.git#main`, {
      workDir: t.work,
      env: { GIT_PULL_METHOD: "http" },
    });
    assertEquals(await treeSignature(ctx.dir), t.expected);
    await ctx.cleanup();
  } finally {
    await t.close();
  }
});

Deno.test({ name: "resolveContext() clones submodules with --git recurse-submodules=true", ignore }, async () => {
  const t = await setup();
  try {
    const spec = `${t.server.url}/repo.git#main`;
    const without = await resolveContext(spec, { workDir: t.work });
    assertEquals(await readdir(join(without.dir, "vendor/sub")), []);
    await without.cleanup();
    const ctx = await resolveContext(spec, { workDir: t.work, gitOptions: { recurseSubmodules: true } });
    assertEquals(await readFile(join(ctx.dir, "vendor/sub/sub.txt"), "utf8"), "submodule content\n");
    assertEquals((await readdir(ctx.dir)).includes(".git"), false);
    await ctx.cleanup();
  } finally {
    await t.close();
  }
});

Deno.test({ name: "resolveContext() uses --git branch= when the URL has no ref", ignore }, async () => {
  const t = await setup();
  try {
    const ctx = await resolveContext(`${t.server.url}/repo.git`, {
      workDir: t.work,
      gitOptions: { branch: "feature", singleBranch: true },
    });
    assert((await files(ctx.dir)).includes("feature.txt"));
    await ctx.cleanup();
  } finally {
    await t.close();
  }
});

Deno.test({ name: "resolveContext() authenticates to private repositories", ignore }, async () => {
  const t = await setup();
  try {
    const url = `${t.server.url}/private/ctx.git`;
    const withUrlCreds = url.replace("http://", "http://kiln:s3cret@");
    for (
      const [spec, env] of [
        [url, { GIT_USERNAME: "kiln", GIT_PASSWORD: "s3cret" }],
        [url, { GIT_USERNAME: "kiln", GIT_TOKEN: "s3cret" }],
        [withUrlCreds, {}],
      ] as const
    ) {
      const ctx = await resolveContext(spec, { workDir: t.work, env });
      assertEquals(await treeSignature(ctx.dir), t.expected);
      assertEquals(ctx.source.includes("s3cret"), false);
      await ctx.cleanup();
    }
  } finally {
    await t.close();
  }
});

Deno.test({ name: "resolveContext() reports git errors in one line and leaves nothing behind", ignore }, async () => {
  const t = await setup();
  try {
    const repo = `${t.server.url}/repo.git`;
    const priv = `${t.server.url}/private/ctx.git`;
    const cases: [string, Record<string, string>, string][] = [
      [`${repo}#no-such-branch`, {}, 'unknown ref "no-such-branch"'],
      [`${repo}#${"0".repeat(40)}`, {}, `unknown commit "${"0".repeat(40)}"`],
      [`${t.server.url}/missing.git`, {}, "no such repository (HTTP 404)"],
      [priv, {}, "access denied: credentials required"],
      [priv, { GIT_USERNAME: "kiln", GIT_PASSWORD: "wrong" }, "access denied: the server rejected the credentials"],
      [`${repo}#main:no/such/dir`, {}, 'context sub-path "no/such/dir" is not a directory'],
      ["http://127.0.0.1:1/r.git", {}, "cannot clone"],
    ];
    for (const [spec, env, msg] of cases) {
      const e = await assertRejects(() => resolveContext(spec, { workDir: t.work, env }), ContextError, msg);
      assertEquals(e.message.includes("\n"), false);
      assertEquals(e.message.includes("wrong"), false);
    }
    assertEquals(await readdir(t.work), []);
  } finally {
    await t.close();
  }
});

Deno.test({ name: "resolveContext() clones over HTTPS and honours insecure-skip-tls", ignore }, async () => {
  const t = await setup();
  const certs = makeTestCerts();
  const tls = await startGitServer({
    projectRoot: join(t.tmp, "root"),
    tls: { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile },
  });
  try {
    // git:// clones over https by default
    const spec = `git://${tls.url.replace("https://", "")}/ctx.git#main`;
    await assertRejects(() => resolveContext(spec, { workDir: t.work }), ContextError, "cannot clone");
    const ctx = await resolveContext(spec, { workDir: t.work, gitOptions: { insecureSkipTls: true } });
    assertEquals(await treeSignature(ctx.dir), t.expected);
    await ctx.cleanup();
    assertEquals(await readdir(t.work), []);
  } finally {
    await tls.close();
    await rm(certs.dir, { recursive: true, force: true });
    await t.close();
  }
});

Deno.test({ name: "git contexts: remove the shared repositories", ignore }, async () => {
  if (shared) await rm((await shared).tmp, { recursive: true, force: true });
});
