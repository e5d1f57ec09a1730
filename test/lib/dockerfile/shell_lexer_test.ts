/** createShellLexer(): the forms BuildKit's vectors do not cover (ported from the behaviour of TestProcessWithMatches). */
import { assertEquals, assertThrows } from "../../assert.ts";
import { createShellLexer, ShellExpansionError } from "../../../lib/dockerfile/mod.ts";

const lex = createShellLexer("\\");
const word = (w: string, env: Record<string, string>) => lex.processWord(w, env).value;

Deno.test("processWord() removes prefixes and suffixes with # ## % %% (results as bash)", () => {
  const env = { F: "a/b/c.tar.b" };
  const cases: [string, string][] = [
    ["${F#*/}", "b/c.tar.b"],
    ["${F##*/}", "c.tar.b"],
    ["${F%/*}", "a/b"],
    ["${F%%/*}", "a"],
    ["${F%.*}", "a/b/c.tar"],
    ["${F%%.*}", "a/b/c"],
    ["${F#?}", "/b/c.tar.b"],
    ["${F##*b}", ""],
    ["${F#\\*}", "a/b/c.tar.b"],
    ["${F#nomatch}", "a/b/c.tar.b"],
    ["${F%b}", "a/b/c.tar."],
    ["${F#a/b/c.tar.b}", ""],
    ["${UNSET#x}", ""],
  ];
  for (const [w, want] of cases) assertEquals(word(w, env), want, w);
  const x = { X: "xxx" };
  assertEquals(word("${X#*}", x), "xxx");
  assertEquals(word("${X##*}", x), "");
  assertEquals(word("${X#x}", x), "xx");
  assertEquals(word("${X##x*}", x), "");
  assertEquals(word("${X%x}", x), "xx");
  assertEquals(word("${X%%x*}", x), "");
  assertEquals(word("${X%*x}", x), "xx");
  assertEquals(word("${X#$Y}", { X: "xxx", Y: "x" }), "xx");
  assertEquals(word("${X#$Y}", { X: "xxx", Y: "" }), "xxx");
  assertEquals(word("${S#\\*}", { S: "*star" }), "star");
  assertEquals(word("${S%\\?}", { S: "what?" }), "what");
  assertEquals(word("${S#\\\\}", { S: "\\back" }), "back");
  assertEquals(word("${K#한}", { K: "한국어" }), "국어");
  assertEquals(word("${K%?}", { K: "한국어" }), "한국");
});

Deno.test("processWord() replaces with / and // (results as bash)", () => {
  const env = { F: "a/b/c.tar.b" };
  const cases: [string, string][] = [
    ["${F/b/X}", "a/X/c.tar.b"],
    ["${F//b/X}", "a/X/c.tar.X"],
    ["${F//\\//_}", "a_b_c.tar.b"],
    ["${F//?/.}", "..........."],
    ["${F/b*/Z}", "a/Z"],
    ["${F//*/Z}", "Z"],
    ["${F//x/}", "a/b/c.tar.b"],
    ["${F/b/}", "a//c.tar.b"],
    ["${F/#a/X}", "a/b/c.tar.b"], // no bash anchors in BuildKit: "#a" is literal
    ["${F/./$F}", "a/b/ca/b/c.tar.btar.b"],
    ["${UNSET/a/b}", ""],
  ];
  for (const [w, want] of cases) assertEquals(word(w, env), want, w);
  assertEquals(word("${X/\\}/y}", { X: "a}b" }), "ayb");
  assertEquals(word("${X//a/$$}", { X: "aa" }), ""); // `$$` is the (never set) special parameter `$`
  assertEquals(word("${X//b*/-}", { X: "abcb" }), "a-");
  assertEquals(word("${X//b?/-}", { X: "abcbd" }), "a--");
});

Deno.test("processWord() reports used and unset variables", () => {
  assertEquals(lex.processWord("x", { DUMMY: "d" }), { value: "x", usedVars: [], unsetVars: [] });
  assertEquals(lex.processWord("x ${UNUSED}", { DUMMY: "d" }), { value: "x ", usedVars: [], unsetVars: ["UNUSED"] });
  assertEquals(lex.processWord("x ${FOO}", { FOO: "y" }), { value: "x y", usedVars: ["FOO"], unsetVars: [] });
  const env = { FOO: "xxx", BAR: "" };
  assertEquals(lex.processWord("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", env), {
    value: "xxx  ccc",
    usedVars: ["FOO", "BAR"],
    unsetVars: ["BAZ"],
  });
  assertEquals(word("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", env), "xxx bbb ccc");
  assertEquals(word("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", env), "aaa bbb ");
  assertEquals(word("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", env), "aaa  ");
  assertEquals(word("${BAR?bbb}", env), "");
  assertEquals(lex.processWord("${FOO#$BAR}", env).usedVars, ["BAR", "FOO"]);
  assertEquals(lex.processWords("$A b", new Map([["A", "1 2"]])).words, ["1", "2", "b"]);
  assertEquals(lex.processWord("$A", { get: (n: string) => n === "A" ? "g" : undefined }).value, "g");
  assertEquals(word("${constructor}", {}), "");
});

Deno.test("processWord() fails with ShellExpansionError for ?-modifiers and bad syntax", () => {
  const env = { FOO: "xxx", BAR: "" };
  const bad: [string, string][] = [
    ["${BAZ?aaa}", "BAZ: aaa"],
    ["${BAZ?}", "BAZ: is not allowed to be unset"],
    ["${BAR:?bbb}", "BAR: bbb"],
    ["${BAR:?}", "BAR: is not allowed to be empty"],
    ["${BAZ:?message here $FOO}", "BAZ: message here xxx"],
    ["${FOO:#x}", "unsupported modifier (:#) in substitution"],
    ["${FOO:%x}", "unsupported modifier (:%) in substitution"],
    ["${FOO:=x}", "unsupported modifier (:=) in substitution"],
    ["${FOO=x}", "unsupported modifier (=) in substitution"],
    ["${FOO#\\x}", "invalid escape '\\x'"],
    ["${FOO/\\x/y}", "invalid escape '\\x'"],
    ["${FOO", "unsupported modifier"],
    ["${FOO:-x", "missing '}'"],
    ["${FOO/x", "missing '/' in ${}"],
    ["${FOO/x/y", "missing '}'"],
    ["${", "missing '}'"],
    ["${}", "bad substitution"],
    ["${:x}", "bad substitution"],
    ["${{x}", "bad substitution"],
    ["'abc", "single-quote"],
    ['"abc', "double-quote"],
  ];
  for (const [w, msg] of bad) {
    const e = assertThrows(() => lex.processWord(w, env), ShellExpansionError);
    if (!e.message.includes(msg)) throw new Error(`${w}: ${e.message} does not include ${msg}`);
  }
});

Deno.test("createShellLexer() honours a backtick escape token and rejects others", () => {
  const bt = createShellLexer("`");
  assertEquals(bt.processWord("a`$b c\\d", { b: "B" }).value, "a$b c\\d");
  assertEquals(bt.processWord('"x`"y"', {}).value, 'x"y');
  assertEquals(bt.processWords("a` b c", {}).words, ["a b", "c"]);
  assertThrows(() => createShellLexer("!"), ShellExpansionError, "invalid escape token");
});

Deno.test("processWords() splits unquoted expansions and keeps quoted ones", () => {
  const env = { S: " a  b ", E: "" };
  assertEquals(lex.processWords("x${S}y", env).words, ["x", "a", "b", "y"]);
  assertEquals(lex.processWords('x"${S}"y', env).words, ["x a  b y"]);
  assertEquals(lex.processWords('"" $E', env).words, []);
  assertEquals(lex.processWords('a\\ b \'c d\' "e\\"f"', env).words, ["a b", "c d", 'e"f']);
  assertEquals(lex.processWords("a${UNSET:-b c}d", env).words, ["ab", "cd"]);
});

Deno.test("createShellLexer() options: raw quotes, raw escapes, skip unset, skip quotes", () => {
  const raw = createShellLexer("\\", { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  assertEquals(raw.processWord(`'a' "b" \\c $X \${Y} \${Z:-d}`, {}).value, `'a' "b" \\c $X \${Y} \${Z:-d}`);
  const noq = createShellLexer("\\", { skipProcessQuotes: true });
  assertEquals(noq.processWord(`"$A" '$A'`, { A: "1" }).value, `"1" '1'`);
});

Deno.test("processWord() matches BuildKit's TestProcessWithMatches table (values, used and unset sets)", () => {
  type Case = { in: string; env: Record<string, string>; want?: string; err?: true; used?: string[]; unset?: string[] };
  const FB = { FOO: "xxx", BAR: "" };
  const cases: Case[] = [
    { in: "x", env: { DUMMY: "dummy" }, want: "x" },
    { in: "x ${UNUSED}", env: { DUMMY: "dummy" }, want: "x ", unset: ["UNUSED"] },
    { in: "x ${FOO}", env: { FOO: "y" }, want: "x y", used: ["FOO"] },
    { in: "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", env: FB, want: "xxx  ccc", used: ["FOO", "BAR"], unset: ["BAZ"] },
    { in: "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", env: FB, want: "xxx bbb ccc", used: ["FOO", "BAR"], unset: ["BAZ"] },
    { in: "${FOO:-}", env: FB, want: "xxx", used: ["FOO"] },
    { in: "${FOO:-}", env: {}, want: "", unset: ["FOO"] },
    { in: "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", env: FB, want: "aaa bbb ", used: ["FOO", "BAR"], unset: ["BAZ"] },
    { in: "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", env: FB, want: "aaa  ", used: ["FOO", "BAR"], unset: ["BAZ"] },
    { in: "${FOO?aaa}", env: FB, want: "xxx", used: ["FOO"] },
    { in: "${BAR?bbb}", env: FB, want: "", used: ["BAR"] },
    { in: "${BAZ?ccc}", env: FB, err: true },
    { in: "${FOO:?aaa}", env: FB, want: "xxx", used: ["FOO"] },
    { in: "${BAR:?bbb}", env: FB, err: true },
    { in: "${BAZ:?ccc}", env: FB, err: true },
    { in: "${BAZ:?}", env: FB, err: true },
    { in: "${FOO=aaa}", env: FB, err: true },
    { in: "${FOO=:aaa}", env: FB, err: true },
    { in: "${FOO=}", env: {}, err: true },
    { in: "${FOO#()[]{\\}^$.\\*\\?|\\\\}", env: { FOO: "()[]{}^$.*?|\\x" }, want: "x", used: ["FOO"] },
    { in: "${FOO%%\\**}", env: { FOO: "xx**" }, want: "xx", used: ["FOO"] },
    { in: "${FOO#*x*y}", env: { FOO: "xxyy" }, want: "y", used: ["FOO"] },
    { in: "${FOO#*}", env: { FOO: "xxyy" }, want: "xxyy", used: ["FOO"] },
    { in: "${FOO#$BAR}", env: { FOO: "xxyy", BAR: "x" }, want: "xyy", used: ["FOO", "BAR"] },
    { in: "${FOO#$BAR}", env: { FOO: "xxyy", BAR: "" }, want: "xxyy", used: ["FOO", "BAR"] },
    { in: "${FOO#}", env: { FOO: "xxyy" }, want: "xxyy", used: ["FOO"] },
    { in: "${FOO##*x}", env: { FOO: "xxyy" }, want: "yy", used: ["FOO"] },
    { in: "${FOO##}", env: { FOO: "xxyy" }, want: "xxyy", used: ["FOO"] },
    { in: "${FOO#?\\?}", env: { FOO: "???y" }, want: "?y", used: ["FOO"] },
    { in: "${ABC:-.}${FOO%x}${ABC:-.}", env: { FOO: "xxyy" }, want: ".xxyy.", used: ["FOO"], unset: ["ABC"] },
    { in: "${FOO%%\\**\\*}", env: { FOO: "a***yy*" }, want: "a", used: ["FOO"] },
    { in: "${FOO%}", env: { FOO: "xxyy" }, want: "xxyy", used: ["FOO"] },
    { in: "${FOO%%$BAR}", env: { FOO: "xxyy", BAR: "" }, want: "xxyy", used: ["FOO", "BAR"] },
    { in: "${FOO:#}", env: {}, err: true },
    { in: "${FOO:##}", env: {}, err: true },
    { in: "${FOO:%}", env: {}, err: true },
    { in: "${FOO:%%}", env: {}, err: true },
    {
      in: "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
      env: { FOO: "/foo*/*/*.txt", NEEDLE: String.raw`\*/` },
      want: "/foo.*/*.txt - /foo..*.txt",
      used: ["FOO", "NEEDLE"],
    },
    {
      in: "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
      env: { FOO: "/tmp/tmp/bar.txt", NEEDLE: "/tmp" },
      want: "/tmp/bar.txt - /bar.txt",
      used: ["FOO", "NEEDLE"],
    },
    {
      in: "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
      env: { FOO: "/a/foo/b/c.txt", NEEDLE: "/?/", REPLACEMENT: "/" },
      want: "/foo/b/c.txt - /foo/c.txt",
      used: ["FOO", "NEEDLE", "REPLACEMENT"],
    },
    {
      in: "${FOO/$NEEDLE/$REPLACEMENT}",
      env: { FOO: "http://google.de", NEEDLE: "http://", REPLACEMENT: "https://" },
      want: "https://google.de",
      used: ["FOO", "NEEDLE", "REPLACEMENT"],
    },
    { in: "${FOO//\\//\\/}", env: { FOO: "/tmp/foo.txt" }, want: "\\/tmp\\/foo.txt", used: ["FOO"] },
    { in: "${FOO/$BAR/ww}", env: { FOO: "xxyy", BAR: "" }, want: "wwxxyy", used: ["FOO", "BAR"] },
    { in: "${FOO//ww}", env: { FOO: "xxyy" }, err: true },
    { in: "${FOO//}", env: { FOO: "xxyy" }, err: true },
    { in: "${FOO///}", env: { FOO: "xxyy" }, want: "xxyy", used: ["FOO"] },
    { in: "${FOO///}", env: {}, want: "", unset: ["FOO"] },
    {
      in: "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
      env: { VERSION: "v1.2.3", TARGETOS: "linux", TARGETARCH: "arm", TARGETVARIANT: "v7" },
      want: "something-v1.2.3.linux-arm-v7.tar.gz",
      used: ["VERSION", "TARGETOS", "TARGETARCH", "TARGETVARIANT"],
    },
    {
      in: "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
      env: { VERSION: "v1.2.3", TARGETOS: "linux", TARGETARCH: "arm64" },
      want: "something-v1.2.3.linux-arm64.tar.gz",
      used: ["VERSION", "TARGETOS", "TARGETARCH"],
      unset: ["TARGETVARIANT"],
    },
  ];
  for (const c of cases) {
    if (c.err) {
      assertThrows(() => lex.processWord(c.in, c.env), ShellExpansionError);
      continue;
    }
    const r = lex.processWord(c.in, c.env);
    assertEquals(r.value, c.want, c.in);
    assertEquals([...r.usedVars].sort(), [...(c.used ?? [])].sort(), `used: ${c.in}`);
    assertEquals([...r.unsetVars].sort(), [...(c.unset ?? [])].sort(), `unset: ${c.in}`);
  }
  assertEquals(cases.length, 49);
});

/** The glob → regexp conversion BuildKit does (used here as an oracle for the NFA matcher). */
function oracleRegex(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const cps = Array.from(pattern);
  let re = anchored ? "^" : "";
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c === "*") re += greedy ? "[^\\n]*" : "[^\\n]*?";
    else if (c === "?") re += "[^\\n]";
    else if (c === "\\") {
      if (cps[i + 1] === "}" || cps[i + 1] === "/") continue;
      re += "\\" + cps[++i];
    } else re += /[[\]{}.+()|^$]/.test(c) ? "\\" + c : c;
  }
  return new RegExp(re, "gu");
}

Deno.test("processWord() glob modifiers agree with BuildKit's regexp semantics on random inputs", () => {
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const alphabet = ["a", "b", "a", "\n", "*", "é"];
  const patAlphabet = ["a", "b", "*", "*", "?", "\\*", "é"];
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
  for (let n = 0; n < 3000; n++) {
    const value = Array.from({ length: Math.floor(rnd() * 9) }, () => pick(alphabet)).join("");
    const pattern = Array.from({ length: Math.floor(rnd() * 5) }, () => pick(patAlphabet)).join("");
    const env = { V: value, P: pattern };
    // Prefix and suffix removal.
    for (const greedy of [false, true]) {
      const re = oracleRegex(pattern, greedy, true);
      re.lastIndex = 0;
      const m = re.exec(value);
      const want = m ? value.slice(m[0].length) : value;
      assertEquals(word(greedy ? "${V##$P}" : "${V#$P}", env), want, `${JSON.stringify(value)} # ${pattern}`);
    }
    // First replacement.
    const re = oracleRegex(pattern, true, false);
    re.lastIndex = 0;
    const m = re.exec(value);
    const want = m ? value.slice(0, m.index) + "X" + value.slice(m.index + m[0].length) : value;
    assertEquals(word("${V/$P/X}", env), want, `${JSON.stringify(value)} / ${pattern}`);
  }
});

Deno.test("processWord() glob matching stays fast on patterns that make backtracking regexps explode", () => {
  const env = { V: "a".repeat(3000), P: "*a*a*a*a*a*a*a*a*a*a*b" };
  const t0 = performance.now();
  assertEquals(word("${V//$P/x}", env), env.V);
  assertEquals(word("${V#$P}", env), env.V);
  assertEquals(word("${V%%$P}", env), env.V);
  assertEquals(word("${V/$P/x}", env), env.V);
  const ms = performance.now() - t0;
  // The defect is a hang (a backtracking regexp takes minutes here): a bound 20 times the ~0.1 s this takes.
  if (ms > 2000) throw new Error(`took ${ms} ms`);
});

Deno.test("processWord() rejects absurdly deep nesting with a ShellExpansionError, not a stack overflow", () => {
  const deep = "${a:-".repeat(5000) + "x" + "}".repeat(5000);
  const e = assertThrows(() => lex.processWord(deep, {}), ShellExpansionError);
  assertEquals(e.message.length < 400, true);
  assertEquals(lex.processWord("${a:-".repeat(256) + "x" + "}".repeat(256), {}).value, "x");
  assertThrows(() => lex.processWord("${a:-".repeat(257) + "x" + "}".repeat(257), {}), ShellExpansionError, "nested");
});

Deno.test("processWord() fails once substitutions add more than maxExpansion (default 1 MiB) to a word", () => {
  const mib = "x".repeat(1024 * 1024);
  // Up to the limit (plus the word's own length) is fine; past it is not, wherever the growth comes from.
  assertEquals(word("$A", { A: mib }).length, 1024 * 1024);
  assertEquals(word("$A$C", { A: mib, C: "c" }).length, 1024 * 1024 + 1);
  const B = "y".repeat(100);
  for (const w of ["$A$B", "${A}${B}", '"$A$B"', "${A:+$A}$B", "${B//?/$A}"]) {
    const e = assertThrows(() => word(w, { A: mib, B }), ShellExpansionError);
    assertEquals(
      e.message,
      `failed to process ${
        JSON.stringify(w)
      }: the expanded value is larger than 1 MiB, the most substitutions may add to a word`,
    );
  }
  // Literal text does not count: a long heredoc body with one small substitution expands.
  const body = "y".repeat(3 * 1024 * 1024) + "$A";
  assertEquals(word(body, { A: "z" }).length, 3 * 1024 * 1024 + 1);
  // The limit is an option.
  const small = createShellLexer("\\", { maxExpansion: 10 });
  assertEquals(small.maxExpansion, 10);
  assertEquals(small.processWord("$A", { A: "0123456789" }).value, "0123456789");
  assertThrows(() => small.processWord("$A$A", { A: "0123456789" }), ShellExpansionError, "larger than 10 B");
});

Deno.test("processWord() keeps non-BMP characters and escapes when copying literal runs", () => {
  const env = { A: "a" };
  assertEquals(word("😀x$A😀\\$A'q'", env), "😀xa😀$Aq");
  const raw = createShellLexer("\\", { skipProcessQuotes: true });
  assertEquals(raw.processWord("l1 'q' \"$A\"\n\\$A 😀\n", env).value, "l1 'q' \"a\"\n$A 😀\n");
});
