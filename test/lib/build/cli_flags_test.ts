/** `kiln build` flags → BuildOptions, and the CLI's exit codes. */
import { BUILD_FLAGS, buildOptionsFromFlags } from "../../../cli/commands/build.ts";
import { parseFlags } from "../../../cli/flags.ts";
import { main } from "../../../cli/main.ts";
import type { CliIO } from "../../../cli/command.ts";
import { KilnError, UsageError } from "../../../lib/util/errors.ts";
import { REPO_ROOT, skipUnless } from "../../fixtures/tools.ts";
import { assert, assertEquals, assertMatch, assertThrows } from "../../assert.ts";
import { memoryIO } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

function io(env: Record<string, string> = {}): CliIO & { out: string[]; err: string[] } {
  return memoryIO("/work/ctx-parent", env);
}

function opts(args: string[], env: Record<string, string> = {}) {
  const i = io(env);
  return buildOptionsFromFlags(parseFlags(args, BUILD_FLAGS, env).values, i);
}

Deno.test("kiln build flags: kebab names, camelCase aliases, short forms and repeats map to BuildOptions", () => {
  const o = opts([
    "-f",
    "docker/Dockerfile",
    "-c",
    "dir://ctx",
    "-d",
    "reg/a:1",
    "--destination=reg/a:2",
    "--build-arg",
    "A=1",
    "--build-arg=B",
    "--snapshotMode=redo",
    "--tarPath",
    "out/i.tar",
    "--noPush",
    "--customPlatform=linux/arm64",
    "--label",
    "k=v",
    "--single-snapshot=true",
    "--reproducible",
    "--compression=zstd",
    "--compression-level=9",
    "--insecure-registry",
    "r:5000",
    "--registry-map=index.docker.io=mirror.local;quay.io=q.local",
    "--build-context",
    "base=oci-layout:///l:latest",
    "--ignore-path=/cache",
    "--ignore-var-run=false",
    "--target",
    "final",
  ], { B: "from-env" });
  assertEquals(o.context, "/work/ctx-parent/ctx");
  assertEquals(o.dockerfile, "docker/Dockerfile");
  assertEquals(o.outputs?.destinations, ["reg/a:1", "reg/a:2"]);
  assertEquals(o.buildArgs, { A: "1", B: "from-env" }, "a bare --build-arg B is read from the environment");
  assertEquals(o.snapshot?.mode, "redo");
  assertEquals(o.outputs?.tarPath, "/work/ctx-parent/out/i.tar");
  assertEquals(o.outputs?.noPush, true);
  assertEquals(o.platform, { os: "linux", architecture: "arm64" });
  assertEquals(o.labels, { k: "v" });
  assertEquals([o.snapshot?.single, o.layers?.reproducible, o.layers?.compression, o.layers?.compressionLevel], [
    true,
    true,
    "zstd",
    9,
  ]);
  assertEquals(o.registry?.insecureRegistries, ["r:5000"]);
  assertEquals(o.registry?.registryMap, { "index.docker.io": ["mirror.local"], "quay.io": ["q.local"] });
  assertEquals(o.buildContexts, { base: "oci-layout:///l:latest" });
  assertEquals([o.snapshot?.ignorePaths, o.snapshot?.ignoreVarRun, o.target], [["/cache"], false, "final"]);
});

Deno.test("kiln build flags: environment fallbacks and SOURCE_DATE_EPOCH", () => {
  const o = opts([], { KANIKO_NO_PUSH: "true", KANIKO_REGISTRY_MIRROR: "m1,m2", SOURCE_DATE_EPOCH: "1700000000" });
  assertEquals(o.outputs?.noPush, true);
  assertEquals(o.registry?.registryMirrors, ["m1", "m2"]);
  assertEquals(o.layers?.sourceDateEpoch, 1700000000);
  assertEquals(o.sandbox?.mode, "sandbox");
  assertEquals(opts(["--in-place", "--force"]).sandbox, { mode: "in-place", cleanup: false, force: true });
});

Deno.test("kiln build flags: GIT_USERNAME/GIT_PASSWORD/GIT_TOKEN reach BuildOptions.gitEnv (ADD of git URLs)", () => {
  const o = opts([], { GIT_USERNAME: "u", GIT_PASSWORD: "p", GIT_TOKEN: "t", OTHER: "x" });
  assertEquals(o.gitEnv, { GIT_USERNAME: "u", GIT_PASSWORD: "p", GIT_TOKEN: "t" });
});

Deno.test("kiln build flags: --cache and its flags map to BuildOptions.cache; bad values are usage errors", () => {
  assertEquals(opts(["--cache=false"]).cache, undefined);
  const c = opts([
    "--cache=true",
    "--cache-repo=oci:/c",
    "--cache-ttl=2h30m",
    "--cache-copy-layers",
    "--no-push-cache",
  ]);
  assertEquals(c.cache?.repo, "oci:/c");
  assertEquals(c.cache?.ttlMs, 9_000_000);
  assertEquals([c.cache?.runLayers, c.cache?.copyLayers, c.cache?.push], [true, true, false]);
  assertEquals(opts(["--cache", "--cache-run-layers=false"]).cache?.runLayers, false);
  assertThrows(() => opts(["--cache", "--cache-ttl=2 weeks"]), UsageError, "--cache-ttl");
  assertEquals(opts(["--cache"]).cache?.baseImageDir, "/cache");
  assertEquals(opts(["--cache", "--cache-dir=bases"]).cache?.baseImageDir, "/work/ctx-parent/bases");
  const i = io();
  assertEquals(buildOptionsFromFlags(parseFlags(["--cache-dir=/c"], BUILD_FLAGS, {}).values, i).cache, undefined);
  assertMatch(i.err.join(""), /--cache-dir is read only with --cache=true/);
  assertThrows(() => opts(["--snapshot-mode=fast"]), UsageError, "snapshot-mode");
  assertThrows(() => opts(["--compression=xz"]), UsageError, "compression");
  assertThrows(() => opts(["--sandbox", "--in-place"]), UsageError);
  assertThrows(() => opts(["--label=novalue"]), UsageError, "KEY=VALUE");
  // platform strings are parsed here, in cli/: the library takes a Platform
  assertThrows(() => opts(["--custom-platform=linux"]), KilnError, 'Invalid platform "linux"');
});

Deno.test({
  name: "kiln (no subcommand) builds examples/hello; exit 0 on success, 1 on a build error, 2 on a usage error",
  ignore: skipUnless("cli build", "root"),
  async fn() {
    const out = tempDir("kiln-cli-");
    const ok = io();
    ok.cwd = REPO_ROOT;
    const code = await main(["-c", "examples/hello", "--no-push", `--oci-layout-path=${out}/l`, "-v", "error"], ok);
    assertEquals(code, 0, ok.err.join(""));
    assertMatch(ok.out.join(""), /^sha256:[0-9a-f]{64}\n$/);
    const bad = io();
    bad.cwd = REPO_ROOT;
    assertEquals(await main(["build", "-c", "examples/hello", "-f", "nope.Dockerfile", "--no-push"], bad), 2);
    const fail = io();
    fail.cwd = out;
    Deno.writeTextFileSync(`${out}/Dockerfile`, "FROM scratch\nCOPY missing /x\n");
    assertEquals(await main(["build", "-c", out, "--no-push", "-v", "error"], fail), 1);
    assertEquals(fail.err.length, 1, fail.err.join(""));
    assert(fail.err[0]!.startsWith("Dockerfile:2: "), fail.err[0]);
    assertEquals(await main(["build", "--bogus"], io()), 2);
    // A context that is not there is an error about the context (not a Dockerfile lookup); which Dockerfile a build
    // took is said at info.
    const noCtx = io();
    noCtx.cwd = out;
    assertEquals(await main(["build", "-c", "no/such/dir", "--no-push"], noCtx), 2);
    assertMatch(noCtx.err.join("").trim(), /^kiln: Cannot use the build context \S*no\/such\/dir: no such directory$/);
    const notDir = io();
    notDir.cwd = out;
    assertEquals(await main(["build", "-c", "Dockerfile", "--no-push"], notDir), 2);
    assertMatch(notDir.err.join(""), /build context \S*Dockerfile: not a directory/);
    const said = io();
    said.cwd = REPO_ROOT;
    assertEquals(
      await main(["build", "-c", "examples/hello", "--no-push", "-v", "info", "--log-format=text"], said),
      0,
    );
    assertMatch(said.err.join(""), /INFO Using Dockerfile examples\/hello\/Dockerfile\n/);
    Deno.removeSync(out, { recursive: true });
  },
});

Deno.test({
  name: "kiln build exits with a failing RUN's own status (kaniko's behaviour), naming the step",
  ignore: skipUnless("cli build RUN", "root", "busybox"),
  async fn() {
    const ctx = tempDir("kiln-cli-run-");
    Deno.copyFileSync("/bin/busybox", `${ctx}/busybox`);
    for (const status of [3, 7, 1]) {
      Deno.writeTextFileSync(
        `${ctx}/Dockerfile`,
        `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "exit ${status}"]\n`,
      );
      const r = io();
      assertEquals(await main(["build", "-c", ctx, "--no-push", "-v", "error", `--work-dir=${ctx}/.w`], r), status);
      assertEquals(r.err.length, 1, r.err.join(""));
      assertMatch(r.err[0]!, new RegExp(`^Dockerfile:3: step 2/2 .* failed: exit code ${status}\n$`));
    }
    Deno.removeSync(ctx, { recursive: true });
  },
});

Deno.test({
  name: "kiln build: a RUN step's stdout and stderr lines say which in JSON logs, and only there",
  ignore: skipUnless("cli build RUN", "root", "busybox"),
  async fn() {
    const ctx = tempDir("kiln-cli-streams-");
    Deno.copyFileSync("/bin/busybox", `${ctx}/busybox`);
    Deno.writeTextFileSync(
      `${ctx}/Dockerfile`,
      `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo to-out; echo to-err >&2"]\n`,
    );
    const json = io();
    assertEquals(await main(["build", "-c", ctx, "--no-push", "--log-format=json", `--work-dir=${ctx}/.w`], json), 0);
    const lines = json.err.join("").trim().split("\n").map((l) => JSON.parse(l));
    const out = lines.find((l) => l.msg === "to-out");
    const err = lines.find((l) => l.msg === "to-err");
    assertEquals([out?.stream, err?.stream], ["stdout", "stderr"], json.err.join(""));
    const text = io();
    assertEquals(await main(["build", "-c", ctx, "--no-push", "--log-format=text", `--work-dir=${ctx}/.w`], text), 0);
    assertMatch(text.err.join(""), /^INFO to-err$/m); // text lines stay as the step wrote them
    Deno.removeSync(ctx, { recursive: true });
  },
});

Deno.test("kiln build: the kaniko fork's flags — several --target, --image-format, warnings for no-ops", () => {
  const o = opts(["--target", "a,b", "--target=c", "--image-format=docker"]);
  assertEquals([o.target, o.alsoTargets, o.outputs?.format], ["a", ["b", "c"], "docker"]);
  assertThrows(() => opts(["--image-format=v1"]), UsageError, "--image-format");
  const i = io();
  const w = buildOptionsFromFlags(
    parseFlags(["--force-build-metadata", "--preserve-context", "--materialize", "--pre-cleanup"], BUILD_FLAGS, {})
      .values,
    i,
  );
  assertEquals([w.sandbox?.materialize, w.sandbox?.preCleanup], [undefined, undefined], "no-ops in sandbox mode");
  const warned = i.err.join("");
  for (const f of ["force-build-metadata", "preserve-context", "materialize", "pre-cleanup"]) {
    assertMatch(warned, new RegExp(`--${f} has no effect`));
  }
  const inPlace = opts(["--in-place", "--materialize", "--pre-cleanup"]);
  assertEquals([inPlace.sandbox?.materialize, inPlace.sandbox?.preCleanup], [true, true]);
  assertEquals(opts([], { KANIKO_PRE_CLEANUP: "true", KILN_IN_PLACE: "true" }).sandbox?.preCleanup, true);
});

Deno.test("kiln build --dryrun prints the stages to build, their steps and what is skipped, and builds nothing", async () => {
  const ctx = tempDir("kiln-dryrun-");
  Deno.writeTextFileSync(
    `${ctx}/Dockerfile`,
    "FROM scratch AS a\nLABEL a=1\nFROM scratch AS unused\nLABEL u=1\nFROM a AS b\nCOPY --from=a / /x\n",
  );
  const r = io();
  assertEquals(await main(["build", "-c", ctx, "--dryrun", "-d", "reg.example/app:1"], r), 0, r.err.join(""));
  assertEquals(
    r.out.join(""),
    [
      "stage 0 (a): FROM scratch AS a",
      "  Dockerfile:2  LABEL a=1",
      "stage 2 (b): FROM a AS b   <- target",
      "  Dockerfile:6  COPY --from=a / /x",
      "not built (no target needs them): stage 1",
      "destinations: reg.example/app:1",
      "",
    ].join("\n"),
  );
  assertEquals(Deno.readDirSync(ctx).toArray().map((e) => e.name), ["Dockerfile"]);
  Deno.removeSync(ctx, { recursive: true });
});

Deno.test("log format: colour only on a terminal without NO_COLOR or TERM=dumb, unless --log-format says so", async () => {
  const { logFormatFor } = await import("../../../cli/common_flags.ts");
  assertEquals(logFormatFor(undefined, { stderrIsTTY: true, env: {} }), "color");
  assertEquals(logFormatFor(undefined, { stderrIsTTY: false, env: {} }), "text", "a pipe or a CI log");
  assertEquals(logFormatFor(undefined, { stderrIsTTY: true, env: { NO_COLOR: "1" } }), "text");
  assertEquals(logFormatFor(undefined, { stderrIsTTY: true, env: { TERM: "dumb" } }), "text");
  assertEquals(logFormatFor("color", { stderrIsTTY: false, env: { NO_COLOR: "1" } }), "color", "asked for");
  assertEquals(logFormatFor("json", { env: {} }), "json");
  assertThrows(() => logFormatFor("fancy", { env: {} }), UsageError, "--log-format");
  // Through the CLI: a build whose stderr is no terminal writes no ANSI escapes.
  const ctx = tempDir("kiln-logfmt-");
  Deno.writeTextFileSync(`${ctx}/Dockerfile`, "FROM scratch\nLABEL a=b\n");
  const r = io();
  assertEquals(await main(["build", "-c", ctx, "--no-push", `--work-dir=${ctx}/.w`], r), 0, r.err.join(""));
  assert(r.err.join("").includes("STEP 1/1"), r.err.join(""));
  assert(!r.err.join("").includes("\x1b["), "no ANSI codes in a pipe");
  Deno.removeSync(ctx, { recursive: true });
});

Deno.test("kiln build --platform / --custom-platform lists and --attest map to platforms and attestations", () => {
  const one = opts(["--platform", "linux/arm64", "--no-push"]);
  assertEquals([one.platform, one.platforms], [{ os: "linux", architecture: "arm64" }, undefined]);
  const two = opts(["--platform", "linux/amd64,linux/arm64/v8", "--platform=linux/s390x", "--no-push"]);
  assertEquals(two.platforms, [
    { os: "linux", architecture: "amd64" },
    { os: "linux", architecture: "arm64", variant: "v8" },
    { os: "linux", architecture: "s390x" },
  ]);
  assertEquals(two.platform, undefined);
  assertEquals(opts(["--custom-platform=linux/amd64,linux/arm64", "--no-push"]).platforms?.length, 2);
  const att = opts(["--attest", "type=provenance,mode=max", "--attest=type=sbom", "--attest", "type=provenance"]);
  assertEquals(att.attestations, [{ type: "provenance", mode: "max" }, { type: "sbom" }, {
    type: "provenance",
    mode: "min",
  }]);
  for (
    const [bad, msg] of [
      ["type=slsa", /type must be provenance or sbom/],
      ["type=provenance,mode=full", /mode must be min or max/],
      ["type=provenance,version=v1", /takes mode=min\|max, not version/],
      ["type=sbom,generator=x", /type=sbom takes no generator/],
      ["provenance", /expected KEY=VALUE pairs/],
    ] as const
  ) {
    const e = assertThrows(() => opts(["--attest", bad]), UsageError);
    assertMatch(e.message, msg);
  }
  assertThrows(() => opts(["--platform", "linux/amd64,bogus//x"]), Error);
});
