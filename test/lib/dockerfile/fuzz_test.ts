/**
 * Bad input: ≥10,000 random and mutated Dockerfiles (seeded, reproducible) must each produce a result or a KilnError
 * (DockerfileError...), never another exception, within a small bounded time — through parsing, the BuildKit dump,
 * typing, planning and dispatch-time expansion.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { assert } from "../../assert.ts";
import { SHARED_DIR } from "../../fixtures/tools.ts";
import {
  createShellLexer,
  createStageScope,
  dumpBuildkit,
  parseDockerfile,
  planBuild,
  type StageScopeState,
} from "../../../lib/dockerfile/mod.ts";
import { KilnError } from "../../../lib/util/errors.ts";

const SEED = 0x6b696c6e; // "kiln"
const TOTAL = 12_000;
/**
 * The defect these bounds catch is a blow-up (backtracking, quadratic expansion: seconds per input), not slowness:
 * an input takes ~0.2 ms, the slowest ~30 ms (a GC pause), the whole run ~2 s on 2 shared cores; the bounds are over
 * 10 times that.
 */
const PER_DOC_MS = 500;
const TOTAL_MS = 20_000;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const OWN_SEEDS = [
  "# syntax=docker/dockerfile:1\nARG BASE=alpine:3.20\nFROM --platform=$BUILDPLATFORM $BASE AS build\nARG TARGETARCH\n" +
  "WORKDIR /src\nCOPY --chown=1000:1000 --chmod=755 go.mod go.sum ./\n" +
  "RUN --mount=type=cache,target=/root/.cache,sharing=locked --mount=type=secret,id=tok,env=T go build -o /out/app\n" +
  'FROM scratch\nCOPY --from=build /out/app /app\nENTRYPOINT ["/app"]\n',
  "FROM alpine\nRUN <<EOF\nset -e\necho $HOME\nEOF\nCOPY <<-'A' <<B /etc/\n\tx\n\tA\ny ${V:-d}\nB\n" +
  'ONBUILD RUN <<X cat\nhi\nX\nHEALTHCHECK --interval=5s --retries=2 CMD ["true"]\n',
  '# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir `\n  c:\\\nENV A=`$b B="c d"\nLABEL "k"=\'v w\'\n',
  "ARG A=1 B=${A:+x}\nFROM a:${A}${B#x} AS One\nENV P=${PATH//:/ } Q=${A%%1} R=${A/1/2}\nUSER ${U:-root}\n" +
  'EXPOSE 80/tcp ${P}\nVOLUME ["/data"]\nSTOPSIGNAL SIGTERM\nSHELL ["/bin/bash","-c"]\nMAINTAINER x\n' +
  "FROM one\nADD --checksum=sha256:00 --keep-git-dir --unpack=true https://x/y.git#main /src\n",
];

const TOKENS = [
  "\\",
  "`",
  "\n",
  "\\\n",
  "`\n",
  "\r\n",
  '"',
  "'",
  "[",
  "]",
  "{",
  "}",
  "${",
  "$",
  ":",
  "-",
  "+",
  "?",
  "#",
  "%",
  "%%",
  "##",
  "/",
  "//",
  "*",
  "\\*",
  "<<",
  "<<EOF",
  "<<-EOF",
  "<<'EOF'",
  '<<"E"OF',
  "3<<EOF",
  "EOF\n",
  "\tEOF\n",
  "--mount=type=cache,target=/x",
  "--mount=",
  "--mount=type=",
  "--from=",
  "--from=0",
  "--from=9",
  "--platform=",
  "--platform=$BUILDPLATFORM",
  "--chmod=",
  "--chown=",
  "--link",
  "--link=maybe",
  "--retries=",
  "--interval=",
  "--",
  "--network=none",
  "--security=insecure",
  "--exclude=",
  "--parents",
  "--unpack",
  "--checksum=",
  "--keep-git-dir",
  "ONBUILD ",
  "FROM ",
  "FROM a AS b\n",
  " AS ",
  "ARG ",
  "ENV ",
  "LABEL ",
  "COPY ",
  "ADD ",
  "RUN ",
  "CMD ",
  "HEALTHCHECK ",
  "SHELL ",
  "USER ",
  "WORKDIR ",
  "EXPOSE ",
  "VOLUME ",
  "STOPSIGNAL ",
  "MAINTAINER ",
  "ENTRYPOINT ",
  "# escape=`\n",
  "# escape=\\\n",
  "#syntax=x\n",
  "# check=skip=all\n",
  "\t",
  " ",
  "   ",
  "\u0000",
  "é",
  "😀",
  "\uFEFF",
  "\u00a0",
  "\u2028",
  "\u0085",
  "=",
  ",",
  "ro",
  "rw=false",
  "type=secret",
  "type=ssh",
  "type=tmpfs,size=1m",
  "type=bind,source=.",
  "NONE",
  "CMD",
  '["a"]',
  "[1]",
  '["a", [',
  "[]",
  "${X:-",
  "${X#",
  "${X/",
  "${X:?",
  "${X//a/",
  "${#}",
  "$1",
  "$@",
  "${X%%*}",
  "${X##*/}",
  "}",
  "\n\n",
  "\n#c\n",
  "x".repeat(200),
  "a b c",
  "$HOME",
  "${HOME}",
];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

function mutate(rnd: () => number, text: string): string {
  let s = text;
  const ops = 1 + Math.floor(rnd() * 8);
  for (let k = 0; k < ops; k++) {
    const pos = Math.floor(rnd() * (s.length + 1));
    const op = Math.floor(rnd() * 8);
    if (op <= 2) s = s.slice(0, pos) + pick(rnd, TOKENS) + s.slice(pos);
    else if (op === 3) s = s.slice(0, pos) + s.slice(pos + 1 + Math.floor(rnd() * 20));
    else if (op === 4) s = s.slice(0, pos) + pick(rnd, TOKENS) + s.slice(pos + Math.floor(rnd() * 10));
    else if (op === 5) {
      const lines = s.split("\n");
      const i = Math.floor(rnd() * lines.length), j = Math.floor(rnd() * lines.length);
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      if (rnd() < 0.5) lines.splice(i, 0, lines[j]!);
      s = lines.join("\n");
    } else if (op === 6) s = s.slice(0, pos);
    else s = s.slice(0, pos) + String.fromCodePoint(Math.floor(rnd() * 0x3000)) + s.slice(pos);
  }
  return s;
}

function generate(rnd: () => number): string {
  const lines: string[] = [];
  const n = 1 + Math.floor(rnd() * 12);
  if (rnd() < 0.3) lines.push(pick(rnd, ["# escape=`", "# syntax=a", "ARG X=1", "ARG B=${X:-y}"]));
  for (let i = 0; i < n; i++) {
    let line = "";
    const parts = 1 + Math.floor(rnd() * 6);
    for (let p = 0; p < parts; p++) line += pick(rnd, TOKENS);
    lines.push(rnd() < 0.5 ? "FROM a AS s" + i : line);
  }
  return lines.join(rnd() < 0.9 ? "\n" : "\r\n");
}

/** Inputs built to stress limits: deep nesting, maximal lines, many heredocs, long continuations. */
function pathological(rnd: () => number): string {
  const k = 1 + Math.floor(rnd() * 6);
  switch (k) {
    case 1:
      return "FROM a\nENV X=" + "${a:-".repeat(800 + Math.floor(rnd() * 4000)) + "x" + "}".repeat(900);
    case 2:
      return "FROM a\n" + "ONBUILD ".repeat(1000 + Math.floor(rnd() * 7000)) + "RUN x\n";
    case 3:
      return "FROM a\nRUN " + "x".repeat(65531 + Math.floor(rnd() * 3)) + "\n";
    case 4:
      return "FROM a\nRUN " + Array.from({ length: 300 }, (_, i) => `<<E${i}`).join(" ") + "\n" +
        Array.from({ length: 300 }, (_, i) => `body\nE${i}`).join("\n") + "\n";
    case 5:
      return "FROM a\nRUN a \\\n" + "  b \\\n#c\n\n".repeat(5000) + "end\n";
    default:
      return "ARG V=" + "${V//a/aa}".repeat(200) + "\nFROM a\nENV W=${V##*}" + "${V%%?}".repeat(200) + "\n";
  }
}

/** Runs every layer on one input; returns normally or throws. */
function exercise(input: string | Uint8Array, target: string | undefined): void {
  const r = parseDockerfile(input, { filename: "fuzz/Dockerfile" });
  dumpBuildkit(r);
  const plan = planBuild(r, {
    buildArgs: { X: "v", A: "1", HTTP_PROXY: "p" },
    ...(target ? { target } : {}),
    targetPlatform: { os: "linux", architecture: "arm64" },
  });
  const lexer = createShellLexer(plan.escapeToken);
  const states = new Map<number, StageScopeState>();
  for (const i of plan.order) {
    const ps = plan.stages[i]!;
    const parent = ps.base.kind === "stage" ? states.get(ps.base.index) : undefined;
    const scope = createStageScope({
      ...(parent ? { parent } : { baseImageEnv: ["PATH=/bin", "HOME=/root"] }),
      globalArgs: plan.globalArgs,
      buildArgs: plan.buildArgs,
      lexer,
    });
    for (const ins of ps.stage.instructions) {
      if (ins.kind === "arg") scope.declareArgs(ins);
      else {
        const x = scope.expand(ins);
        if (x.kind === "env") scope.setEnv(x.pairs);
      }
    }
    states.set(i, scope.snapshot());
  }
}

function corpus(): string[] {
  const out = [...OWN_SEEDS];
  const dir = `${SHARED_DIR}/testdata/buildkit/frontend/dockerfile/parser`;
  if (existsSync(dir)) {
    for (const sub of ["testfiles", "testfiles-negative"]) {
      for (const name of readdirSync(`${dir}/${sub}`)) {
        out.push(readFileSync(`${dir}/${sub}/${name}/Dockerfile`, "utf8"));
      }
    }
    out.push(readFileSync(`${dir}/testfile-line/Dockerfile`, "utf8"));
  } else console.error("NOTE fuzz: ../shared absent, mutating kiln's own seeds only");
  return out;
}

Deno.test(`parseDockerfile()..expandInstruction() survive ${TOTAL} random and mutated Dockerfiles`, () => {
  const rnd = mulberry32(SEED);
  const seeds = corpus();
  let results = 0, errors = 0, slowest = 0;
  // Warm the JIT up first (untimed): the bound is about the algorithms, not V8's first compilation.
  const warm = mulberry32(1);
  for (const text of [...seeds, ...Array.from({ length: 12 }, () => pathological(warm))]) {
    try {
      exercise(text, undefined);
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
    }
  }
  const started = performance.now();
  for (let n = 0; n < TOTAL; n++) {
    let text: string;
    const kind = n % 10;
    if (kind < 6) text = (rnd() < 0.4 ? "FROM a AS s0\n" : "") + mutate(rnd, pick(rnd, seeds));
    else if (kind < 9) text = generate(rnd);
    else text = mutate(rnd, mutate(rnd, pick(rnd, seeds)));
    if (n % 400 === 0) text = pathological(rnd);
    let input: string | Uint8Array = text;
    if (n % 17 === 0) {
      const bytes = new TextEncoder().encode(text);
      for (let k = 0; k < 3 && bytes.length; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      input = bytes;
    }
    const target = n % 13 === 0 ? pick(rnd, ["s0", "s1", "one", "build", "nope"]) : undefined;
    const run = (): [boolean, number] => {
      const t0 = performance.now();
      let ok = true;
      try {
        exercise(input, target);
      } catch (e) {
        if (!(e instanceof KilnError)) {
          throw new Error(`input #${n} threw a non-kiln error: ${e}\n--- input ---\n${JSON.stringify(text)}`, {
            cause: e,
          });
        }
        assert(!e.message.includes("\n"), `multi-line error message for input #${n}: ${JSON.stringify(e.message)}`);
        ok = false;
      }
      return [ok, performance.now() - t0];
    };
    const [ok, first] = run();
    let ms = first;
    // Over the bound: a GC pause or a busy machine, or a real problem? Measure again (up to 4 more times).
    for (let retry = 0; retry < 4 && ms > PER_DOC_MS; retry++) ms = Math.min(ms, run()[1]);
    if (ok) results++;
    else errors++;
    slowest = Math.max(slowest, ms);
    assert(ms <= PER_DOC_MS, `input #${n} took ${ms.toFixed(1)} ms: ${JSON.stringify(text).slice(0, 300)}`);
  }
  const total = performance.now() - started;
  console.log(
    `fuzz: ${TOTAL} inputs, ${results} results, ${errors} typed errors, slowest ${slowest.toFixed(2)} ms, ` +
      `total ${(total / 1000).toFixed(2)} s`,
  );
  assert(results > TOTAL / 20 && errors > TOTAL / 20, "the corpus should exercise both outcomes");
  assert(total < TOTAL_MS, `whole fuzz run took ${total} ms`);
});
