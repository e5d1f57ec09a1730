/** `kiln parse` as a subprocess: JSON dump, stdin, usage errors, unreadable files, FILE:LINE errors (exit 1). */
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { assert, assertEquals } from "../../assert.ts";
import { REPO_ROOT } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";

function kiln(args: string[], input = "", env: Record<string, string> = {}) {
  const r = spawnSync(Deno.execPath(), ["run", "-A", `${REPO_ROOT}/cli/main.ts`, ...args], {
    encoding: "utf8",
    input,
    cwd: REPO_ROOT,
    env: { ...Deno.env.toObject(), ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

Deno.test("kiln parse --dump=json prints typed, ARG-resolved stages (stdin, build args from flags and env)", () => {
  const df =
    "ARG V=1\nFROM alpine:$V AS Base\nARG V\nARG FROM_ENV\nENV A=$V-$FROM_ENV\nFROM base\nCOPY --from=base /a /b\n";
  const r = kiln(
    [
      "parse",
      "--dump=json",
      "--build-arg",
      "V=2",
      "--build-arg=FROM_ENV",
      "--build-arg",
      "NOPE=1",
      "--target",
      "BASE",
      "-",
    ],
    df,
    { FROM_ENV: "e" },
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stderr, "warning: One or more build-args [NOPE] were not consumed\n");
  const out = JSON.parse(r.stdout);
  assertEquals([out.file, out.target, out.order, out.globalArgs.V], ["<stdin>", 0, [0], "2"]);
  assertEquals(out.stages[0].base, { kind: "image", ref: "alpine:2" });
  assertEquals(out.stages[0].env.A, "2-e");
  assertEquals(out.stages[0].instructions[0].resolved, [{ key: "V", value: "2" }]);
  assertEquals([out.stages[1].needed, out.stages[1].instructions[0].from], [false, "base"]);
});

Deno.test("kiln parse reports usage errors with status 2 and bad files with status 1", () => {
  const none = kiln(["parse"]);
  assertEquals([none.code, none.stderr.trim()], [
    2,
    "kiln: Expected exactly one FILE (or - for stdin); see `kiln parse --help`",
  ]);
  const dump = kiln(["parse", "--dump=xml", "-"]);
  assertEquals([dump.code, dump.stderr.trim()], [
    2,
    'kiln: Invalid value for --dump: "xml" (expected buildkit or json)',
  ]);
  const flag = kiln(["parse", "--bogus", "-"]);
  assertEquals(flag.code, 2);
  const plat = kiln(["parse", "--dump=json", "--platform=a/b/c/d", "-"], "FROM a\n");
  assertEquals(plat.code, 2);
  const missing = kiln(["parse", "/nonexistent/Dockerfile"]);
  assertEquals([missing.code, missing.stderr.trim()], [
    1,
    "kiln: Cannot read Dockerfile /nonexistent/Dockerfile: no such file",
  ]);
  const help = kiln(["parse", "--help"]);
  assert(help.code === 0 && help.stdout.includes("--dump") && help.stdout.includes("--build-arg"));
});

Deno.test("kiln parse prints FILE:LINE: errors from every layer on one line, exit status 1", () => {
  const dir = tempDir("kiln-parse-");
  try {
    const cases: [string, string, string[]][] = [
      ["FROM a\nRUN <<EOF\nx\n", "2: unterminated heredoc", []],
      ["FROM a\nCOPY --frm=x a b\n", "2: unknown flag: frm (allowed:", ["--dump=json"]],
      ["FROM a\n\nWORKDIR ${W:?set W}\n", '3: failed to process "${W:?set W}": W: set W', ["--dump=json"]],
      ["FROM a AS x\nFROM b\nCOPY --from=y / /\nFROM c AS y\n", "3: --from=y refers to a later stage", ["--dump=json"]],
    ];
    for (const [i, [text, want, flags]] of cases.entries()) {
      const file = `${dir}/Dockerfile.${i}`;
      writeFileSync(file, text);
      const r = kiln(["parse", ...flags, file]);
      assertEquals(r.code, 1, r.stderr);
      assertEquals(r.stdout, "");
      const lines = r.stderr.trimEnd().split("\n");
      assertEquals(lines.length, 1, r.stderr);
      assert(lines[0]!.startsWith(`${file}:${want}`), r.stderr);
    }
    const target = kiln(["parse", "--dump=json", "--target=zzz", "-"], "FROM a\n");
    assertEquals([target.code, target.stderr.trim()], [1, 'kiln: target stage "zzz" could not be found in <stdin>']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
