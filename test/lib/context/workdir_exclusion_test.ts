/**
 * kiln's work directory inside the context is not part of it (issue 11, defect 5): `COPY . /c/` with
 * `--work-dir` in the context would otherwise copy the build's own rootfs into itself until ENAMETOOLONG.
 */
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assert, assertEquals } from "../../assert.ts";
import { loadDockerignore } from "../../../lib/context/mod.ts";
import { copyInto } from "../../../lib/copy/mod.ts";
import { tempDir } from "../../fixtures/temp.ts";

function ignored(m: { ignores(p: string): boolean }, paths: string[]): string[] {
  return paths.filter((p) => m.ignores(p));
}

Deno.test("loadDockerignore({ workDir }) leaves kiln's work dir out of the context, whatever .dockerignore says", async () => {
  const base = tempDir("kiln-workdir-ctx-");
  try {
    const ctx = join(base, "ctx");
    mkdirSync(join(ctx, "sub/.work"), { recursive: true });
    writeFileSync(join(ctx, "a"), "a");
    const paths = ["a", "sub", "sub/.work", "sub/.work/kiln-build-1/x", "sub/.workx", "kiln-build-1", "kiln-run-cache"];
    // Strictly inside: that directory, even against a `!` exception; reached through a symlinked context path too.
    writeFileSync(join(ctx, ".dockerignore"), "*.log\n!sub/.work\n");
    symlinkSync(ctx, join(base, "link"));
    for (const c of [ctx, join(base, "link")]) {
      const { matcher } = await loadDockerignore(c, { workDir: join(ctx, "sub/.work") });
      assertEquals(ignored(matcher, paths), ["sub/.work", "sub/.work/kiln-build-1/x"]);
      assert(matcher.canSkipDir("sub/.work") && !matcher.canSkipDir("sub"));
      assert(matcher.ignores("x.log"));
    }
    // The context itself: the entries kiln makes there.
    rmSync(join(ctx, ".dockerignore"));
    const same = await loadDockerignore(ctx, { workDir: ctx });
    assertEquals(ignored(same.matcher, paths), ["kiln-build-1", "kiln-run-cache"]);
    // Outside (or containing the context, as the system temp dir does): nothing, and no patterns.
    for (const w of [join(base, "work"), base, tmpdir()]) {
      assertEquals((await loadDockerignore(ctx, { workDir: w })).matcher.patterns, []);
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

Deno.test("COPY . /c/ with the work dir inside the context copies the context once", async () => {
  const base = tempDir("kiln-workdir-copy-");
  try {
    const ctx = join(base, "ctx");
    const workRoot = join(ctx, ".work");
    const rootfs = join(workRoot, "kiln-build-abc123/stage0/rootfs");
    mkdirSync(rootfs, { recursive: true });
    mkdirSync(join(ctx, "src"));
    writeFileSync(join(ctx, "Dockerfile"), "FROM scratch\nCOPY . /c/\n");
    writeFileSync(join(ctx, "src/main.c"), "int main(){}\n");
    const { matcher } = await loadDockerignore(ctx, { workDir: workRoot });
    await copyInto({
      srcRoot: ctx,
      sources: ["."],
      dest: "/c/",
      destRoot: rootfs,
      ignore: { matches: (p) => matcher.ignores(p), canSkipDir: (p) => matcher.canSkipDir(p) },
    });
    assertEquals(readdirSync(join(rootfs, "c")).sort(), ["Dockerfile", "src"]);
    assertEquals(readdirSync(join(rootfs, "c/src")), ["main.c"]);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
