import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { cloneGitRef, GitCloneError, gitCredentials, parseGitmodules } from "../../../lib/git/mod.ts";
import * as context from "../../../lib/context/mod.ts";
import * as contextGit from "../../../lib/context/git.ts";
import { tempDir } from "../../fixtures/temp.ts";

Deno.test("gitCredentials(): URL user info, then GIT_USERNAME/GIT_PASSWORD, then GIT_TOKEN", () => {
  const u = (s: string) => new URL(s);
  assertEquals(gitCredentials(u("https://a:b%40c@h/r.git"), { GIT_TOKEN: "t" }), { username: "a", password: "b@c" });
  assertEquals(gitCredentials(u("https://h/r.git"), { GIT_TOKEN: "t" }), { username: "t", password: "" });
  assertEquals(gitCredentials(u("https://h/r.git"), { GIT_TOKEN: "t", GIT_USERNAME: "me" }), {
    username: "me",
    password: "t",
  });
  assertEquals(gitCredentials(u("https://h/r.git"), { GIT_PASSWORD: "p" }), { username: "", password: "p" });
  assertEquals(gitCredentials(u("https://h/r.git"), {}), undefined);
});

Deno.test("parseGitmodules() reads path and url of each submodule", () => {
  const text = '[submodule "a"]\n\tpath = lib/a\n\turl = ../a.git\n[submodule "b"]\n\tpath = b\n';
  assertEquals(parseGitmodules(text), [{ name: "a", path: "lib/a", url: "../a.git" }]);
});

Deno.test("cloneGitRef() refuses non-http URLs with a redacted GitCloneError", async () => {
  const e = await assertRejects(
    () => cloneGitRef("ssh://user:secret@h/r.git", tempDir("kiln-git-"), { ref: "main" }),
    GitCloneError,
  );
  assertEquals(e.message, "Cannot clone ssh://***@h/r.git#main: only http(s) git URLs are supported (no ssh)");
});

Deno.test("lib/context still exports lib/git's clone (deprecated names)", () => {
  assert(context.cloneGitRef === cloneGitRef && context.GitCloneError === GitCloneError);
  assert(contextGit.cloneGitRef === cloneGitRef && contextGit.parseGitmodules === parseGitmodules);
});
