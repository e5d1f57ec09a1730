import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { BadPatternError, compilePatterns, hasGlobMeta, matchGlob } from "../../../lib/copy/glob.ts";
import { parseChmod } from "../../../lib/copy/chmod.ts";

Deno.test("matchGlob() follows Go filepath.Match vectors", () => {
  // Vectors from Go's path/filepath match_test.go (facts, not code).
  const cases: [string, string, boolean][] = [
    ["abc", "abc", true],
    ["*", "abc", true],
    ["*c", "abc", true],
    ["a*", "a", true],
    ["a*", "abc", true],
    ["a*", "ab/c", false],
    ["a*/b", "abc/b", true],
    ["a*/b", "a/c/b", false],
    ["a*b*c*d*e*/f", "axbxcxdxe/f", true],
    ["a*b*c*d*e*/f", "axbxcxdxexxx/f", true],
    ["a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false],
    ["a*b?c*x", "abxbbxdbxebxczzx", true],
    ["a*b?c*x", "abxbbxdbxebxczzy", false],
    ["ab[c]", "abc", true],
    ["ab[b-d]", "abc", true],
    ["ab[e-g]", "abc", false],
    ["ab[^c]", "abc", false],
    ["ab[^b-d]", "abc", false],
    ["ab[^e-g]", "abc", true],
    ["a\\*b", "a*b", true],
    ["a\\*b", "ab", false],
    ["a?b", "a☺b", true],
    ["a[^a]b", "a☺b", true],
    ["a???b", "a☺b", false],
    ["[a-ζ]*", "α", true],
    ["*[a-ζ]", "A", false],
    ["a?b", "a/b", false],
    ["a*b", "a/b", false],
    ["[\\]a]", "]", true],
    ["[\\-]", "-", true],
    ["[x\\-]", "x", true],
    ["[x\\-]", "-", true],
    ["[x\\-]", "z", false],
    ["[[]x]", "[x]", true],
    ["*x", "xxx", true],
  ];
  for (const [p, s, want] of cases) assertEquals(matchGlob(p, s), want, `${p} vs ${s}`);
  for (const bad of ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a["]) {
    assertThrows(() => matchGlob(bad, "a"), BadPatternError);
  }
  assert(hasGlobMeta("a/*.txt") && !hasGlobMeta("a\\*.txt") && !hasGlobMeta("plain"));
});

Deno.test("compilePatterns() matches like .dockerignore", () => {
  const m = compilePatterns(["*.md", "!README.md", "build", "**/*.tmp", "/abs/x"]);
  assert(m.matches("a.md"));
  assert(!m.matches("README.md"));
  assert(!m.matches("docs/a.md")); // `*` does not cross `/`
  assert(m.matches("build/out/x.o")); // parent directory matched
  assert(m.matches("x.tmp") && m.matches("deep/er/x.tmp"));
  assert(m.matches("abs/x"));
  assert(m.hasExceptions);
});

Deno.test("parseChmod() applies octal and symbolic modes like BuildKit", () => {
  assertEquals(parseChmod("0640").apply(0o755, true), 0o640);
  assertEquals(parseChmod("4755").apply(0o644, false), 0o4755);
  const s = parseChmod("u=rwX,go=rX");
  assertEquals(s.apply(0o600, false), 0o644);
  assertEquals(s.apply(0o700, false), 0o755);
  assertEquals(s.apply(0o600, true), 0o755);
  assertEquals(parseChmod("a+x").apply(0o644, false), 0o755);
  assertEquals(parseChmod("go-w").apply(0o777, false), 0o755);
  assertEquals(parseChmod("u+s").apply(0o755, false), 0o4755);
  assertEquals(parseChmod("+t").apply(0o777, true), 0o1777);
  assertEquals(parseChmod("g=u").apply(0o740, false), 0o770);
  assertThrows(() => parseChmod("rwx"), Error, "Invalid --chmod");
  assertThrows(() => parseChmod("999"), Error, "Invalid --chmod");
});
