/**
 * Conformance with BuildKit's own test vectors in ../shared/testdata/buildkit (see FORMAT.md there): parser goldens,
 * negative cases, line numbers, and the shell-lexer vectors. Skipped, with a message, when ../shared is absent.
 */
import { readdirSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { assert, assertEquals, assertMatch, assertThrows } from "../../assert.ts";
import { REPO_ROOT, SHARED_DIR, skipUnless } from "../../fixtures/tools.ts";
import { createShellLexer, DockerfileError, dumpBuildkit, parseDockerfile } from "../../../lib/dockerfile/mod.ts";

const BK = `${SHARED_DIR}/testdata/buildkit/frontend/dockerfile`;
const NEED = (name: string) => skipUnless(name, "shared");

function cases(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

function runCli(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(Deno.execPath(), ["run", "-A", `${REPO_ROOT}/cli/main.ts`, ...args], {
    encoding: "utf8",
    input: input ?? "",
    cwd: REPO_ROOT,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

Deno.test({
  name: "dumpBuildkit() reproduces all 33 BuildKit parser results byte for byte",
  ignore: NEED("parser goldens"),
  fn() {
    const names = cases(`${BK}/parser/testfiles`);
    assertEquals(names.length, 33);
    const failed: string[] = [];
    for (const name of names) {
      const df = readFileSync(`${BK}/parser/testfiles/${name}/Dockerfile`);
      const expected = readFileSync(`${BK}/parser/testfiles/${name}/result`, "utf8").replace(/\r\n/g, "\n");
      const got = dumpBuildkit(parseDockerfile(new Uint8Array(df), { filename: `${name}/Dockerfile` }));
      if (got !== expected) failed.push(name);
    }
    assertEquals(failed, []);
  },
});

Deno.test({
  name: "parseDockerfile() rejects the 4 BuildKit negative cases with a located DockerfileError",
  ignore: NEED("parser negatives"),
  fn() {
    const names = cases(`${BK}/parser/testfiles-negative`);
    assertEquals(names, ["empty_dockerfile", "env_no_value", "only_comments", "shykes-nested-json"]);
    const messages: Record<string, string> = {};
    for (const name of names) {
      const df = readFileSync(`${BK}/parser/testfiles-negative/${name}/Dockerfile`);
      const e = assertThrows(() => parseDockerfile(new Uint8Array(df), { filename: "Dockerfile" }), DockerfileError);
      assertMatch(e.message, /^Dockerfile:\d+: /);
      messages[name] = e.detail;
    }
    assertEquals(messages, {
      empty_dockerfile: "file with no instructions",
      env_no_value: "ENV must have two arguments",
      only_comments: "file with no instructions",
      "shykes-nested-json": "when using JSON array syntax, arrays must be comprised of strings only",
    });
  },
});

Deno.test({
  name: "parseDockerfile() gives BuildKit's line numbers for testfile-line",
  ignore: NEED("line numbers"),
  fn() {
    const r = parseDockerfile(new Uint8Array(readFileSync(`${BK}/parser/testfile-line/Dockerfile`)));
    assertEquals(r.nodes.map((n) => [n.keyword, n.startLine, n.endLine]), [["from", 5, 5], ["env", 11, 12], [
      "run",
      17,
      31,
    ]]);
    assertEquals(r.nodes[0]!.startLine, 5);
    assertEquals(r.nodes[r.nodes.length - 1]!.endLine, 31);
    assertEquals(r.directives.map((d) => [d.name, d.value]), [["escape", "\\"]]);
    assertEquals(r.warnings.length, 1);
  },
});

Deno.test({
  name: "createShellLexer().processWord() passes all 230 envVarTest vectors (W ones with Windows env-key rules)",
  ignore: NEED("envVarTest"),
  fn() {
    const lex = createShellLexer("\\");
    const winLex = createShellLexer("\\", { caseInsensitiveEnv: true });
    const env = { PWD: "/home", SHELL: "bash", KOREAN: "한국어", NULL: "" };
    let total = 0, run = 0, windowsOnly = 0;
    const failed: string[] = [];
    for (const line of readFileSync(`${BK}/shell/envVarTest`, "utf8").split("\n")) {
      if (line.startsWith("#")) continue;
      const t = line.trim();
      if (t === "") continue;
      const f = t.split("|");
      assertEquals(f.length, 3, `bad vector line ${line}`);
      const [plat, src, exp] = f.map((x) => x.trim()) as [string, string, string];
      total++;
      assert(["A", "U", "W"].includes(plat));
      if (plat === "W") windowsOnly++;
      run++;
      let got: string;
      try {
        got = (plat === "W" ? winLex : lex).processWord(src, env).value;
      } catch (e) {
        assert(e instanceof Error && e.name === "ShellExpansionError", String(e));
        got = "error";
      }
      if (got !== exp) failed.push(`${src} => ${JSON.stringify(got)} (want ${JSON.stringify(exp)})`);
    }
    assertEquals(failed, []);
    assertEquals([total, run, windowsOnly], [230, 230, 2]);
  },
});

Deno.test({
  name: "createShellLexer().processWords() passes every wordsTest vector",
  ignore: NEED("wordsTest"),
  fn() {
    const lex = createShellLexer("\\");
    const env: Record<string, string> = {};
    let n = 0;
    const failed: string[] = [];
    for (const line of readFileSync(`${BK}/shell/wordsTest`, "utf8").split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      if (line.startsWith("ENV ")) {
        const rest = line.slice(3).replace(/^ +/, "");
        const i = rest.indexOf("=");
        env[rest.slice(0, i)] = rest.slice(i + 1);
        continue;
      }
      const parts = line.split("|");
      assertEquals(parts.length, 2);
      const expected = parts[1]!.replace(/^ +/, "").split(",");
      let got: string[];
      try {
        got = lex.processWords(parts[0]!.trim(), env).words;
      } catch {
        got = ["error"];
      }
      n++;
      if (JSON.stringify(got) !== JSON.stringify(expected)) failed.push(`${parts[0]} => ${JSON.stringify(got)}`);
    }
    assertEquals(failed, []);
    assertEquals(n, 24);
  },
});

Deno.test({
  name: "kiln parse --dump=buildkit (subprocess) prints BuildKit's result for several cases",
  ignore: NEED("cli parse"),
  fn() {
    for (const name of ["json", "flags", "escape", "health", "brimstone-consuldock"]) {
      const r = runCli(["parse", "--dump=buildkit", `${BK}/parser/testfiles/${name}/Dockerfile`]);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, readFileSync(`${BK}/parser/testfiles/${name}/result`, "utf8"));
    }
    const stdin = runCli(["parse", "-"], readFileSync(`${BK}/parser/testfiles/env/Dockerfile`, "utf8"));
    assertEquals(stdin.code, 0, stdin.stderr);
    assertEquals(stdin.stdout, readFileSync(`${BK}/parser/testfiles/env/result`, "utf8"));
  },
});

Deno.test({
  name: "kiln parse (subprocess) reports negative cases as one FILE:LINE: line and exit status 1",
  ignore: NEED("cli negatives"),
  fn() {
    for (const [name, line] of [["env_no_value", 3], ["shykes-nested-json", 1], ["only_comments", 3]] as const) {
      const file = `${BK}/parser/testfiles-negative/${name}/Dockerfile`;
      const r = runCli(["parse", "--dump=buildkit", file]);
      assertEquals(r.code, 1);
      assertEquals(r.stdout, "");
      const lines = r.stderr.trimEnd().split("\n");
      assertEquals(lines.length, 1, r.stderr);
      assert(lines[0]!.startsWith(`${file}:${line}: `), r.stderr);
    }
  },
});
