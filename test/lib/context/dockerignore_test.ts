/** .dockerignore: Docker's matching rules, exceptions, directory skipping and which file applies. */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { assertEquals, assertThrows } from "../../assert.ts";
import {
  createIgnoreMatcher,
  dockerignoreCandidates,
  loadDockerignore,
  parseDockerignore,
} from "../../../lib/context/dockerignore.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { tempDir } from "../../fixtures/temp.ts";

function check(patterns: string[], expect: Record<string, boolean>): void {
  const m = createIgnoreMatcher(patterns);
  const got = Object.fromEntries(Object.keys(expect).map((p) => [p, m.ignores(p)]));
  assertEquals(got, expect, patterns.join(" "));
}

Deno.test("parseDockerignore() reads Docker's format: comments, trimming, cleaning, leading slash, BOM, CRLF", () => {
  assertEquals(
    parseDockerignore("\uFEFF# comment\r\n  #not a comment  \r\n/build/\n./a/../b\n!  keep/me \n\n   \n/\n**/*.md\n"),
    ["#not a comment", "build", "b", "!keep/me", "/", "**/*.md"],
  );
});

Deno.test("createIgnoreMatcher() matches like Docker: *, ?, **, classes, escapes, parent directories", () => {
  check(["*.md"], { "README.md": true, "docs/a.md": false, "x.mdx": false });
  check(["**/*.md"], { "README.md": true, "docs/a.md": true, "a/b/c.md": true, "a.txt": false });
  check(["docs"], { docs: true, "docs/a/b.txt": true, "docsx": false, "a/docs": false });
  check(["a/**/b"], { "a/b": true, "a/x/b": true, "a/x/y/b/z": true, "a/bb": false });
  check(["**"], { x: true, "a/b": true });
  check(["**/foo"], { foo: true, "a/foo": true, "a/foo/bar": true, afoo: false });
  check(["foo**"], { foo: true, foobar: true, "foo/x": true, "xfoo": false });
  check(["?.txt"], { "a.txt": true, "ab.txt": false, "/.txt": false });
  check(["[a-c].txt"], { "b.txt": true, "d.txt": false });
  check(["\\*.txt"], { "*.txt": true, "a.txt": false });
  check(["a.(b)+"], { "a.(b)+": true, "aa(b)": false });
  check(["/root/file", "./dir/"], { "root/file": true, "dir/x": true, "x/root/file": false });
  check(["*/temp*"], { "a/temporary": true, "a/b/temp": false, temp: false });
});

Deno.test("createIgnoreMatcher() exceptions: ! re-includes, the last matching pattern wins", () => {
  check(["*.md", "!README.md"], { "README.md": false, "CHANGES.md": true });
  check(["docs", "!docs/keep.md"], { "docs/keep.md": false, "docs/other.md": true, docs: true });
  check(["a", "!a", "a/b"], { "a/x": false, "a/b/c": true, a: false });
  check(["!x", "x"], { x: true });
  check(["x", "!x", "x"], { x: true });
  check(["*", "!src", "src/gen"], { "lib/a": true, "src/a.go": false, "src/gen/x": true });
  assertThrows(() => createIgnoreMatcher(["!"]), KilnError, 'illegal exclusion pattern: "!"');
  assertThrows(() => createIgnoreMatcher(["[a"]), KilnError, "Invalid .dockerignore pattern");
  assertEquals(createIgnoreMatcher(["  ", "/a/", "!b"]).patterns, ["a", "!b"]);
});

Deno.test("createIgnoreMatcher().canSkipDir() skips only when no exception can re-include something inside", () => {
  const skip = (patterns: string[], dir: string) => createIgnoreMatcher(patterns).canSkipDir(dir);
  assertEquals(skip(["build"], "build"), true);
  assertEquals(skip(["build"], "src"), false);
  assertEquals(skip(["build", "!build/keep"], "build"), false);
  assertEquals(skip(["build", "!other/keep"], "build"), true);
  assertEquals(skip(["*", "!*/keep"], "x"), false);
  assertEquals(skip(["*", "!src"], "lib"), true);
  assertEquals(skip(["*", "!src"], "src"), false);
  assertEquals(skip(["a/b", "!a/b/c"], "a/b"), false);
  assertEquals(skip(["a", "!a/b/c"], "a/x"), true);
  assertEquals(skip(["**", "!**/keep"], "deep/dir"), false);
  assertEquals(skip(["node_modules", "!node_modules"], "node_modules"), false);
});

Deno.test("dockerignoreCandidates() and loadDockerignore(): <Dockerfile>.dockerignore wins over the context's", async () => {
  assertEquals(dockerignoreCandidates("/ctx/", "/ctx/Dockerfile"), [
    "/ctx/Dockerfile.dockerignore",
    "/ctx/.dockerignore",
  ]);
  assertEquals(dockerignoreCandidates("/"), ["/.dockerignore"]);
  const dir = tempDir("kiln-ignore-");
  try {
    mkdirSync(`${dir}/sub`);
    writeFileSync(`${dir}/.dockerignore`, "*.log\n");
    writeFileSync(`${dir}/sub/app.Dockerfile`, "FROM a\n");
    writeFileSync(`${dir}/sub/app.Dockerfile.dockerignore`, "secret\n!keep.log\n");
    const specific = await loadDockerignore(dir, { dockerfilePath: `${dir}/sub/app.Dockerfile` });
    assertEquals([specific.file, specific.matcher.ignores("secret"), specific.matcher.ignores("x.log")], [
      `${dir}/sub/app.Dockerfile.dockerignore`,
      true,
      false,
    ]);
    const ctx = await loadDockerignore(dir, { dockerfilePath: `${dir}/Dockerfile` });
    assertEquals([ctx.file, ctx.matcher.ignores("x.log"), ctx.matcher.ignores("secret")], [
      `${dir}/.dockerignore`,
      true,
      false,
    ]);
    rmSync(`${dir}/.dockerignore`);
    const none = await loadDockerignore(dir);
    assertEquals([none.file, none.matcher.ignores("anything")], [undefined, false]);
    mkdirSync(`${dir}/.dockerignore`);
    await loadDockerignore(dir).then(
      () => {
        throw new Error("expected an error");
      },
      (e) =>
        assertEquals(
          e instanceof KilnError && e.message === "Cannot read .dockerignore in the build context: is a directory",
          true,
        ),
    );
    rmSync(`${dir}/.dockerignore`, { recursive: true });
    writeFileSync(`${dir}/.dockerignore`, "!\n");
    await loadDockerignore(dir).then(
      () => {
        throw new Error("expected an error");
      },
      (e) => assertEquals(e instanceof KilnError && e.message.includes("illegal exclusion pattern"), true),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
