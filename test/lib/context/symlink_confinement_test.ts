/**
 * The Dockerfile and `.dockerignore` of a context are read like COPY sources: a symlink in the context is followed
 * only inside it (as if the context were `/`), never to a host file (issue 11, defect 1).
 */
import { spawn } from "node:child_process";
import { mkdir, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { loadDockerignore, resolveDockerfile } from "../../../lib/context/mod.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { REPO_ROOT, skipUnless } from "../../fixtures/tools.ts";
import { tarGz } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

Deno.test("resolveDockerfile() follows a context's symlinks only inside the context", async () => {
  const tmp = tempDir("kiln-dfsym-");
  const ctx = join(tmp, "ctx");
  const work = join(tmp, "work");
  try {
    await mkdir(join(ctx, "real"), { recursive: true });
    await writeFile(join(tmp, "host.Dockerfile"), "FROM host\n");
    await writeFile(join(ctx, "real/Dockerfile"), "FROM ctx\n");
    await writeFile(join(ctx, "real/Dockerfile.dockerignore"), "x\n");
    await symlink("/proc/self/environ", join(ctx, "Dockerfile"));
    await symlink(join(tmp, "host.Dockerfile"), join(ctx, "Host.Dockerfile"));
    await symlink("/real/Dockerfile", join(ctx, "Abs.Dockerfile"));
    await symlink("../../../../../../real", join(ctx, "up"));
    // Out of the context: no such file, and the message names context paths, not host ones.
    for (const spec of ["Dockerfile", "Host.Dockerfile"]) {
      const e = await assertRejects(() => resolveDockerfile(spec, ctx, { workDir: work }), KilnError);
      assertEquals(e.message, `Cannot find Dockerfile "${spec}": no such file (tried ${spec} in the build context)`);
    }
    // An absolute target restarts at the context root; `..` stops there.
    for (const spec of ["Abs.Dockerfile", "up/Dockerfile", join(ctx, "Abs.Dockerfile")]) {
      const df = await resolveDockerfile(spec, ctx, { workDir: work });
      assertEquals([df.path, df.ignoreFile], [join(ctx, "real/Dockerfile"), join(ctx, "real/Dockerfile.dockerignore")]);
    }
    // A path outside the context is the user's own choice.
    const outside = await resolveDockerfile("../host.Dockerfile", ctx, { workDir: work });
    assertEquals(outside.path, join(tmp, "host.Dockerfile"));
    assertEquals(await readdir(work).catch(() => []), []);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

Deno.test("loadDockerignore() follows a context's symlinks only inside the context", async () => {
  const tmp = tempDir("kiln-ignsym-");
  const ctx = join(tmp, "ctx");
  try {
    await mkdir(join(ctx, "etc"), { recursive: true });
    await writeFile(join(tmp, "host-ignore"), "host-pattern\n");
    await symlink(join(tmp, "host-ignore"), join(ctx, ".dockerignore"));
    assertEquals((await loadDockerignore(ctx)).file, undefined);
    await rm(join(ctx, ".dockerignore"));
    await symlink("/etc/ignore", join(ctx, ".dockerignore"));
    await writeFile(join(ctx, "etc/ignore"), "in-context\n");
    const got = await loadDockerignore(ctx);
    assertEquals([got.file, got.matcher.patterns], [join(ctx, "etc/ignore"), ["in-context"]]);
    // <Dockerfile>.dockerignore likewise.
    await writeFile(join(ctx, "Dockerfile"), "FROM a\n");
    await symlink(join(tmp, "host-ignore"), join(ctx, "Dockerfile.dockerignore"));
    assertEquals(
      (await loadDockerignore(ctx, { dockerfilePath: join(ctx, "Dockerfile") })).file,
      join(ctx, "etc/ignore"),
    );
    // A loop is a clean error that names the file in the context.
    await rm(join(ctx, ".dockerignore"));
    await symlink(".dockerignore", join(ctx, ".dockerignore"));
    const e = await assertRejects(() => loadDockerignore(ctx), KilnError);
    assertEquals(e.message, "Cannot read .dockerignore in the build context: too many levels of symbolic links");
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

const ignore = skipUnless("kiln build of a tar:// context", "tar");

/** Runs `kiln build` in a child process (so /proc/self/environ is its own) with `SECRET_VALUE=canary`. */
function kilnBuild(cwd: string, args: string[], canary: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      join(REPO_ROOT, "node_modules/.bin/deno"),
      ["run", "-A", join(REPO_ROOT, "cli/main.ts"), "build", "--log-format=text", ...args],
      { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/root", SECRET_VALUE: canary } },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

Deno.test({
  name: "kiln build of a tar:// context whose Dockerfile or .dockerignore links to /proc/self/environ leaks nothing",
  ignore,
  async fn() {
    const tmp = tempDir("kiln-dfsym-e2e-");
    try {
      const work = join(tmp, "work");
      const ctx = join(tmp, "ctx");
      await mkdir(ctx);
      await symlink("/proc/self/environ", join(ctx, "Dockerfile"));
      tarGz(ctx, join(tmp, "ctx.tar.gz"));
      const canary = "KILN_CANARY_7f3a9c";
      let r = await kilnBuild(tmp, [`--context=tar://${tmp}/ctx.tar.gz`, "--no-push", `--work-dir=${work}`], canary);
      assert(!r.out.includes(canary), r.out);
      assertEquals(r.code, 2, r.out);
      // kaniko also tries the current directory.
      assertEquals(
        r.out.trim().split("\n").at(-1),
        `kiln: Cannot find Dockerfile "Dockerfile": no such file (tried Dockerfile in the build context, ${tmp}/Dockerfile)`,
      );
      assertEquals(await readdir(work), []);
      // A .dockerignore link is not read from the host either: read, the "[" would be an invalid pattern, echoed.
      const ctx2 = join(tmp, "ctx2");
      await mkdir(ctx2);
      await writeFile(join(ctx2, "Dockerfile"), "FROM scratch\nCOPY a /a\n");
      await writeFile(join(ctx2, "a"), "a\n");
      await symlink("/proc/self/environ", join(ctx2, ".dockerignore"));
      tarGz(ctx2, join(tmp, "ctx2.tar.gz"));
      r = await kilnBuild(
        tmp,
        [`--context=tar://${tmp}/ctx2.tar.gz`, "--no-push", `--work-dir=${work}`, `--tar-path=${tmp}/out.tar`],
        `[${canary}`,
      );
      assert(!r.out.includes(canary), r.out);
      assertEquals(r.code, 0, r.out);
      assertEquals(await readdir(work), []);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
});
