/**
 * build() with `ADD https://…/repo.git#ref` from a private repository: `BuildOptions.gitEnv` carries
 * GIT_USERNAME/GIT_PASSWORD to lib/context's cloneGitRef (the fixture is a real `git http-backend`).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { KilnError } from "../../../lib/util/errors.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { assertEquals, assertRejects } from "../../assert.ts";
import { buildToLayout, makeContext, unpackLayout } from "./_helpers.ts";

Deno.test({
  name: "build() ADDs a private git repository with GIT_USERNAME/GIT_PASSWORD from gitEnv",
  ignore: skipUnless("build ADD git", "git", "umoci", "root"),
  async fn() {
    const { git, startGitServer } = await import("../../fixtures/git_server.ts");
    const ctx = makeContext({});
    const src = `${ctx}-src`;
    mkdirSync(`${src}/sub`, { recursive: true });
    git(src, "init", "-q", "-b", "main");
    writeFileSync(`${src}/sub/app.txt`, "from git\n");
    git(src, "add", ".");
    git(src, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "one");
    mkdirSync(`${ctx}-repos/private`, { recursive: true });
    git(ctx, "clone", "-q", "--bare", src, `${ctx}-repos/private/app.git`);
    const server = await startGitServer({ projectRoot: `${ctx}-repos` });
    try {
      const df = `FROM scratch\nADD ${server.url}/private/app.git#main:sub /app/\n`;
      const built = await buildToLayout(ctx, df, { gitEnv: { GIT_USERNAME: "kiln", GIT_PASSWORD: "s3cret" } });
      const { files } = unpackLayout(built.layout);
      assertEquals(files["/app/app.txt"]?.type, "f");
      assertEquals(Object.keys(files).filter((p) => p.includes(".git")), []);
      await assertRejects(() => buildToLayout(ctx, df), KilnError, "Dockerfile:2: ADD: cannot clone");
    } finally {
      await server.close();
      for (const d of [ctx, `${ctx}-src`, `${ctx}-repos`]) rmSync(d, { recursive: true, force: true });
    }
  },
});
