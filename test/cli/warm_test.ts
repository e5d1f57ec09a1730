/**
 * `kiln warm` as a real child process against a real registry, then `kiln build --cache=true --cache-dir` with the
 * registry stopped: the build takes its base from the dir with no network and gives the digest of a build that
 * pulled it. Two warmers share one dir at once; bad input exits 1 or 2 with a message.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { startBusyboxRegistry } from "../fixtures/busybox_image.ts";
import { skipUnless } from "../fixtures/tools.ts";
import { tempDir } from "../fixtures/temp.ts";
import { sandboxSkipReason } from "../lib/sandbox/_helpers.ts";
import { run } from "../lib/image/_helpers.ts";
import { REPO_ROOT } from "../fixtures/tools.ts";

const ignore = skipUnless("kiln warm", "root", "umoci", "skopeo", "docker-registry", "busybox") ||
  sandboxSkipReason() !== undefined;

/** Runs the CLI to the end; stdout and stderr as text. */
async function kilnRun(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli/main.ts"), ...args],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: tempDir("kiln-warm-home-"), NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "kiln warm fills --cache-dir; kiln build --cache=true --cache-dir then builds with the registry stopped",
  ignore,
  async fn() {
    const bb = await startBusyboxRegistry();
    try {
      const host = bb.registry.host;
      const root = tempDir("kiln-warm-cli-");
      const cacheDir = join(root, "cache");
      const ctx = join(root, "ctx");
      Deno.mkdirSync(ctx);
      writeFileSync(join(ctx, "f"), "from the context\n");
      writeFileSync(
        join(ctx, "Dockerfile"),
        `ARG BASE=${host}/nothing:here\nFROM $BASE\nCOPY f /f\nRUN cat /f > /g && echo ran >> /g\n`,
      );
      // Two warmers at once into one new dir: one by --image, one through --dockerfile and --build-arg.
      const [a, b] = await Promise.all([
        kilnRun(["warm", "-c", cacheDir, "-i", bb.ref, "--insecure-registry", host]),
        kilnRun([
          "warm",
          "--cache-dir",
          cacheDir,
          "-d",
          join(ctx, "Dockerfile"),
          "--build-arg",
          `BASE=${host}/busybox:latest`,
          "--insecure-registry",
          host,
        ]),
      ]);
      assertEquals(a.code, 0, a.stderr);
      assertEquals(b.code, 0, b.stderr);
      assertMatch(a.stdout, new RegExp(`^${host}/busybox:latest@sha256:[0-9a-f]{64} (warmed|cached)\\n$`));
      assertEquals(a.stdout.split(" ")[0], b.stdout.split(" ")[0]);
      const again = await kilnRun(["warm", "-c", cacheDir, "-i", bb.ref, "--insecure-registry", host]);
      assertEquals([again.code, again.stdout.trim().split(" ")[1]], [0, "cached"], again.stderr);

      const buildArgs = (out: string, extra: string[]) => [
        "build",
        "-c",
        ctx,
        "--build-arg",
        `BASE=${bb.ref}`,
        "--no-push",
        "--reproducible",
        "--oci-layout-path",
        join(root, out),
        "--work-dir",
        join(root, `work-${out}`),
        "--insecure-registry",
        host,
        ...extra,
      ];
      const pulled = await kilnRun(buildArgs("pulled", []));
      assertEquals(pulled.code, 0, pulled.stderr);
      await bb.registry.stop();
      const offline = await kilnRun(buildArgs("offline", ["--cache=true", "--cache-dir", cacheDir]));
      assertEquals(offline.code, 0, offline.stderr);
      assertMatch(offline.stderr, /from the base-image cache dir/);
      assertEquals(offline.stdout, pulled.stdout, "the same digest as the build that pulled its base");
      const index = JSON.parse(readFileSync(join(root, "offline", "index.json"), "utf8"));
      assertEquals(`${index.manifests[0].digest}\n`, offline.stdout);
      // umoci unpacks what was built offline; the RUN saw the COPY.
      const bundle = join(root, "bundle");
      run("umoci", ["unpack", "--image", `${join(root, "offline")}:latest`, bundle]);
      assertEquals(readFileSync(join(bundle, "rootfs", "g"), "utf8"), "from the context\nran\n");
      // Without --cache the dir is not read (kaniko): the build needs the stopped registry and fails, saying where.
      const noCache = await kilnRun(buildArgs("nocache", ["--cache-dir", cacheDir, "--image-download-retry", "0"]));
      assertEquals(noCache.code, 1, noCache.stderr);
      assertMatch(noCache.stderr, /--cache-dir is read only with --cache=true/);
      assertMatch(noCache.stderr, /Dockerfile:2: FROM /);
    } finally {
      await bb.stop();
    }
  },
});

Deno.test({
  name: "kiln warm: nothing to warm exits 2; an image that cannot be fetched exits 1 naming it, the others land",
  ignore,
  async fn() {
    const bb = await startBusyboxRegistry();
    try {
      const host = bb.registry.host;
      const cacheDir = join(tempDir("kiln-warm-bad-"), "cache");
      const none = await kilnRun(["warm", "-c", cacheDir]);
      assertEquals(none.code, 2, none.stderr);
      assertMatch(none.stderr, /Nothing to warm/);
      const bad = await kilnRun([
        "warm",
        "-c",
        cacheDir,
        "-i",
        `${host}/missing:1`,
        "-i",
        bb.ref,
        "--insecure-registry",
        host,
        "--image-download-retry",
        "0",
      ]);
      assertEquals(bad.code, 1, bad.stderr);
      assertMatch(bad.stderr, new RegExp(`warm ${host}/missing:1: .*404`));
      assertMatch(bad.stderr, /1 of 2 image\(s\) could not be warmed/);
      assert(!bad.stderr.includes("internal error"), bad.stderr);
      assertMatch(bad.stdout, new RegExp(`^${host}/busybox:latest@sha256:[0-9a-f]{64} warmed\\n$`));
      const badDf = join(cacheDir, "..", "Dockerfile");
      writeFileSync(badDf, "FROM\n");
      const parse = await kilnRun(["warm", "-c", cacheDir, "-d", badDf]);
      assertEquals(parse.code, 1, parse.stderr);
      assertMatch(parse.stderr, /Dockerfile:1/);
    } finally {
      await bb.stop();
    }
  },
});
