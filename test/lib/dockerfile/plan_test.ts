/** planBuild(), createStageScope() and expandInstruction(): BuildKit's ARG/ENV scoping, stage graph and expansion. */
import { assert, assertEquals, assertThrows } from "../../assert.ts";
import {
  type BuildPlan,
  createShellLexer,
  createStageScope,
  DockerfileError,
  expandInstruction,
  type Instruction,
  parseDockerfile,
  planBuild,
  type PlanOptions,
  type StageScopeState,
  toStages,
} from "../../../lib/dockerfile/mod.ts";
import { formatPlatform, parsePlatform } from "../../../lib/dockerfile/platform.ts";
import { KilnError } from "../../../lib/util/errors.ts";

const plan = (text: string, opts: PlanOptions = {}) => planBuild(parseDockerfile(text), opts);

/** Dispatches ARG/ENV of the needed stages like an executor would; returns each stage's final state. */
function dispatch(p: BuildPlan): Map<number, StageScopeState> {
  const lexer = createShellLexer(p.escapeToken);
  const states = new Map<number, StageScopeState>();
  for (const i of p.order) {
    const ps = p.stages[i]!;
    const parent = ps.base.kind === "stage" ? states.get(ps.base.index) : undefined;
    const scope = createStageScope({
      ...(parent ? { parent } : { baseImageEnv: ["PATH=/bin"] }),
      globalArgs: p.globalArgs,
      buildArgs: p.buildArgs,
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
  return states;
}
const envOf = (p: BuildPlan, i: number) => Object.fromEntries(dispatch(p).get(i)!.env);

Deno.test("global ARGs are visible in FROM only, and in a stage only after ARG re-declares them", () => {
  const text = "ARG V=1\nARG TAG=3.$V\nFROM alpine:$TAG\nENV X=${V:-unset}\nARG V\nENV Y=$V\n";
  const p = plan(text);
  assertEquals(p.stages[0]!.base, { kind: "image", ref: "alpine:3.1" });
  assertEquals(p.stages[0]!.usedGlobalArgs, ["TAG"]);
  const env = envOf(p, 0);
  assertEquals([env.X, env.Y, env.V], ["unset", "1", "1"]);
  const q = plan(text, { buildArgs: { V: "2" } });
  assertEquals([q.stages[0]!.base, envOf(q, 0).Y], [{ kind: "image", ref: "alpine:3.2" }, "2"]);
  assertEquals(envOf(plan(text, { buildArgs: { TAG: "edge" } }), 0).Y, "1");
  assertEquals(plan(text, { buildArgs: { TAG: "edge" } }).stages[0]!.base, { kind: "image", ref: "alpine:edge" });
});

Deno.test("ARG values are inherited through FROM <stage> ancestry, never by sibling stages", () => {
  const p = plan(
    "FROM a AS one\nARG X=1\nENV E=e1\nFROM one AS child\nENV Y=$X\nFROM a AS sibling\nENV Y=${X:-none}-${E:-none}\n" +
      "FROM scratch\nCOPY --from=child / /\nCOPY --from=sibling / /\n",
  );
  const s = dispatch(p);
  const child = Object.fromEntries(s.get(1)!.env), sibling = Object.fromEntries(s.get(2)!.env);
  assertEquals([child.X, child.Y, child.E], ["1", "1", "e1"]);
  assertEquals(s.get(1)!.args, [{ key: "X", value: "1" }]);
  assertEquals(s.get(1)!.imageEnv, ["PATH=/bin", "E=e1", "Y=1"]);
  assertEquals([sibling.X, sibling.Y], [undefined, "none-none"]);
  assertEquals(s.get(2)!.args, []);
});

Deno.test("ENV overrides ARG; later ARG/ENV win in the environment; ARG never reaches the image Env", () => {
  const p = plan(
    "FROM a\nARG A=arg\nENV A=env\nENV B=$A\nENV C=c\nARG C=argc\nENV D=$C\nARG F=${B}-x\nENV G=$F\n",
    { buildArgs: { A: "built" } },
  );
  const st = dispatch(p).get(0)!;
  const env = Object.fromEntries(st.env);
  assertEquals([env.A, env.B, env.C, env.D, env.G], ["env", "env", "argc", "argc", "env-x"]);
  assertEquals(st.imageEnv, ["PATH=/bin", "A=env", "B=env", "C=c", "D=argc", "G=env-x"]);
});

Deno.test("build args override ARG defaults; ARG without value stays unset", () => {
  const p = plan("FROM a\nARG X=1\nARG Y\nARG Z\nENV R=$X-${Y-unset}-$Z\n", { buildArgs: { X: "9", Z: "z" } });
  const st = dispatch(p).get(0)!;
  assertEquals(Object.fromEntries(st.env).R, "9-unset-z");
  assertEquals(st.args, [{ key: "X", value: "9" }, { key: "Y" }, { key: "Z", value: "z" }]);
});

Deno.test("automatic platform args: global, need ARG inside a stage, overridable", () => {
  const text =
    "ARG P=$TARGETARCH\nFROM --platform=$BUILDPLATFORM a AS b\nENV N=${TARGETARCH:-no}\nARG TARGETARCH\nARG TARGETPLATFORM\n" +
    "ARG P\nARG TARGETSTAGE\nENV T=$TARGETARCH P=$P S=$TARGETSTAGE TP=$TARGETPLATFORM\n";
  const p = plan(text, {
    buildPlatform: { os: "linux", architecture: "amd64" },
    targetPlatform: { os: "linux", architecture: "arm", variant: "v7" },
  });
  assertEquals(p.stages[0]!.platform, { os: "linux", architecture: "amd64" });
  assertEquals(p.globalArgs.TARGETPLATFORM, "linux/arm/v7");
  assertEquals(p.globalArgs.BUILDARCH, "amd64");
  const env = envOf(p, 0);
  assertEquals([env.N, env.T, env.P, env.S, env.TP], ["no", "arm", "arm", "b", "linux/arm/v7"]);
  assertEquals(plan(text, { buildArgs: { TARGETARCH: "riscv64" } }).globalArgs.TARGETARCH, "riscv64");
  assertEquals(plan("FROM a\n").globalArgs.TARGETSTAGE, "default");
});

Deno.test("predefined proxy args reach RUN without ARG, are not warned about, not in the environment", () => {
  const p = plan("FROM a\nRUN x\n", {
    buildArgs: { HTTP_PROXY: "h", no_proxy: "n", UNUSED: "u", BUILDKIT_INLINE_CACHE: "1" },
  });
  assertEquals(p.proxyEnv, { HTTP_PROXY: "h", no_proxy: "n" });
  assertEquals(p.warnings, [
    "build-arg BUILDKIT_INLINE_CACHE has no effect in kiln (BuildKit-specific)",
    "One or more build-args [UNUSED] were not consumed",
  ]);
  assertEquals(envOf(p, 0).HTTP_PROXY, undefined);
  const declared = plan("FROM a\nARG HTTP_PROXY\nARG USED\n", { buildArgs: { HTTP_PROXY: "h", USED: "1" } });
  assertEquals([envOf(declared, 0).HTTP_PROXY, declared.warnings], ["h", []]);
});

Deno.test("planBuild() resolves bases, dependencies, the target and the stages it needs", () => {
  const text = [
    "FROM golang AS Build",
    "ONBUILD COPY --from=tools /t /t",
    "FROM busybox AS tools",
    "FROM build AS test",
    "RUN --mount=type=cache,target=/c --mount=from=tools,target=/x go test",
    "FROM scratch AS unused",
    "FROM scratch",
    "COPY --from=BUILD /out /app",
    "COPY --from=1 /bin/sh /sh",
    "COPY --from=nginx:latest /etc/nginx /nginx",
    "",
  ].join("\n");
  const p = plan(text);
  assertEquals(p.stages.map((s) => [s.name, s.base]), [
    ["build", { kind: "image", ref: "golang" }],
    ["tools", { kind: "image", ref: "busybox" }],
    ["test", { kind: "stage", index: 0 }],
    ["unused", { kind: "scratch" }],
    [undefined, { kind: "scratch" }],
  ]);
  assertEquals(p.stages[2]!.dependencies, [
    { kind: "stage", index: 0, via: "from", line: 4 },
    { kind: "stage", index: 1, via: "mount", line: 5 },
    { kind: "stage", index: 1, via: "onbuild", line: 4 },
  ]);
  assertEquals(p.stages[4]!.dependencies, [
    { kind: "stage", index: 0, via: "copy", line: 8 },
    { kind: "stage", index: 1, via: "copy", line: 9 },
    { kind: "image", ref: "nginx:latest", via: "copy", line: 10 },
  ]);
  assertEquals([p.target, p.order], [4, [0, 1, 4]]);
  const t = plan(text, { target: "TEST" });
  assertEquals([t.target, t.order], [2, [0, 1, 2]]);
  assertEquals(plan(text, { target: "unused" }).order, [3]);
  const e = assertThrows(() => plan(text, { target: "nope" }), KilnError);
  assertEquals(e.message, 'target stage "nope" could not be found in Dockerfile');
});

Deno.test("planBuild() rejects references to the current, later or missing stages and bad FROM values", () => {
  const err = (text: string, opts: PlanOptions = {}) => assertThrows(() => plan(text, opts), DockerfileError).message;
  assertEquals(
    err("FROM a AS x\nCOPY --from=y / /\nFROM b AS y\n"),
    "Dockerfile:2: --from=y refers to a later stage (y); it needs to be defined before stage x",
  );
  assertEquals(
    err("FROM a AS x\nRUN --mount=from=x,target=/m true\n"),
    "Dockerfile:2: --from=x refers to the current stage (x); it needs to be defined before stage x",
  );
  assertEquals(err("FROM a\nCOPY --from=5 / /\n"), "Dockerfile:2: invalid stage index 5 in --from=5");
  assertEquals(err("FROM a\nCOPY --from=-1 / /\n"), "Dockerfile:2: invalid stage index -1 in --from=-1");
  assertEquals(
    err("FROM a\nFROM b\nCOPY --from=1 / /\n"),
    "Dockerfile:3: --from=1 refers to the current stage (stage 1); it needs to be defined before stage 1",
  );
  assertEquals(err("ARG E\nFROM $E\n"), "Dockerfile:2: base name ($E) should not be blank");
  assertEquals(err("ARG P\nFROM --platform=$P a\n"), "Dockerfile:2: empty platform value from expression $P");
  assertEquals(
    err("FROM --platform=linux/arm/v7/x a\n"),
    'Dockerfile:1: failed to parse platform linux/arm/v7/x: "linux/arm/v7/x" is not a valid platform',
  );
  assertEquals(
    err("ARG A=${X:?must_be_set}\nFROM a\n"),
    'Dockerfile:1: failed to process "${X:?must_be_set}": X: must_be_set',
  );
  assertEquals(err("FROM ${X:?needX}\n").startsWith("Dockerfile:1: failed to process"), true);
  // FROM <name> of a later (or the same) stage is an image, as in BuildKit.
  assertEquals(plan("FROM later AS first\nFROM a AS later\n").stages[0]!.base, { kind: "image", ref: "later" });
  assertEquals(plan("FROM self AS self\n").stages[0]!.base, { kind: "image", ref: "self" });
  assert(plan("FROM a AS scratch\n").warnings[0]!.includes('stage name "scratch" is reserved'));
});

Deno.test("expandInstruction() expands exactly the words BuildKit expands", () => {
  const text = [
    "FROM a",
    'ENV $K=$V L="q $V"',
    "LABEL $K=$V",
    "WORKDIR /w/$V",
    "USER $V:$V",
    "STOPSIGNAL SIG$V",
    "EXPOSE $P/udp ${Q}",
    "VOLUME /v/$V",
    "COPY --chown=$V --chmod=$M --from=$V --exclude=*.$V src/$V /dst/$V",
    "ADD --checksum=sha256:$V <<EOF <<'RAW' /d",
    'x="$V"',
    "EOF",
    "$V",
    "RAW",
    "RUN --mount=type=cache,target=/c/$V,id=$V echo $V",
    "CMD echo $V",
    "ONBUILD RUN echo $V",
    "",
  ].join("\n");
  const env = { K: "key", V: "val", P: "53", M: "755", Q: "80 443" };
  const out = toStages(parseDockerfile(text)).stages[0]!.instructions.map((i) => expandInstruction(i, env));
  const get = <K extends Instruction["kind"]>(k: K) =>
    out.find((i) => i.kind === k) as Extract<Instruction, { kind: K }>;
  assertEquals(get("env").pairs, [{ key: "key", value: "val" }, { key: "L", value: "q val" }]);
  assertEquals(get("label").pairs, [{ key: "key", value: "val" }]);
  assertEquals(get("workdir").path, "/w/val");
  assertEquals(get("user").user, "val:val");
  assertEquals(get("stopsignal").signal, "SIGval");
  assertEquals(get("expose").ports, ["53/udp", "80", "443"]);
  assertEquals(get("volume").paths, ["/v/val"]);
  const c = get("copy");
  assertEquals([c.chown, c.chmod, c.from, c.excludes, c.sources, c.dest], [
    "val",
    "755",
    "$V",
    ["*.val"],
    ["src/val"],
    "/dst/val",
  ]);
  const a = get("add");
  assertEquals([a.checksum, a.sourceContents.map((s) => s.data)], ["sha256:val", ['x="val"\n', "$V\n"]]);
  assertEquals(get("run").mounts, [{ type: "cache", readOnly: false, target: "/c/val", id: "val", sharing: "shared" }]);
  assertEquals(get("run").command, ["echo $V"]);
  assertEquals(get("cmd").command, ["echo $V"]);
  assertEquals(get("onbuild").expression, "RUN echo $V");
});

Deno.test("expandInstruction() reports expansion and mount errors at the instruction's line", () => {
  const { stages } = toStages(parseDockerfile("FROM a\n\nWORKDIR ${W:?no workdir}\nRUN --mount=type=$T x\n"));
  const [wd, run] = stages[0]!.instructions;
  const e = assertThrows(() => expandInstruction(wd!, {}, { filename: "f" }), DockerfileError);
  assertEquals(e.message, 'f:3: failed to process "${W:?no workdir}": W: no workdir');
  const m = assertThrows(() => expandInstruction(run!, { T: "nfs" }), DockerfileError);
  assertEquals(m.message, 'Dockerfile:4: unsupported mount type "nfs"');
  const scope = createStageScope({ baseImageEnv: [] });
  const arg = toStages(parseDockerfile("FROM a\nARG X=${Y:?}\n")).stages[0]!.instructions[0]!;
  assertThrows(() => arg.kind === "arg" && scope.declareArgs(arg), DockerfileError, "Y: is not allowed to be unset");
});

Deno.test("the plan's lexer follows the file's escape token", () => {
  const p = plan("# escape=`\nARG V=a`$b\nFROM img:$V\n");
  assertEquals(p.stages[0]!.base, { kind: "image", ref: "img:a$b" });
});

Deno.test("parsePlatform() and formatPlatform() normalise as containerd", () => {
  const f = (s: string) => {
    const p = parsePlatform(s);
    return p ? formatPlatform(p) : "invalid";
  };
  assertEquals(
    [
      "linux/amd64",
      "linux/x86_64",
      "linux/aarch64",
      "linux/arm64/v8",
      "linux/arm",
      "linux/armhf",
      "arm64",
      "windows",
      "a/b/c/d",
      "linux/",
    ]
      .map(f),
    [
      "linux/amd64",
      "linux/amd64",
      "linux/arm64",
      "linux/arm64",
      "linux/arm/v7",
      "linux/arm/v7",
      "linux/arm64",
      "windows/amd64",
      "invalid",
      "invalid",
    ],
  );
});

Deno.test("an ARG's name is expanded (BuildKit's ArgCommand.Expand, kaniko): ENV src=file3 then ARG ${src}=default", () => {
  const p = plan("FROM alpine\nENV src=file3\nARG ${src}=default\nARG ${src}_b\nENV out=$file3\n");
  const env = envOf(p, 0);
  assertEquals([env.file3, env.out], ["default", "default"]);
  const withArg = plan("FROM alpine\nENV src=file3\nARG ${src}=default\nENV out=$file3\n", {
    buildArgs: { file3: "given" },
  });
  assertEquals(envOf(withArg, 0).out, "given", "a --build-arg of the expanded name wins");
});
