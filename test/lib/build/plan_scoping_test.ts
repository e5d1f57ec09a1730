/**
 * lib/build/plan.ts as an adapter over lib/dockerfile (`planBuild`, `createStageScope`, `expandInstruction`): stage
 * bases, target and needed stages, global/platform/proxy args and warnings come from the one implementation, and
 * build() scopes variables with it (checked on FROM scratch through LABELs, no RUN, no root).
 */
import { planFromDockerfile } from "../../../lib/build/plan.ts";
import { build } from "../../../lib/build/build.ts";
import { createStageScope } from "../../../lib/dockerfile/expand.ts";
import { planBuild } from "../../../lib/dockerfile/plan.ts";
import { parseDockerfile } from "../../../lib/dockerfile/parser.ts";
import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { buildArgsFromFlags } from "../../../cli/common_flags.ts";

const MULTI = [
  "ARG BASE=scratch",
  "FROM ${BASE} AS Build",
  "FROM scratch AS unused",
  "FROM scratch AS tool",
  "FROM build AS mid",
  "RUN --mount=type=bind,from=tool,target=/t true",
  "FROM 0 AS byindex",
  "FROM mid AS final",
  "",
].join("\n");

Deno.test("planFromDockerfile() takes bases, target and needed stages from lib/dockerfile planBuild()", () => {
  const all = planFromDockerfile(MULTI, { target: "FINAL" });
  assertEquals(all.stages.map((s) => s.index), [0, 1, 2, 3, 4, 5]);
  assertEquals(all.target, 5);
  // FROM names a stage case-insensitively and only by name: `FROM 0` is an image, as in BuildKit.
  assertEquals(all.stages.map((s) => [s.base, s.baseStage]), [
    ["scratch", undefined],
    ["scratch", undefined],
    ["scratch", undefined],
    ["build", 0],
    ["0", undefined],
    ["mid", 3],
  ]);
  const skip = planFromDockerfile(MULTI, { target: "final", skipUnusedStages: true });
  assertEquals(skip.stages.map((s) => s.name), ["build", "tool", "mid", "final"]);
  assertEquals(skip.target, 3);
  const mid = planFromDockerfile(MULTI, { target: "mid" });
  assertEquals(mid.stages.map((s) => s.name), ["build", "unused", "tool", "mid"]);
  assertThrows(() => planFromDockerfile(MULTI, { target: "nope" }), KilnError, "could not be found");
});

Deno.test("planFromDockerfile() keeps every earlier stage for a COPY --from with a variable under skip-unused", () => {
  const df = "FROM scratch AS a\nFROM scratch AS b\nFROM scratch AS c\nARG S=a\nCOPY --from=$S /x /x\n";
  assertEquals(planFromDockerfile(df, { skipUnusedStages: true }).stages.map((s) => s.name), ["a", "b", "c"]);
  assertEquals(
    planFromDockerfile("FROM scratch AS a\nFROM scratch AS b\n", { skipUnusedStages: true }).stages.length,
    1,
  );
});

Deno.test("planFromDockerfile() carries global, platform and proxy args and unused-build-arg warnings", () => {
  const plan = planFromDockerfile("ARG G=1\nFROM scratch\nARG USED\n", {
    buildArgs: new Map([["USED", "u"], ["NOPE", "n"], ["HTTP_PROXY", "http://p:1"], ["G", "2"]]),
    platform: { os: "linux", architecture: "arm", variant: "v7" },
    buildPlatform: { os: "linux", architecture: "amd64" },
  });
  assertEquals(plan.globalArgs?.G, "2");
  assertEquals(
    [plan.globalArgs?.TARGETPLATFORM, plan.globalArgs?.TARGETARCH, plan.globalArgs?.TARGETVARIANT],
    ["linux/arm/v7", "arm", "v7"],
  );
  assertEquals([plan.globalArgs?.BUILDPLATFORM, plan.globalArgs?.BUILDARCH], ["linux/amd64", "amd64"]);
  assertEquals(plan.metaArgs.get("G"), "2");
  assertEquals(plan.proxyEnv, { HTTP_PROXY: "http://p:1" });
  assertEquals(plan.warnings, ["One or more build-args [NOPE] were not consumed"]);
  // The warning list is lib/dockerfile's, word for word.
  const direct = planBuild(parseDockerfile("ARG G=1\nFROM scratch\nARG USED\n"), {
    buildArgs: { USED: "u", NOPE: "n", HTTP_PROXY: "http://p:1", G: "2" },
  });
  assertEquals(plan.warnings, direct.warnings);
});

Deno.test("planFromDockerfile() keeps lib/dockerfile's typed instructions; a stage scope expands them in order", () => {
  const plan = planFromDockerfile(
    "FROM scratch\nARG A=1 B\nENV C=${A}x\nLABEL l=$A-$C k=${B:-none}\nWORKDIR /w/$C\nCOPY --chown=$A src/$C /d/\n",
    { buildArgs: new Map([["A", "9"]]) },
  );
  const scope = createStageScope({ baseImageEnv: [], globalArgs: plan.globalArgs ?? {}, buildArgs: { A: "9" } });
  const out = plan.stages[0]!.instructions.map((ins) => {
    if (ins.kind === "arg") {
      scope.declareArgs(ins);
      return undefined;
    }
    const x = scope.expand(ins);
    if (x.kind === "env") scope.setEnv(x.pairs);
    return x;
  });
  assertEquals(plan.stages[0]!.instructions[0]!.kind, "arg");
  const env = out[1], label = out[2], workdir = out[3], copy = out[4];
  assertEquals(env?.kind === "env" && env.pairs, [{ key: "C", value: "9x" }]);
  assertEquals(label?.kind === "label" && label.pairs, [{ key: "l", value: "9-9x" }, { key: "k", value: "none" }]);
  assertEquals(workdir?.kind === "workdir" && workdir.path, "/w/9x");
  assert(copy?.kind === "copy" && copy.chown === "9" && copy.sources[0] === "src/9x" && copy.dest === "/d/");
  // The plan itself stays unexpanded.
  const w = plan.stages[0]!.instructions[3]!;
  assertEquals(w.kind === "workdir" && w.path, "/w/$C");
});

async function labelsOf(
  dockerfile: string,
  buildArgs: string[] = [],
  buildArgEnv: Record<string, string> = {},
  target?: string,
) {
  const work = Deno.makeTempDirSync({ prefix: "kiln-plan-scoping-" });
  try {
    const r = await build({
      context: work,
      dockerfileText: dockerfile,
      outputs: { noPush: true },
      buildArgs: buildArgsFromFlags(buildArgs, buildArgEnv),
      workDir: `${work}/work`,
      platform: { os: "linux", architecture: "arm64" },
      ...(target ? { target } : {}),
    });
    return { labels: r.config.config?.Labels ?? {}, env: r.config.config?.Env ?? [], warnings: r.warnings ?? [] };
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
}

Deno.test("build() scopes ARG/ENV with lib/dockerfile: FROM ancestry, siblings, globals, ENV vs ARG order", async () => {
  const df = [
    "ARG G=global",
    "FROM scratch AS parent",
    "ARG P=parent-default",
    "ENV E=env",
    "FROM parent AS child",
    "LABEL p=$P e=$E g=[$G]",
    "ARG G",
    "LABEL g2=$G",
    "ENV P=env-p",
    "LABEL p2=$P",
    "ARG E=arg-after-env",
    "LABEL e2=$E",
    "ARG TARGETARCH",
    "LABEL arch=$TARGETARCH",
    "FROM scratch AS sibling",
    "LABEL p=[$P] e=[$E]",
    "FROM child",
    "LABEL final_p=$P bare=$BARE",
    "ARG BARE",
    "LABEL bare2=$BARE",
    "",
  ].join("\n");
  const r = await labelsOf(df, ["P=cli", "BARE", "UNUSED=1", "no_proxy=x"], { BARE: "from-env" });
  assertEquals(r.labels, {
    p: "cli",
    e: "env",
    g: "[]",
    g2: "global",
    p2: "env-p",
    e2: "arg-after-env",
    arch: "arm64",
    final_p: "env-p",
    bare: "",
    bare2: "from-env",
  });
  // ARG values never reach the image Env; ENV does (in order, PATH first).
  assertEquals(r.env.slice(1), ["E=env", "P=env-p"]);
  assertEquals(r.warnings, ["One or more build-args [UNUSED] were not consumed"]);
  // A sibling stage sees neither the ARG nor the ENV of another stage.
  const s = await labelsOf(df, ["P=cli"], {}, "sibling");
  assertEquals(s.labels, { p: "[]", e: "[]" });
});

Deno.test("build() ONBUILD ARG triggers of a base stage go through the stage scope", async () => {
  const r = await labelsOf("FROM scratch AS a\nONBUILD ARG X=1\nONBUILD LABEL x=$X\nFROM a\nLABEL y=$X\n", ["X=2"]);
  assertEquals(r.labels, { x: "2", y: "2" });
});
