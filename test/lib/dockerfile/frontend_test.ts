/**
 * lib/dockerfile/frontend.ts through planBuild(): `# syntax=` (kiln cannot run frontend images: a custom one warns),
 * `# check=` (skip=, error=true, BUILDKIT_DOCKERFILE_CHECK) and BuildKit-only build args (warned, not silent).
 */
import { parseDockerfile } from "../../../lib/dockerfile/parser.ts";
import { planBuild } from "../../../lib/dockerfile/plan.ts";
import { DockerfileError } from "../../../lib/dockerfile/errors.ts";
import { parseCheckDirective } from "../../../lib/dockerfile/frontend.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { assert, assertEquals, assertThrows } from "../../assert.ts";

const plan = (text: string, buildArgs: Record<string, string> = {}) =>
  planBuild(parseDockerfile(text, { filename: "Dockerfile" }), { buildArgs });

Deno.test("planBuild() accepts # syntax=docker/dockerfile:* silently and warns for any other frontend image", () => {
  for (
    const s of [
      "docker/dockerfile:1",
      "docker/dockerfile:1.7-labs",
      "docker.io/docker/dockerfile-upstream:master",
      `docker/dockerfile:1@sha256:${"a".repeat(64)}`,
      "docker/dockerfile",
    ]
  ) assertEquals(plan(`# syntax=${s}\nFROM scratch\n`).warnings, [], s);
  const custom = plan("# syntax = example.com/my/frontend:2\nFROM scratch\n").warnings;
  assertEquals(custom.length, 1);
  assert(custom[0]!.startsWith("Dockerfile:1: # syntax=example.com/my/frontend:2: kiln cannot run frontend images"));
  // BUILDKIT_SYNTAX wins over the directive, as in BuildKit; dockerfile.v0 means the built-in frontend.
  assertEquals(plan("# syntax=example.com/fe\nFROM scratch\n", { BUILDKIT_SYNTAX: "dockerfile.v0" }).warnings, []);
  const arg = plan("FROM scratch\n", { BUILDKIT_SYNTAX: "tonistiigi/fe:x" }).warnings;
  assert(arg.length === 1 && arg[0]!.startsWith("build-arg BUILDKIT_SYNTAX=tonistiigi/fe:x: kiln cannot run"), arg[0]);
});

Deno.test("planBuild() rejects the other frontends' syntax forms (// syntax=, JSON) with a FILE:LINE: error", () => {
  assertThrows(
    () => plan("// syntax=example.com/fe\nFROM scratch\n"),
    DockerfileError,
    "Dockerfile:1: unknown instruction",
  );
  assertThrows(() => plan('{"syntax": "example.com/fe"}\n'), DockerfileError, "Dockerfile:1: unknown instruction");
  // A #! line is a comment.
  assertEquals(plan("#!/usr/bin/env kiln\nFROM scratch\n").stages.length, 1);
});

Deno.test("parseCheckDirective() reads skip=, error= and experimental= and rejects anything else", () => {
  const c = parseCheckDirective(" skip = JSONArgsRecommended,StageNameCasing ; error=true;experimental=all");
  assert(typeof c !== "string" && c.skip !== "all");
  assertEquals([[...c.skip], c.error], [["JSONArgsRecommended", "StageNameCasing"], true]);
  const all = parseCheckDirective("skip=all;error=false");
  assert(typeof all !== "string" && all.skip === "all" && !all.error);
  assertEquals(typeof parseCheckDirective("error=maybe"), "string");
  assertEquals(typeof parseCheckDirective("nope=1"), "string");
  assertEquals(typeof parseCheckDirective("skip"), "string");
});

Deno.test("# check= skips kiln's build checks, error=true fails on them, and says which rules kiln runs", () => {
  const reserved = "FROM scratch AS context\n";
  assertEquals(plan(reserved).warnings, ['Dockerfile:1: stage name "context" is reserved']);
  assertEquals(plan(`# check=skip=ReservedStageName\n${reserved}`).warnings, []);
  assertEquals(plan(`# check=skip=all\n${reserved}`).warnings, []);
  assertThrows(
    () => plan(`# check=error=true\n${reserved}`),
    DockerfileError,
    'Dockerfile:2: stage name "context" is reserved (build check ReservedStageName failed, and # check=error=true)',
  );
  const empty = "# check=error=true\nFROM scratch\nLABEL a=1 \\\n\n  b=2\n";
  assertThrows(() => plan(empty), DockerfileError, "Dockerfile:5: Empty continuation line found");
  assertEquals(plan(empty, { BUILDKIT_DOCKERFILE_CHECK: "skip=NoEmptyContinuation" }).warnings, []);
  // error=true with nothing found builds, with one warning naming the rules kiln checks.
  const ok = plan("# check=skip=JSONArgsRecommended;error=true\nFROM scratch\nCMD echo hi\n").warnings;
  assertEquals(ok.length, 1);
  assert(ok[0]!.startsWith("Dockerfile:1: check error=true: kiln runs only the build checks NoEmptyContinuation"));
  assertThrows(
    () => plan("# check=foo=bar\nFROM scratch\n"),
    DockerfileError,
    'Dockerfile:1: invalid check directive "foo=bar"',
  );
  assertThrows(
    () => plan("FROM scratch\n", { BUILDKIT_DOCKERFILE_CHECK: "error=yes!" }),
    KilnError,
    "BUILDKIT_DOCKERFILE_CHECK",
  );
});

Deno.test("planBuild() warns for BuildKit-steering build args kiln does not act on, not for the ones it does", () => {
  const w = plan("FROM scratch\n", {
    BUILDKIT_INLINE_CACHE: "1",
    BUILDKIT_MULTI_PLATFORM: "1",
    BUILDKIT_CACHE_MOUNT_NS: "ns",
    BUILDKIT_CONTEXT_KEEP_GIT_DIR: "1",
    BUILDKIT_SANDBOX_HOSTNAME: "h",
    BUILDKIT_SYNTAX: "docker/dockerfile:1",
    SOURCE_DATE_EPOCH: "0",
  }).warnings;
  assertEquals(w, [
    "build-arg BUILDKIT_CACHE_MOUNT_NS has no effect in kiln (BuildKit-specific)",
    "build-arg BUILDKIT_CONTEXT_KEEP_GIT_DIR has no effect in kiln (BuildKit-specific)",
    "build-arg BUILDKIT_INLINE_CACHE has no effect in kiln (BuildKit-specific)",
    "build-arg BUILDKIT_MULTI_PLATFORM has no effect in kiln (BuildKit-specific)",
    "build-arg SOURCE_DATE_EPOCH does not set kiln's timestamps (use --reproducible with the SOURCE_DATE_EPOCH " +
    "environment variable); it only reaches the Dockerfile as an ARG",
  ]);
});
