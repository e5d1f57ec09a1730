/**
 * Rows of the Dockerfile feature inventory (docs/dockerfile-support.md) that no other test proves through build():
 * config fields on FROM scratch (no RUN, no root needed), the `Dockerfile:LINE:` errors for what kiln rejects, ADD's
 * `HTTP_AUTH_TOKEN_<host>` secret against a local server, and — on the busybox fixture — SHELL driving shell-form RUN and
 * `BUILDKIT_SANDBOX_HOSTNAME`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "../../../lib/build/build.ts";
import type { BuildOptions } from "../../../lib/build/types.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { buildBusyboxLayout } from "../../fixtures/busybox_image.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { unpackLayout } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

async function buildScratch(dockerfile: string, extra: Partial<BuildOptions> = {}) {
  const work = tempDir("kiln-df-support-");
  writeFileSync(join(work, "f.txt"), "hi\n");
  try {
    const r = await build({
      context: work,
      dockerfileText: dockerfile,
      outputs: { noPush: true },
      workDir: `${work}/work`,
      ...extra,
    });
    return { config: r.config, warnings: r.warnings ?? [] };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

Deno.test("build() writes HEALTHCHECK --start-period/--start-interval, NONE, EXPOSE forms, STOPSIGNAL, MAINTAINER", async () => {
  const { config } = await buildScratch(
    [
      "FROM scratch AS base",
      'HEALTHCHECK CMD ["/bin/check"]',
      "FROM base AS final",
      "MAINTAINER Jane <jane@example.com>",
      "EXPOSE 53/udp 8000-8002 443/TCP",
      "STOPSIGNAL 9",
      "HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --start-interval=2s --retries=4 CMD check --deep",
      "",
    ].join("\n"),
  );
  const c = config.config!;
  assertEquals(config.author, "Jane <jane@example.com>");
  assertEquals(c.ExposedPorts, { "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}, "443/tcp": {} });
  assertEquals(c.StopSignal, "9");
  assertEquals(c.Healthcheck, {
    Test: ["CMD-SHELL", "check --deep"],
    Interval: 5e9,
    Timeout: 3e9,
    StartPeriod: 1e9,
    StartInterval: 2e9,
    Retries: 4,
  });
  const off = (await buildScratch(
    'FROM scratch\nHEALTHCHECK CMD ["/bin/check"]\nHEALTHCHECK NONE\nSTOPSIGNAL SIGRTMIN+3\n',
  )).config.config!;
  assertEquals([off.Healthcheck, off.StopSignal], [{ Test: ["NONE"] }, "SIGRTMIN+3"]);
});

Deno.test("build() leaves an ARG without default unset, keeps legacy LABEL/ENV forms, lower-case keywords", async () => {
  const { config } = await buildScratch(
    "from scratch\nARG NODEF\nARG EMPTY=\nlabel a=[${NODEF-unset}] b=[${EMPTY-unset}]\nLABEL legacy x y\nENV K v w\n",
  );
  assertEquals(config.config!.Labels, { a: "[unset]", b: "[]", legacy: "x y" });
  assert(config.config!.Env!.includes("K=v w"), config.config!.Env!.join(" "));
});

Deno.test("build() expands every word of one instruction with the values from before it", async () => {
  const df = "FROM scratch\nENV A=old\nENV A=new B=$A\nLABEL a=$A b=$B\n";
  assertEquals((await buildScratch(df)).config.config!.Labels, { a: "new", b: "old" });
});

Deno.test("build() defines the undocumented TARGETOSVERSION, BUILDOSVERSION and TARGETSTAGE args", async () => {
  const df = "FROM scratch AS first\nFROM scratch AS final\nARG TARGETOSVERSION BUILDOSVERSION TARGETSTAGE\n" +
    "LABEL t=[$TARGETOSVERSION] b=[$BUILDOSVERSION] s=$TARGETSTAGE\n";
  assertEquals((await buildScratch(df)).config.config!.Labels, { t: "[]", b: "[]", s: "final" });
  const unnamed = "FROM scratch\nARG TARGETSTAGE\nLABEL s=$TARGETSTAGE\n";
  assertEquals((await buildScratch(unnamed)).config.config!.Labels, { s: "default" });
});

Deno.test("build() passes a custom # syntax= warning through and honours # check=error=true", async () => {
  const { warnings } = await buildScratch("# syntax=example.com/frontend:1\nFROM scratch\n");
  assert(warnings.some((w) => w.includes("kiln cannot run frontend images")), warnings.join("\n"));
  await assertRejects(
    () => buildScratch("# check=error=true\nFROM scratch AS scratch\n"),
    KilnError,
    "Dockerfile:2: stage name",
  );
});

Deno.test("build() rejects unsupported instructions and flags with one Dockerfile:LINE: error", async () => {
  const cases: [string, string][] = [
    ["STOPSIGNAL NOTASIG", 'Dockerfile:2: STOPSIGNAL: unknown signal "NOTASIG"'],
    ["EXPOSE 80/tcp abc", 'Dockerfile:2: EXPOSE: invalid port "abc"'],
    ["ONBUILD ONBUILD RUN x", "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
    ["ONBUILD FROM alpine", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"],
    ["ONBUILD MAINTAINER me", "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"],
    ["RUN --device=vendor.com/gpu=all true", "Dockerfile:2: RUN --device is not supported by kiln"],
    [
      "RUN --security=insecure true",
      "Dockerfile:2: RUN --security=insecure needs the security.insecure entitlement: run kiln with --allow security.insecure",
    ],
    ["RUN --network=bridge true", 'Dockerfile:2: network mode "bridge" not supported'],
    ["RUN --mount=type=ssh true", "Dockerfile:2: RUN --mount: type=ssh is not supported by kiln"],
    ["RUN --mount=type=tmpfs,target=/t,uid=1 true", 'Dockerfile:2: uid not allowed for "tmpfs" type mounts'],
    ["ADD ssh://git@example.com/r.git /x", "Dockerfile:2: ADD: git source ssh://git@example.com/r.git"],
    ["ADD git@example.com:r.git /x", "only http(s) git URLs are supported (no ssh)"],
    ["ADD git://example.com/r.git /x", "only http(s) git URLs are supported"],
    [
      "ADD https://example.com/r.git?ref=v1&subdir=docs /x",
      "Dockerfile:2: ADD https://example.com/r.git?ref=v1&subdir=docs: git URL query parameters (?ref=v1&subdir=docs) " +
      "are not supported by kiln; use https://example.com/r.git#<ref>[:<subdir>]",
    ],
    ["SHELL /bin/bash -c", "Dockerfile:2: SHELL requires the arguments to be in JSON form"],
    ["COPY --chmod 600 f.txt /x", "Dockerfile:2: missing a value on flag: chmod"],
    ["COPY --nope=1 f.txt /x", "Dockerfile:2: unknown flag: nope"],
    ["LABEL a=${NOPE:?is required}", "Dockerfile:2:"],
  ];
  for (const [line, msg] of cases) {
    await assertRejects(() => buildScratch(`FROM scratch\n${line}\n`), KilnError, msg);
  }
});

Deno.test({
  name: "build(): ADD of an http URL sends the HTTP_AUTH_TOKEN_<host> secret as a Bearer token",
  ignore: skipUnless("ADD HTTP_AUTH secret", "umoci"),
  sanitizeResources: false,
  async fn() {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) =>
        req.headers.get("authorization") === "Bearer s3cret"
          ? new Response("private\n")
          : new Response("no", { status: 401 }),
    );
    const host = `127.0.0.1:${server.addr.port}`;
    const work = tempDir("kiln-df-auth-");
    try {
      const df = `FROM scratch\nADD http://${host}/p /p\n`;
      await assertRejects(
        () => build({ context: work, dockerfileText: df, outputs: { noPush: true }, workDir: `${work}/w1` }),
        KilnError,
        "401",
      );
      await build({
        context: work,
        dockerfileText: df,
        outputs: { noPush: true, ociLayoutPath: `${work}/layout` },
        workDir: `${work}/w2`,
        secrets: [{ id: `HTTP_AUTH_TOKEN_${host}`, env: "TOK" }],
        secretEnv: { TOK: "s3cret" },
      });
      assertEquals(readFileSync(join(unpackLayout(`${work}/layout`).rootfs, "p"), "utf8"), "private\n");
    } finally {
      await server.shutdown();
      rmSync(work, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name:
    "build(): SHELL runs later shell-form RUN steps; BUILDKIT_SANDBOX_HOSTNAME names the RUN host; --network=host|none",
  ignore: skipUnless("SHELL/hostname e2e", "umoci", "python3", "busybox", "root"),
  sanitizeResources: false,
  async fn() {
    const root = tempDir("kiln-df-shell-");
    try {
      const base = buildBusyboxLayout(join(root, "busybox"));
      await build({
        context: root,
        dockerfileText: [
          "FROM base",
          "RUN hostname > /host.txt",
          "RUN --network=host cat /proc/net/dev > /net-host.txt",
          "RUN --network=none cat /proc/net/dev > /net-none.txt",
          `SHELL ["/bin/sh", "-c", "echo \\"shell got: $0\\" > /shell.txt"]`,
          "RUN this is not run by /bin/sh -c",
          "",
        ].join("\n"),
        outputs: { noPush: true, ociLayoutPath: `${root}/layout` },
        workDir: `${root}/work`,
        buildContexts: { base: `oci-layout://${base}:latest` },
        buildArgs: { BUILDKIT_SANDBOX_HOSTNAME: "kiln-test-host" },
      });
      const { rootfs } = unpackLayout(`${root}/layout`);
      assertEquals(readFileSync(join(rootfs, "shell.txt"), "utf8"), "shell got: this is not run by /bin/sh -c\n");
      assertEquals(readFileSync(join(rootfs, "host.txt"), "utf8"), "kiln-test-host\n");
      // --network=host shares this machine's interfaces; --network=none has only loopback.
      const ifaces = (text: string) => text.split("\n").slice(2).map((l) => l.split(":")[0]!.trim()).filter(Boolean);
      assertEquals(
        ifaces(readFileSync(join(rootfs, "net-host.txt"), "utf8")),
        ifaces(readFileSync("/proc/net/dev", "utf8")),
      );
      assertEquals(ifaces(readFileSync(join(rootfs, "net-none.txt"), "utf8")), ["lo"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "build(): ADD <git URL> gives files 644 or 755 (executable) and directories 755, whatever the umask",
  ignore: skipUnless("ADD git modes", "git", "umoci"),
  sanitizeResources: false,
  async fn() {
    const { git, startGitServer } = await import("../../fixtures/git_server.ts");
    const root = tempDir("kiln-df-git-");
    const src = join(root, "src");
    mkdirSync(join(src, "bin"), { recursive: true });
    writeFileSync(join(src, "README"), "r\n");
    writeFileSync(join(src, "bin", "tool"), "#!/bin/sh\n", { mode: 0o700 });
    git(src, "init", "-q", "-b", "main");
    git(src, "add", ".");
    git(src, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "one");
    mkdirSync(join(root, "repos"));
    git(root, "clone", "-q", "--bare", src, join(root, "repos", "repo.git"));
    const server = await startGitServer({ projectRoot: join(root, "repos") });
    // A strict umask must not leak into the modes.
    const oldMask = Deno.umask(0o077);
    try {
      await build({
        context: root,
        dockerfileText: `FROM scratch\nADD ${server.url}/repo.git#main /src/\n`,
        outputs: { noPush: true, ociLayoutPath: `${root}/layout` },
        workDir: `${root}/work`,
      });
      const { files } = unpackLayout(`${root}/layout`);
      assertEquals(
        ["/src/README", "/src/bin/tool", "/src/bin"].map((p) => (files[p]?.mode ?? 0) & 0o7777),
        [0o644, 0o755, 0o755],
      );
    } finally {
      Deno.umask(oldMask);
      await server.close();
      rmSync(root, { recursive: true, force: true });
    }
  },
});
