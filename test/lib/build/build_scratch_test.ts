/**
 * build() on FROM scratch: no base image, no RUN — the config, layers, outputs and errors, checked with umoci,
 * skopeo and python3.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "../../../lib/build/build.ts";
import { DEFAULT_PATH } from "../../../lib/build/config.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { REPO_ROOT, skipUnless } from "../../fixtures/tools.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../../assert.ts";
import { buildToLayout, inspectConfig, leftovers, makeContext, unpackLayout } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("build scratch tests", "umoci", "skopeo", "python3", "root");

Deno.test({
  name: "build() builds examples/hello into an OCI layout that umoci and skopeo read, reproducibly",
  ignore,
  async fn() {
    const ctx = join(REPO_ROOT, "examples/hello");
    const dockerfile = readFileSync(join(ctx, "Dockerfile"), "utf8");
    const a = await buildToLayout(ctx, dockerfile, { layers: { reproducible: true } });
    const b = await buildToLayout(ctx, dockerfile, { layers: { reproducible: true } });
    assertEquals(a.result.digest, b.result.digest);
    const { files } = unpackLayout(a.layout);
    assertEquals(files["/etc/greeting"]?.mode, 0o644);
    assertEquals(files["/srv/site/index.html"]?.type, "f");
    assertEquals(files["/srv/site/notes.tmp"], undefined, ".dockerignore applies");
    assertEquals(files["/srv"]?.type, "d");
    const cfg = inspectConfig(`oci:${a.layout}:latest`) as {
      created: string;
      config: Record<string, unknown>;
      history: { empty_layer?: boolean; created_by: string }[];
    };
    assertEquals(cfg.created, "1970-01-01T00:00:00Z");
    assertEquals(cfg.config.User, "1000:1000");
    assertEquals(cfg.config.WorkingDir, "/srv");
    assertEquals(cfg.config.Env, [`PATH=${DEFAULT_PATH}`, "GREETING=hello", "SITE_ROOT=/srv/site"]);
    assertEquals(cfg.config.Cmd, ["/srv/site/index.html"]);
    assertEquals(cfg.history.filter((h) => !h.empty_layer).length, a.result.manifest.layers.length);
    assert(a.log.some((l) => /STEP 6\/11 done in [\d.]+s, layer [\d.]+ (B|kB)/.test(l)), a.log.join("\n"));
  },
});

Deno.test({
  name: "build() applies every metadata instruction, --label and --build-arg to the config",
  ignore,
  async fn() {
    const ctx = makeContext({ "f.txt": "x" });
    const df = [
      "FROM scratch AS base",
      'CMD ["inherited"]',
      "FROM base",
      "MAINTAINER kiln tests <k@example.com>",
      'ENV A=1 B="two words"',
      "ENV A=3 PATH=/usr/bin",
      "ARG V=default",
      'LABEL l1=$V "l 2"="x y" cli=dockerfile',
      "USER 1000:1000",
      "WORKDIR /app",
      "WORKDIR sub",
      "EXPOSE 80 53/udp 8000-8001",
      'VOLUME ["/data", "/logs"]',
      'SHELL ["/bin/bash", "-c"]',
      'ENTRYPOINT ["/bin/tini", "--"]',
      "STOPSIGNAL SIGINT",
      "HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD curl -f http://localhost/",
      "ONBUILD RUN echo hi",
      "CMD echo $A",
    ].join("\n");
    const b = await buildToLayout(ctx, df, {
      buildArgs: { V: "given", UNUSED: "1" },
      labels: { cli: "flag", other: "o" },
    });
    const cfg = inspectConfig(`oci:${b.layout}:latest`) as { author: string; config: Record<string, unknown> };
    const c = cfg.config;
    assertEquals(cfg.author, "kiln tests <k@example.com>");
    assertEquals(c.Env, ["PATH=/usr/bin", "A=3", "B=two words"]);
    assertEquals(c.Labels, { l1: "given", "l 2": "x y", cli: "dockerfile", other: "o" });
    assertEquals(c.User, "1000:1000");
    assertEquals(c.WorkingDir, "/app/sub");
    assertEquals(c.ExposedPorts, { "80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {} });
    assertEquals(c.Volumes, { "/data": {}, "/logs": {} });
    assertEquals(c.Shell, ["/bin/bash", "-c"]);
    assertEquals(c.Entrypoint, ["/bin/tini", "--"]);
    assertEquals(c.Cmd, ["/bin/bash", "-c", "echo $A"]);
    assertEquals(c.StopSignal, "SIGINT");
    assertEquals(c.Healthcheck, {
      Test: ["CMD-SHELL", "curl -f http://localhost/"],
      Interval: 5e9,
      Timeout: 3e9,
      Retries: 2,
    });
    assertEquals(c.OnBuild, ["RUN echo hi"]);
    const { files } = unpackLayout(b.layout);
    assertEquals([files["/app/sub"]?.uid, files["/app/sub"]?.gid, files["/app/sub"]?.mode], [1000, 1000, 0o755]);
    rmSync(ctx, { recursive: true });
  },
});

Deno.test({
  name: "build() clears an inherited CMD when a stage sets ENTRYPOINT",
  ignore,
  async fn() {
    const ctx = makeContext({});
    const b = await buildToLayout(ctx, 'FROM scratch AS a\nCMD ["a"]\nFROM a\nENTRYPOINT ["e"]\n');
    const c = (inspectConfig(`oci:${b.layout}:latest`) as { config: Record<string, unknown> }).config;
    assertEquals(c.Entrypoint, ["e"]);
    assertEquals(c.Cmd, undefined);
  },
});

Deno.test({
  name: "build() copies between scratch stages, honours --target and --single-snapshot, and writes zstd layers",
  ignore,
  async fn() {
    const ctx = makeContext({ "a/one": "1", "a/two": "22", "b": "bbb" });
    const df = [
      "FROM scratch AS files",
      "COPY a/ /a/",
      "COPY b /b",
      "FROM scratch AS final",
      "COPY --from=files /a /copied/",
      "COPY --from=0 /b /copied/b",
      "FROM scratch AS unused",
      "COPY b /never",
    ].join("\n");
    const b = await buildToLayout(ctx, df, {
      target: "final",
      snapshot: { single: true },
      layers: { compression: "zstd" },
    });
    assertEquals(b.result.manifest.layers.length, 1);
    assertEquals(b.result.manifest.layers[0]!.mediaType, "application/vnd.oci.image.layer.v1.tar+zstd");
    const cfg = inspectConfig(`oci:${b.layout}:latest`) as { history: { empty_layer?: boolean }[] };
    assertEquals(cfg.history.length, 2);
    assertEquals(cfg.history.filter((h) => !h.empty_layer).length, 1);
    const g = await buildToLayout(ctx, df, { target: "final" });
    const { files } = unpackLayout(g.layout);
    assertEquals(Object.keys(files).sort(), ["/copied", "/copied/b", "/copied/one", "/copied/two"]);
    assertEquals(files["/copied/two"]?.size, 2);
  },
});

Deno.test({
  name: "build() uses SOURCE_DATE_EPOCH for --reproducible timestamps",
  ignore,
  async fn() {
    const ctx = makeContext({ x: "x" });
    const b = await buildToLayout(ctx, "FROM scratch\nCOPY x /x\n", {
      layers: { reproducible: true, sourceDateEpoch: 1700000000 },
    });
    const cfg = inspectConfig(`oci:${b.layout}:latest`) as { created: string };
    assertEquals(cfg.created, "2023-11-14T22:13:20Z");
    const { files, rootfs } = unpackLayout(b.layout);
    assert(files["/x"]);
    assertEquals(Deno.lstatSync(join(rootfs, "x")).mtime?.getTime(), 1700000000 * 1000);
  },
});

Deno.test({
  name: "build() fails with one line and leaves nothing behind for a missing COPY source and a bad instruction",
  ignore,
  async fn() {
    const ctx = makeContext({ present: "p" });
    const work = tempDir("kiln-work-");
    const out = tempDir("kiln-out-");
    const e = await assertRejects(
      () =>
        build({
          context: ctx,
          dockerfileText: "FROM scratch\nCOPY present /p\nCOPY missing.txt /m\n",
          outputs: { noPush: true, ociLayoutPath: join(out, "layout") },
          workDir: work,
        }),
      KilnError,
    );
    assertMatch(e.message, /^Dockerfile:3: /);
    assert(!e.message.includes("\n"), e.message);
    assertMatch(e.message, /missing\.txt/);
    assertEquals(leftovers(work), []);
    assertEquals(leftovers(out), [], "no output written");
    const e2 = await assertRejects(
      () =>
        build({
          context: ctx,
          dockerfileText: "FROM scratch\nFROBNICATE x\n",
          outputs: { noPush: true },
          workDir: work,
        }),
      KilnError,
    );
    assertMatch(e2.message, /^Dockerfile:2: .*frobnicate/i);
    assertEquals(leftovers(work), []);
  },
});

Deno.test({
  name: "build() runs the base image's ONBUILD triggers first and clears them",
  ignore,
  async fn() {
    const ctx = makeContext({ "a.txt": "a" });
    const b = await buildToLayout(
      ctx,
      "FROM scratch AS base\nONBUILD COPY a.txt /from-trigger\nONBUILD ENV T=1\nFROM base\nLABEL x=y\n",
    );
    const c = inspectConfig(`oci:${b.layout}:latest`) as { config: Record<string, unknown> };
    assertEquals(c.config.Env, [`PATH=${DEFAULT_PATH}`, "T=1"]);
    assertEquals(c.config.OnBuild, undefined);
    assertEquals(unpackLayout(b.layout).files["/from-trigger"]?.size, 1);
  },
});

Deno.test({
  name: "build() gives the same files in every --snapshot-mode; --custom-platform and --skip-unused-stages apply",
  ignore,
  async fn() {
    const ctx = makeContext({ "a/x": "x", "a/y": "yy", "b": "b" });
    const df = "FROM scratch AS unused\nCOPY b /b\nFROM scratch\nCOPY a/ /a/\nCOPY b /a/b\nENV M=1\n";
    const trees: string[] = [];
    for (const mode of ["full", "redo", "time"] as const) {
      const built = await buildToLayout(ctx, df, {
        snapshot: { mode: mode },
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
        skipUnusedStages: true,
        layers: { compressionLevel: 1 },
      });
      trees.push(JSON.stringify(Object.entries(unpackLayout(built.layout).files).map(([p, f]) => [p, f.sha, f.mode])));
      const cfg = inspectConfig(`oci:${built.layout}:latest`) as { architecture: string; variant?: string; os: string };
      assertEquals([cfg.os, cfg.architecture, cfg.variant], ["linux", "arm64", "v8"]);
      assert(
        !built.log.some((l) => l.includes("FROM scratch AS unused") || /stage=0\b/.test(l) && l.includes("unused")),
      );
    }
    assertEquals(trees[1], trees[0]);
    assertEquals(trees[2], trees[0]);
  },
});
