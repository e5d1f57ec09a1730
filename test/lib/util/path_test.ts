import { assert, assertEquals } from "../../assert.ts";
import { cleanPath, exists, splitPath } from "../../../lib/util/mod.ts";
import { cleanAbs, splitPath as oldSplitPath } from "../../../lib/copy/resolve.ts";

Deno.test("splitPath() drops empty and . components and keeps ..", () => {
  assertEquals(splitPath(""), []);
  assertEquals(splitPath("/"), []);
  assertEquals(splitPath("./a//b/./../c/"), ["a", "b", "..", "c"]);
});

Deno.test("cleanPath() cleans like Go's path.Clean of an absolute path", () => {
  const cases: [string, string][] = [
    ["", "/"],
    ["/", "/"],
    [".", "/"],
    ["..", "/"],
    ["../../a", "/a"],
    ["/a/b/../c/./d/", "/a/c/d"],
    ["a//b", "/a/b"],
    ["/a/../../b/..", "/"],
  ];
  for (const [input, want] of cases) assertEquals(cleanPath(input), want, input);
  // The relative form is the same without its first character.
  assertEquals(cleanPath("./x/../y/z").slice(1), "y/z");
});

Deno.test("the deprecated lib/copy/resolve.ts path helpers are lib/util's", () => {
  assertEquals(cleanAbs("a/../b"), cleanPath("a/../b"));
  assertEquals(oldSplitPath("/a/./b"), splitPath("/a/./b"));
});

Deno.test("exists() follows symlinks and is false on any error", async () => {
  assert(await exists("/"));
  assert(!(await exists("/no/such/kiln/path")));
});
