/**
 * Several platforms in one build (`platforms`, the CLI's `--platform linux/amd64,linux/arm64`): a real two-platform
 * busybox index base (Debian's amd64 and arm64 busybox-static, test/fixtures/multiarch_image.ts), RUN steps of the
 * arm64 image emulated by qemu-user-static's binfmt_misc handler, one image index pushed to a real registry and
 * checked with skopeo (`--override-arch`) and umoci per platform; a `FROM --platform=$BUILDPLATFORM` stage built
 * once; the refusals (tarball, in place, a single-platform base, no emulator).
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "../../../lib/executor/mod.ts";
import type { BuildProgressEvent } from "../../../lib/executor/mod.ts";
import { cannotExecute } from "../../../lib/executor/_exec_platform.ts";
import { hostPlatform } from "../../../lib/image/mod.ts";
import { createLogger, KilnError } from "../../../lib/util/mod.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { multiArchUnavailable, startMultiArchRegistry } from "../../fixtures/multiarch_image.ts";
import { buildBusyboxLayout } from "../../fixtures/busybox_image.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../../assert.ts";
import { makeContext, memoryIO, sh } from "./_helpers.ts";
import { main } from "../../../cli/main.ts";

const ARM64 = { os: "linux", architecture: "arm64" } as const;
const AMD64 = { os: "linux", architecture: "amd64" } as const;

function whyNot(): string | undefined {
  if (hostPlatform().architecture !== "amd64") return "the two-platform fixture assumes an amd64 host";
  const missing = multiArchUnavailable();
  if (missing) return missing;
  return cannotExecute(ARM64, { host: hostPlatform() });
}

const skipTools = skipUnless("multi-platform builds", "skopeo", "umoci", "busybox", "docker-registry", "root");
const reason = skipTools ? undefined : whyNot();
if (reason) console.log(`multi-platform builds: skipped: ${reason}`);
const ignore = skipTools || reason !== undefined;

/** The rootfs of `ref`'s image for `arch` (skopeo copy --override-arch, umoci unpack) in a temp dir. */
function rootfsOf(ref: string, arch: string): string {
  const dir = tempDir(`kiln-mp-${arch}-`);
  sh("skopeo", [
    "copy",
    "--quiet",
    "--src-tls-verify=false",
    "--override-arch",
    arch,
    "--override-os",
    "linux",
    `docker://${ref}`,
    `oci:${dir}/layout:x`,
  ]);
  sh("umoci", ["unpack", "--image", `${dir}/layout:x`, `${dir}/bundle`]);
  return join(dir, "bundle", "rootfs");
}

const DOCKERFILE = `
ARG BASE
FROM --platform=$BUILDPLATFORM \${BASE} AS tools
RUN echo "built on $(uname -m)" > /tool
FROM \${BASE}
ARG TARGETPLATFORM
ARG TARGETARCH
COPY --from=tools /tool /tool
COPY f /f
RUN uname -m > /uname && echo "$TARGETPLATFORM $TARGETARCH" > /target && cat /etc/arch > /basearch
`;

/** DOCKERFILE for linux/amd64 and linux/arm64 from the two-platform base, with a work dir in `out`. */
function twoPlatforms(reg: { ref: string; registry: { host: string } }, out: string) {
  return {
    context: makeContext({ f: "same for all\n" }),
    dockerfileText: DOCKERFILE,
    buildArgs: { BASE: reg.ref },
    platforms: [AMD64, ARM64],
    workDir: join(out, "work"),
    registry: { insecureRegistries: [reg.registry.host] },
  };
}

Deno.test({
  name: "platforms: one index for linux/amd64 and linux/arm64 from an index base; a $BUILDPLATFORM stage built once",
  ignore,
  sanitizeResources: false,
  async fn() {
    const reg = await startMultiArchRegistry();
    const out = tempDir("kiln-mp-out-");
    try {
      const dest = `${reg.registry.host}/app:multi`;
      const events: BuildProgressEvent[] = [];
      const log: string[] = [];
      const result = await build({
        ...twoPlatforms(reg, out),
        outputs: {
          destinations: [dest],
          ociLayoutPath: join(out, "layout"),
          digestFile: join(out, "digest"),
        },
      }, { onProgress: (e) => events.push(e), logger: createLogger({ write: (l) => log.push(l) }) });

      // The pushed index lists both platforms' images; skopeo reads it.
      const raw = sh("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${dest}`]);
      const index = JSON.parse(raw);
      assertEquals(index.mediaType, "application/vnd.oci.image.index.v1+json");
      assertEquals(
        index.manifests.map((m: { platform: { os: string; architecture: string } }) =>
          `${m.platform.os}/${m.platform.architecture}`
        ),
        ["linux/amd64", "linux/arm64"],
      );
      const digest = sh("skopeo", ["inspect", "--tls-verify=false", "--format", "{{.Digest}}", `docker://${dest}`])
        .trim();
      assertEquals(result.digest, sha256Of(raw), "the result's digest is the index's");
      assertEquals(readFileSync(join(out, "digest"), "utf8"), result.digest, "the digest file holds the index digest");
      assert(digest.startsWith("sha256:"));
      assertEquals(result.images?.map((i) => i.platform.architecture), ["amd64", "arm64"]);
      assertEquals(result.index?.manifests.length, 2);

      // Each platform's content: its own base, its own RUN (emulated for arm64), its own TARGET* args; the tools
      // stage ran once, natively.
      for (const [arch, uname] of [["amd64", "x86_64"], ["arm64", "aarch64"]] as const) {
        const root = rootfsOf(dest, arch);
        assertEquals(readFileSync(join(root, "uname"), "utf8"), `${uname}\n`, `${arch}: RUN ran as ${uname}`);
        assertEquals(readFileSync(join(root, "target"), "utf8"), `linux/${arch} ${arch}\n`, `${arch}: TARGET* args`);
        assertEquals(readFileSync(join(root, "basearch"), "utf8"), `${arch}\n`, `${arch}: the base of its platform`);
        assertEquals(readFileSync(join(root, "tool"), "utf8"), "built on x86_64\n", `${arch}: the shared stage`);
        assertEquals(readFileSync(join(root, "f"), "utf8"), "same for all\n");
        const cfg = JSON.parse(
          sh("skopeo", [
            "inspect",
            "--tls-verify=false",
            "--override-arch",
            arch,
            "--config",
            `docker://${dest}`,
          ]),
        );
        assertEquals([cfg.os, cfg.architecture], ["linux", arch]);
      }
      const toolRuns = events.filter((e) => e.type === "step-start" && e.instruction.startsWith("RUN echo"));
      assertEquals(toolRuns.length, 1, "the $BUILDPLATFORM stage ran once for both platforms");
      const platformsOfRun = events.filter((e) => e.type === "step-start" && e.instruction.startsWith("RUN uname"))
        .map((e) => (e as { platform?: string }).platform).sort();
      assertEquals(platformsOfRun, ["linux/amd64", "linux/arm64"], "step events name their platform");
      assert(log.some((l) => /stage tools is the same for every platform/.test(l)), log.join("\n"));
      assert(log.some((l) => l.includes("[linux/arm64]")), "log lines of a platform are prefixed with it");

      // The OCI layout holds the index under `multi`.
      const layoutIndex = JSON.parse(readFileSync(join(out, "layout", "index.json"), "utf8"));
      const entry = layoutIndex.manifests.find((m: { annotations?: Record<string, string> }) =>
        m.annotations?.["org.opencontainers.image.ref.name"] === "multi"
      );
      assertEquals(entry.mediaType, "application/vnd.oci.image.index.v1+json");
      assertEquals(entry.digest, result.digest);
      assert(existsSync(join(out, "layout", "blobs", "sha256", result.digest.slice(7))));
    } finally {
      await reg.stop();
    }
  },
});

function sha256Of(text: string): string {
  return `sha256:${createHash("sha256").update(text).digest("hex")}`;
}

Deno.test({
  name: "platforms: refused up front — a tarball, a base without the platform, no emulator",
  ignore: skipUnless("multi-platform refusals", "umoci", "busybox", "root"),
  sanitizeResources: false,
  async fn() {
    const root = tempDir("kiln-mp-refuse-");
    const common = {
      context: makeContext({ f: "f\n" }),
      workDir: join(root, "work"),
      platforms: [AMD64, ARM64],
    };
    const e1 = await assertRejects(
      () =>
        build({
          ...common,
          dockerfileText: "FROM scratch\nCOPY f /f\n",
          outputs: { noPush: true, tarPath: join(root, "t.tar") },
        }),
      KilnError,
    );
    assertEquals(
      e1.message,
      "--tar-path writes one image (docker save format), and this build makes an image index for linux/amd64, " +
        "linux/arm64: use --oci-layout-path, or one --platform per build",
    );
    assertEquals(e1.exitCode, 2);
    // In place (several platforms one after the other on `/`) is checked in a container: test/executor_image_test.ts.
    // A single-platform amd64 base asked for as arm64 too: the error names both platforms.
    const single = buildBusyboxLayout(join(root, "single"));
    const e3 = await assertRejects(
      () =>
        build({
          ...common,
          jobs: 1,
          buildContexts: { base: `oci-layout://${single}:latest` },
          dockerfileText: "FROM base\nCOPY f /f\n",
          outputs: { noPush: true, ociLayoutPath: join(root, "layout") },
        }),
      KilnError,
    );
    assertMatch(
      e3.message,
      /^\[linux\/arm64\] Dockerfile:1: FROM base: the image is linux\/amd64, but this stage builds linux\/arm64/,
    );
    assert(!existsSync(join(root, "layout")), "nothing written");
    // A platform this machine has no emulator for: refused before its RUN, saying how to get one.
    const s390x = { os: "linux", architecture: "s390x" };
    const why = cannotExecute(s390x, { host: hostPlatform() });
    if (why) {
      const e4 = await assertRejects(
        () =>
          build({
            ...common,
            jobs: 1,
            platforms: [s390x, AMD64],
            dockerfileText: "FROM scratch\nCOPY f /f\nRUN true\n",
            outputs: { noPush: true },
          }),
        KilnError,
      );
      assertMatch(e4.message, /^Dockerfile:3: RUN cannot execute linux\/s390x programs/);
      assertMatch(e4.message, /qemu-user-static binfmt-support/);
    } else console.log("this machine can run linux/s390x programs: the no-emulator refusal is not checked");
    await assertRejects(
      () =>
        build({ ...common, platforms: [AMD64, AMD64], dockerfileText: "FROM scratch\n", outputs: { noPush: true } }),
      KilnError,
      "--platform names linux/amd64 twice",
    );
  },
});

Deno.test({
  name: "kiln build --platform linux/amd64,linux/arm64 --attest type=sbom: a COPY-only build (no emulator needed) " +
    "prints the index digest and writes it to --digest-file",
  ignore: skipTools || multiArchUnavailable() !== undefined,
  sanitizeResources: false,
  async fn() {
    const reg = await startMultiArchRegistry();
    const out = tempDir("kiln-mp-cli-");
    try {
      const ctx = makeContext({ Dockerfile: `FROM ${reg.ref}\nCOPY f /f\n`, f: "f\n" });
      const io = memoryIO(ctx);
      const dest = `${reg.registry.host}/cli:multi`;
      const code = await main([
        "build",
        "-c",
        ctx,
        "-d",
        dest,
        "--insecure-registry",
        reg.registry.host,
        "--platform",
        "linux/amd64,linux/arm64",
        "--attest",
        "type=sbom",
        "--digest-file",
        join(out, "digest"),
        "--work-dir",
        join(out, "work"),
      ], io);
      assertEquals(code, 0, io.err.join(""));
      const digest = readFileSync(join(out, "digest"), "utf8");
      assertEquals(io.out.join(""), `${digest}\n`);
      const raw = sh("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${dest}`]);
      assertEquals(sha256Of(raw), digest);
      assertEquals(JSON.parse(raw).manifests.length, 4);
      assertMatch(io.err.join(""), /Built image index sha256:[0-9a-f]{64} \(linux\/amd64, linux\/arm64; SBOM\)/);
    } finally {
      await reg.stop();
    }
  },
});

Deno.test({
  name: "platforms + layer cache: entries are per platform (a second build takes every RUN from the cache, for each " +
    "platform its own) and the index is the same",
  ignore,
  sanitizeResources: false,
  async fn() {
    const reg = await startMultiArchRegistry();
    const out = tempDir("kiln-mp-cache-");
    try {
      const run = async () => {
        const events: BuildProgressEvent[] = [];
        const r = await build({
          ...twoPlatforms(reg, out),
          layers: { reproducible: true },
          cache: { repo: `oci:${join(out, "cache")}` },
          outputs: { noPush: true },
        }, { onProgress: (e) => events.push(e) });
        const runs = events.filter((e) => e.type === "step-done" && e.instruction.startsWith("RUN")) as Extract<
          BuildProgressEvent,
          { type: "step-done" }
        >[];
        // The shared stage is built by whichever platform reaches it first: its step is named without a platform.
        const who = (e: { platform?: string; instruction: string }) =>
          e.instruction.startsWith("RUN echo") ? "shared" : e.platform ?? "?";
        return { r, runs: runs.map((e) => `${who(e)} ${e.instruction.slice(0, 8)} ${e.cached ?? false}`) };
      };
      const first = await run();
      const second = await run();
      assertEquals(first.runs.filter((x) => x.endsWith("true")), [], "nothing cached the first time");
      assertEquals(second.runs.sort(), first.runs.map((x) => x.replace(/false$/, "true")).sort(), "all cached");
      assertEquals(second.r.digest, first.r.digest, "the same index");
      assertEquals(second.r.images?.map((i) => i.digest), first.r.images?.map((i) => i.digest));
      assert(first.r.images![0]!.digest !== first.r.images![1]!.digest);
    } finally {
      await reg.stop();
    }
  },
});

Deno.test({
  name: "platforms: a RUN failing on one platform fails the build naming that platform; nothing is pushed or left",
  ignore,
  sanitizeResources: false,
  async fn() {
    const reg = await startMultiArchRegistry();
    const out = tempDir("kiln-mp-fail-");
    try {
      const dest = `${reg.registry.host}/app:fails`;
      const e = await assertRejects(
        () =>
          build({
            ...twoPlatforms(reg, out),
            dockerfileText: 'ARG BASE\nFROM ${BASE}\nCOPY f /f\nRUN sleep 1; test "$(uname -m)" = x86_64\n',
            outputs: { destinations: [dest], digestFile: join(out, "digest") },
          }),
        KilnError,
      );
      assertMatch(e.message, /^\[linux\/arm64\] Dockerfile:4: step 2\/2 "RUN sleep 1; test .*" failed: exit code 1$/);
      const r = await fetch(`${reg.registry.url}/v2/app/manifests/fails`, { method: "HEAD" });
      await r.body?.cancel();
      assertEquals(r.status, 404, "no manifest pushed");
      assert(!existsSync(join(out, "digest")), "no digest file");
      assertEquals(Deno.readDirSync(join(out, "work")).toArray().map((d) => d.name), [], "the work dir is removed");
    } finally {
      await reg.stop();
    }
  },
});

Deno.test("platforms: a RUN of a platform this machine cannot execute is refused before any base is pulled", async () => {
  const s390x = { os: "linux", architecture: "s390x" };
  const why = cannotExecute(s390x, { host: hostPlatform() });
  if (!why) {
    console.log("this machine can run linux/s390x programs: not checked");
    return;
  }
  const root = tempDir("kiln-mp-early-");
  // The base is on a port nothing listens on: pulling it would fail with a connection error.
  const e = await assertRejects(
    () =>
      build({
        context: makeContext({ f: "f\n" }),
        dockerfileText: "FROM 127.0.0.1:9/nothing/here AS a\nRUN true\n",
        workDir: join(root, "work"),
        platforms: [AMD64, s390x],
        registry: { insecureRegistries: ["127.0.0.1:9"] },
        outputs: { noPush: true },
      }),
    KilnError,
  );
  assertMatch(e.message, /^Dockerfile:2: RUN cannot execute linux\/s390x programs \(stage a, FROM 127\.0\.0\.1:9/);
  assertEquals(Deno.readDirSync(join(root, "work")).toArray().map((d) => d.name), []);
});
