/**
 * The single binary and the three FROM-scratch images: `scripts/executor-image.sh` compiles kiln with
 * `bun build --compile`, builds the top-level Dockerfile's executor, debug and warmer targets with kiln itself, and
 * podman (an independent runtime) loads them and runs builds with them as kaniko's images are used: the entrypoint
 * `/kaniko/executor`, GitLab's recipe in the debug image (`/busybox/sh`, `entrypoint: [""]`), the warmer filling a
 * mounted /cache. What the images ship stays under /kaniko: a RUN step sees none of it and no layer holds it.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { REPO_ROOT, skipUnless } from "./fixtures/tools.ts";
import { tempDir } from "./fixtures/temp.ts";
import { PODMAN as PODMAN_FLAGS, PODMAN_RUN } from "./fixtures/podman.ts";
import { startBusyboxRegistry } from "./fixtures/busybox_image.ts";
import { ARM64_BUSYBOX, multiArchUnavailable } from "./fixtures/multiarch_image.ts";
import { cannotExecute } from "../lib/executor/_exec_platform.ts";
import { hostPlatform } from "../lib/image/mod.ts";

const NAME = "executor images: built by kiln, laid out as kaniko's, run builds under podman";
const PODMAN = [...PODMAN_FLAGS];
const RUN = [...PODMAN_RUN];
const IMAGES = [
  { tag: "kiln/executor:latest", tar: "out/executor.tar" },
  { tag: "kiln/executor:debug", tar: "out/executor-debug.tar" },
  { tag: "kiln/warmer:latest", tar: "out/warmer.tar" },
] as const;

function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): { out: string; err: string; code: number } {
  const r = spawnSync(cmd, args, { encoding: "utf8", cwd: opts.cwd ?? REPO_ROOT, maxBuffer: 256 << 20 });
  return { out: r.stdout ?? "", err: r.stderr ?? "", code: r.status ?? -1 };
}

/** The paths of every layer of a docker archive (lines of `tar -t`), layer by layer. */
function layerPaths(archive: string, work: string): string[][] {
  const dir = join(work, `x-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  assertEquals(sh("tar", ["-xf", archive, "-C", dir]).code, 0);
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  return (manifest[0].Layers as string[]).map((l) => {
    const t = sh("tar", ["-tzf", join(dir, l)]);
    return (t.code === 0 ? t.out : sh("tar", ["-tf", join(dir, l)]).out).trim().split("\n").filter((x) => x);
  });
}

/** A context holding a static busybox and `dockerfile`. */
function context(work: string, name: string, dockerfile: string): string {
  const ctx = join(work, name);
  mkdirSync(ctx);
  copyFileSync("/bin/busybox", join(ctx, "busybox"));
  writeFileSync(join(ctx, "Dockerfile"), dockerfile);
  return ctx;
}

/** Runs kiln/executor:latest on `ctx` (at /workspace): in place, or in its sandbox (which needs --privileged). */
function runExecutor(
  mode: "in-place" | "sandbox",
  ctx: string,
  args: string[],
): { out: string; err: string; code: number } {
  return sh("podman", [
    ...RUN,
    ...(mode === "sandbox" ? ["--privileged"] : []),
    "-v",
    `${ctx}:/workspace`,
    "kiln/executor:latest",
    ...(mode === "sandbox" ? ["--sandbox"] : []),
    ...args,
  ]);
}

/** Unpacks the last layer of the docker archive `archive` into a new directory `out`. */
function unpackLastLayer(archive: string, out: string): void {
  mkdirSync(out);
  const manifest = JSON.parse(sh("tar", ["-xOf", archive, "manifest.json"]).out);
  const last = manifest[0].Layers.at(-1) as string;
  assertEquals(sh("sh", ["-c", `tar -xOf '${archive}' '${last}' | tar -xzf - -C '${out}'`]).code, 0);
}

Deno.test({
  name: NAME,
  ignore: skipUnless(NAME, "podman", "runc", "busybox", "root", "docker-registry", "skopeo", "umoci"),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const built = sh("bash", ["scripts/executor-image.sh"]);
    assertEquals(built.code, 0, `executor-image.sh failed:\n${built.err.slice(-2000)}`);
    const work = tempDir("kiln-exec-");
    try {
      for (const img of IMAGES) {
        const loaded = sh("podman", [...PODMAN, "load", "-i", join(REPO_ROOT, img.tar)]);
        assertEquals(loaded.code, 0, loaded.err);
        assertStringIncludes(loaded.out + loaded.err, img.tag);
      }

      await t.step("kaniko's layout: /kaniko/executor, /kaniko/warmer, nothing shipped outside /kaniko", () => {
        const info = (tag: string) => JSON.parse(sh("podman", [...PODMAN, "image", "inspect", tag]).out)[0].Config;
        const exec = info("kiln/executor:latest");
        assertEquals(exec.Entrypoint, ["/kaniko/executor"]);
        assertEquals(exec.WorkingDir, "/workspace");
        for (
          const e of ["DOCKER_CONFIG=/kaniko/.docker/", "SSL_CERT_DIR=/kaniko/ssl/certs", "PATH=/usr/local/bin:/kaniko"]
        ) {
          assert(exec.Env.includes(e), `${e} in ${exec.Env}`);
        }
        assertEquals(info("kiln/warmer:latest").Entrypoint, ["/kaniko/warmer"]);
        assert(info("kiln/executor:debug").Env.includes("PATH=/usr/local/bin:/kaniko:/busybox"));
        const top = (tar: string) =>
          [...new Set(layerPaths(join(REPO_ROOT, tar), work).flat().map((p) => p.replace(/^\.?\//, "").split("/")[0]))]
            .filter((p) => p !== "").sort();
        assertEquals(top("out/executor.tar"), ["kaniko", "workspace"]);
        assertEquals(top("out/executor-debug.tar"), ["busybox", "kaniko", "workspace"]);
        const files = layerPaths(join(REPO_ROOT, "out/executor.tar"), work).flat();
        assert(files.some((f) => /kaniko\/ssl\/certs\/ca-certificates\.crt$/.test(f)), "the CA bundle");
        if (existsSync(join(REPO_ROOT, "native/build/Release/kiln_native.node"))) {
          assert(files.some((f) => /kaniko\/kiln_native\.node$/.test(f)), "the native addon");
          assert(exec.Env.includes("KILN_NATIVE_ADDON=/kaniko/kiln_native.node"), `${exec.Env}`);
        }
        const v = sh("podman", [...RUN, "kiln/executor:latest", "version"]);
        assertEquals(v.code, 0, v.err);
        assertStringIncludes(v.out, "kiln ");
      });

      for (const mode of ["in-place", "sandbox"] as const) {
        await t.step(`a build with COPY and RUN inside the container (${mode})`, () => {
          const ctx = context(
            work,
            `ctx-${mode}`,
            [
              "FROM scratch",
              "COPY busybox /bin/busybox",
              'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /out && /bin/busybox id -u > /out/uid"]',
              'CMD ["/bin/busybox", "cat", "/out/uid"]',
              "",
            ].join("\n"),
          );
          // In place (the image's default, kaniko's model) needs no privileges; the sandbox needs namespaces.
          const b = runExecutor(mode, ctx, [
            "--context",
            "/workspace",
            "--no-push",
            "--destination",
            `localhost/kiln-built-${mode}:1`,
            "--tar-path",
            "/workspace/image.tar",
            "--verbosity=debug",
          ]);
          assertEquals(b.code, 0, b.err.slice(-2000));
          // The binary loads the addon shipped beside it (native walker, libdeflate gzip).
          if (existsSync(join(REPO_ROOT, "native/build/Release/kiln_native.node"))) {
            assertStringIncludes(b.err, "Using the native walker");
          }
          const l = sh("podman", [...PODMAN, "load", "-i", join(ctx, "image.tar")]);
          assertEquals(l.code, 0, l.err);
          const r = sh("podman", [...RUN, `localhost/kiln-built-${mode}:1`]);
          assertEquals(r.code, 0, r.err);
          assertEquals(r.out.trim(), "0");
          sh("podman", [...PODMAN, "rmi", `localhost/kiln-built-${mode}:1`]);
        });
      }

      await t.step("in place, a RUN sees none of the image's files and chmod -R over / puts none in a layer", () => {
        const ctx = context(
          work,
          "leak",
          [
            "FROM scratch",
            "COPY busybox /bin/busybox",
            'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox ls -a / > /root-list; /bin/busybox env > /env-list; ' +
            '/bin/busybox chmod -R 755 /etc /bin /workspace 2>/dev/null; true"]',
            "",
          ].join("\n"),
        );
        const b = sh("podman", [
          ...RUN,
          "-v",
          `${ctx}:/workspace`,
          "kiln/executor:latest",
          "--no-push",
          "--tar-path",
          "/workspace/image.tar",
        ]);
        assertEquals(b.code, 0, b.err.slice(-2000));
        const layers = layerPaths(join(ctx, "image.tar"), work);
        const all = layers.flat().map((p) => p.replace(/^\.?\//, ""));
        assertEquals(all.filter((p) => /^(kaniko|lib|lib64|usr|workspace|busybox)(\/|$)/.test(p) || /ssl/.test(p)), []);
        const out = join(work, "leak-rootfs");
        unpackLastLayer(join(ctx, "image.tar"), out);
        const seen = readFileSync(join(out, "root-list"), "utf8").split("\n").filter((x) => x);
        for (const p of ["lib", "lib64", "usr", "tmp", "kiln"]) assert(!seen.includes(p), `RUN saw /${p}: ${seen}`);
        const env = readFileSync(join(out, "env-list"), "utf8");
        assert(!/LD_LIBRARY_PATH|KILN_|SSL_CERT|DOCKER_CONFIG/.test(env), `kiln's environment reached RUN: ${env}`);
      });

      await t.step(
        "in place, stages are isolated and the image is the sandbox build's (chmod -R over /usr/local)",
        () => {
          const df = [
            "FROM scratch AS one",
            "COPY busybox /bin/busybox",
            'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /usr/local/one && echo one > /usr/local/one/f && ' +
            'echo tool > /tool"]',
            "FROM scratch",
            "COPY busybox /bin/busybox",
            "COPY --from=one /tool /tool",
            'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox ls -a /usr/local > /seen 2>&1; /bin/busybox mkdir -p ' +
            '/usr/local && /bin/busybox chmod -R 755 /usr/local; true"]',
            "",
          ].join("\n");
          const results: Record<string, { paths: string[]; seen: string }> = {};
          for (const mode of ["in-place", "sandbox"] as const) {
            const ctx = context(work, `iso-${mode}`, df);
            const b = runExecutor(mode, ctx, [
              "--no-push",
              "--reproducible",
              "--tar-path",
              "/workspace/image.tar",
            ]);
            assertEquals(b.code, 0, b.err.slice(-2000));
            const paths = layerPaths(join(ctx, "image.tar"), work).flat().map((p) => p.replace(/^\.?\//, "")).sort();
            const out = join(work, `iso-${mode}-rootfs`);
            unpackLastLayer(join(ctx, "image.tar"), out);
            results[mode] = { paths, seen: readFileSync(join(out, "seen"), "utf8") };
          }
          const inPlace = results["in-place"]!, sandbox = results["sandbox"]!;
          assert(!inPlace.paths.some((p) => p.startsWith("usr/local/one")), `stage one leaked: ${inPlace.paths}`);
          assert(inPlace.paths.includes("tool"), "COPY --from=one still reads stage one's files");
          assertEquals(inPlace.paths, sandbox.paths);
          assertEquals(inPlace.seen, sandbox.seen);
        },
      );

      // Two platforms in one build, as a Kubernetes pod can run it (in place, unprivileged): the arm64 RUN runs through
      // the host kernel's qemu-user-static binfmt_misc handler inside the container.
      const arm64 = multiArchUnavailable() ??
        cannotExecute({ os: "linux", architecture: "arm64" }, { host: hostPlatform() });
      if (arm64) console.log(`executor images: two platforms in place not checked: ${arm64}`);
      else {
        await t.step(
          "in place, two platforms (arm64 emulated) give the sandbox build's index, digest for digest",
          () => {
            const df = [
              "FROM scratch AS tools",
              "COPY busybox-amd64 /bin/busybox",
              'RUN ["/bin/busybox", "sh", "-c", "echo shared > /tool"]',
              "FROM scratch",
              "ARG TARGETARCH",
              "COPY busybox-${TARGETARCH} /bin/busybox",
              "COPY --from=tools /tool /tool",
              // Fails (exit 7) if the other platform's files were still on / when this one's RUN ran.
              'RUN ["/bin/busybox", "sh", "-c", "for f in /done-*; do test -e $f && exit 7; done; /bin/busybox uname -m > ' +
              '/arch && /bin/busybox touch /done-$(/bin/busybox uname -m)"]',
              "",
            ].join("\n").replace("FROM scratch AS tools", "FROM --platform=linux/amd64 scratch AS tools");
            const digests: Record<string, string> = {};
            for (const mode of ["in-place", "sandbox"] as const) {
              const ctx = context(work, `mp-${mode}`, df);
              copyFileSync("/bin/busybox", join(ctx, "busybox-amd64"));
              copyFileSync(ARM64_BUSYBOX, join(ctx, "busybox-arm64"));
              const b = runExecutor(mode, ctx, [
                "--no-push",
                "--reproducible",
                "--platform",
                "linux/amd64,linux/arm64",
                "--oci-layout-path",
                "/workspace/layout",
                "--digest-file",
                "/workspace/digest",
              ]);
              assertEquals(b.code, 0, b.err.slice(-3000));
              // binfmt_misc is not mounted in the container: kiln cannot tell, says so, and the host's handler runs it.
              assertStringIncludes(b.err, "cannot tell whether this machine runs linux/arm64 programs");
              digests[mode] = readFileSync(join(ctx, "digest"), "utf8");
              if (mode === "in-place") {
                // Each platform's image from the layout: its own busybox ran its RUN.
                const blob = (d: string) => readFileSync(join(ctx, "layout", "blobs", "sha256", d.slice(7)));
                const index = JSON.parse(blob(digests[mode]!).toString());
                for (const [i, uname] of ["x86_64", "aarch64"].entries()) {
                  const m = JSON.parse(blob(index.manifests[i].digest).toString());
                  const last = join(work, `mp-layer-${i}`);
                  mkdirSync(last);
                  writeFileSync(join(last, "l.tgz"), blob(m.layers.at(-1).digest));
                  assertEquals(sh("tar", ["-xzf", join(last, "l.tgz"), "-C", last]).code, 0);
                  assertEquals(readFileSync(join(last, "arch"), "utf8"), `${uname}\n`);
                  assert(existsSync(join(last, `done-${uname}`)), `the ${uname} RUN's own marker`);
                }
              }
            }
            assertEquals(digests["in-place"], digests["sandbox"], "in place and sandbox give one index");
          },
        );
      }

      await t.step("in place, RUN --mount of every type gives the sandbox build's image; sources are untouched", () => {
        const df = [
          "# syntax=docker/dockerfile:1",
          "FROM scratch AS src",
          "COPY busybox /bin/busybox",
          'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /data && echo from-stage > /data/f"]',
          "FROM scratch",
          "COPY busybox /bin/busybox",
          'RUN ["/bin/busybox", "mkdir", "-p", "/var/cache", "/etc"]',
          "RUN --mount=type=cache,target=/var/cache/app,id=c1 " +
          '["/bin/busybox", "sh", "-c", "echo run >> /var/cache/app/log; /bin/busybox wc -l < /var/cache/app/log > /cache-count"]',
          "RUN --mount=type=bind,target=/ctx " +
          '["/bin/busybox", "sh", "-c", "/bin/busybox cat /ctx/hello.txt > /from-ctx; echo x > /ctx/new 2>/dev/null; true"]',
          'RUN --mount=type=bind,from=src,source=/data,target=/stage ["/bin/busybox", "cp", "/stage/f", "/from-stage"]',
          'RUN --mount=type=secret,id=tok ["/bin/busybox", "sh", "-c", "/bin/busybox wc -c < /run/secrets/tok > /secret-len"]',
          "RUN --mount=type=tmpfs,target=/scratch " +
          '["/bin/busybox", "sh", "-c", "echo t > /scratch/t && /bin/busybox ls /scratch > /tmpfs-ls"]',
          "RUN <<EOF",
          "#!/bin/busybox sh",
          "echo heredoc > /heredoc",
          "EOF",
          "",
        ].join("\n");
        const secret = "s3cr3t-value-never-in-a-layer";
        const results: Record<string, { files: Record<string, string>; paths: string[] }> = {};
        for (const mode of ["in-place", "sandbox"] as const) {
          const ctx = context(work, `mounts-${mode}`, df);
          writeFileSync(join(ctx, "hello.txt"), "hello from the context\n");
          writeFileSync(join(ctx, "tok.txt"), secret);
          const b = runExecutor(mode, ctx, [
            "--no-push",
            "--reproducible",
            "--secret",
            "id=tok,src=/workspace/tok.txt",
            "--tar-path",
            "/workspace/image.tar",
          ]);
          assertEquals(b.code, 0, `${mode}: ${b.err.slice(-3000)}`);
          assert(!readdirSync(ctx).includes("new"), `${mode}: a read-only bind of the context was written`);
          const x = join(work, `mounts-${mode}-x`);
          mkdirSync(x);
          assertEquals(sh("tar", ["-xf", join(ctx, "image.tar"), "-C", x]).code, 0);
          for (const f of readdirSync(x, { recursive: true }) as string[]) {
            const full = join(x, f);
            if (Deno.statSync(full).isFile) {
              const t = sh("sh", ["-c", `(gzip -dc '${full}' 2>/dev/null || cat '${full}') | grep -c '${secret}'`]);
              assertEquals(t.out.trim(), "0", `${mode}: the secret is in ${f}`);
            }
          }
          const rootfs = join(work, `mounts-${mode}-rootfs`);
          mkdirSync(rootfs);
          const manifest = JSON.parse(readFileSync(join(x, "manifest.json"), "utf8"));
          for (const l of manifest[0].Layers as string[]) {
            sh("sh", [
              "-c",
              `tar -xzf '${join(x, l)}' -C '${rootfs}' 2>/dev/null || tar -xf '${join(x, l)}' -C '${rootfs}'`,
            ]);
          }
          const files: Record<string, string> = {};
          for (const f of ["cache-count", "from-ctx", "from-stage", "secret-len", "tmpfs-ls", "heredoc"]) {
            files[f] = readFileSync(join(rootfs, f), "utf8").trim();
          }
          const paths = layerPaths(join(ctx, "image.tar"), work).flat().map((p) => p.replace(/^\.?\//, "")).sort();
          results[mode] = { files, paths };
        }
        const ip = results["in-place"]!, sb = results["sandbox"]!;
        assertEquals(ip.files, {
          "cache-count": "1",
          "from-ctx": "hello from the context",
          "from-stage": "from-stage",
          "secret-len": String(secret.length),
          "tmpfs-ls": "t",
          "heredoc": "heredoc",
        });
        assertEquals(ip.files, sb.files);
        for (const p of ["var/cache/app", "ctx", "stage", "run/secrets", "scratch", "dev/pipes"]) {
          assert(!ip.paths.some((x) => x === p || x.startsWith(p + "/")), `in place: ${p} reached a layer`);
        }
        assertEquals(ip.paths, sb.paths);
      });

      await t.step(
        'GitLab\'s recipe: the debug image with entrypoint [""] runs /kaniko/executor from /busybox/sh',
        () => {
          const ctx = context(
            work,
            "gitlab",
            'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "true"]\n',
          );
          const script = "mkdir -p /kaniko/.docker && echo '{\"auths\":{}}' > /kaniko/.docker/config.json && " +
            '/kaniko/executor --context "$CI_PROJECT_DIR" --dockerfile "$CI_PROJECT_DIR/Dockerfile" --no-push ' +
            '--tar-path "$CI_PROJECT_DIR/image.tar"';
          const b = sh("podman", [
            ...RUN,
            "--entrypoint",
            "",
            "-e",
            "CI_PROJECT_DIR=/builds/group/project",
            "-v",
            `${ctx}:/builds/group/project`,
            "kiln/executor:debug",
            "/busybox/sh",
            "-c",
            script,
          ]);
          assertEquals(b.code, 0, b.err.slice(-2000));
          const all = layerPaths(join(ctx, "image.tar"), work).flat();
          assertEquals(all.filter((p) => /^(\.\/)?(busybox|kaniko)(\/|$)/.test(p)), []);
        },
      );

      await t.step(
        "the executor pushes to a registry: its binary sends the layer files (monolithic and PATCH)",
        async () => {
          const bb = await startBusyboxRegistry();
          try {
            // A 40 MB layer goes up in one PATCH (over the 32 MiB monolithic threshold), a small one in one PUT.
            const ctx = context(
              work,
              "push",
              `FROM ${bb.ref}\nRUN head -c 40000000 /dev/urandom > /big\nRUN echo small > /small\n`,
            );
            const dest = `${bb.registry.host}/exec/app:1`;
            const b = sh("podman", [
              ...RUN,
              "-v",
              `${ctx}:/workspace`,
              "kiln/executor:latest",
              "--destination",
              dest,
              "--insecure-registry",
              bb.registry.host,
            ]);
            assertEquals(b.code, 0, b.err.slice(-2000));
            const raw = sh("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${dest}`]);
            assertEquals(raw.code, 0, raw.err);
            const layers = JSON.parse(raw.out).layers as { size: number }[];
            assertEquals(layers.length, 3);
            assert(layers[1]!.size > 32 * 1024 * 1024, `big layer ${layers[1]!.size}`);
            // Every blob is whole: skopeo verifies each digest while copying.
            const c = sh("skopeo", [
              "copy",
              "--quiet",
              "--src-tls-verify=false",
              `docker://${dest}`,
              `oci:${join(work, "pushed")}:x`,
            ]);
            assertEquals(c.code, 0, c.err);
          } finally {
            await bb.stop();
          }
        },
      );

      await t.step("the warmer image fills a mounted /cache that the executor then builds from", async () => {
        const bb = await startBusyboxRegistry();
        try {
          const cache = join(work, "cache");
          mkdirSync(cache);
          const w = sh("podman", [
            ...RUN,
            "-v",
            `${cache}:/cache`,
            "kiln/warmer:latest",
            "--cache-dir",
            "/cache",
            "--image",
            bb.ref,
            "--insecure-registry",
            bb.registry.host,
          ]);
          assertEquals(w.code, 0, w.err.slice(-2000));
          assertStringIncludes(w.out, `${bb.ref}@sha256:`);
          assert(readdirSync(cache).includes("linux-amd64"), readdirSync(cache).join());
          const ctx = context(work, "warm", `FROM ${bb.ref}\nRUN echo warmed > /w\n`);
          await bb.registry.stop();
          const b = sh("podman", [
            ...RUN,
            "-v",
            `${ctx}:/workspace`,
            "-v",
            `${cache}:/cache`,
            "kiln/executor:latest",
            "--cache=true",
            "--no-push",
            "--tar-path",
            "/workspace/image.tar",
            "--verbosity=debug",
          ]);
          assertEquals(b.code, 0, b.err.slice(-2000));
          // The binary loads the addon shipped beside it (native walker, libdeflate gzip).
          if (existsSync(join(REPO_ROOT, "native/build/Release/kiln_native.node"))) {
            assertStringIncludes(b.err, "Using the native walker");
          }
          assertStringIncludes(b.err, "from the base-image cache dir");
        } finally {
          await bb.stop();
        }
      });

      await t.step("as a non-root user in place fails at once with exit 2; --cleanup empties / after the build", () => {
        const ctx = context(work, "nonroot", 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "true"]\n');
        const b = sh("podman", [
          ...RUN,
          "--user",
          "1000",
          "-v",
          `${ctx}:/workspace`,
          "kiln/executor:latest",
          "--no-push",
        ]);
        assertEquals(b.code, 2, b.err);
        assertStringIncludes(b.err, "Building in place needs root, and kiln runs as uid 1000");
        const c = sh("podman", [
          ...RUN,
          "--entrypoint",
          "",
          "-v",
          `${ctx}:/workspace`,
          "kiln/executor:debug",
          "/busybox/sh",
          "-c",
          "/kaniko/executor --no-push --tar-path /workspace/image.tar --cleanup && /busybox/ls /bin/busybox 2>&1; /busybox/ls /workspace",
        ]);
        assertEquals(c.code, 0, c.err.slice(-2000));
        assertStringIncludes(c.out, "No such file", "the build's /bin/busybox is gone after --cleanup");
        assertStringIncludes(c.out, "image.tar", "the context (and the outputs in it) stay");
      });

      await t.step("bad input inside the container is one line with exit status 1", () => {
        const ctx = join(work, "bad");
        mkdirSync(ctx);
        writeFileSync(join(ctx, "Dockerfile"), "FROM scratch\nCOPY missing.txt /\n");
        const b = sh("podman", [...RUN, "-v", `${ctx}:/workspace`, "kiln/executor:latest", "--no-push"]);
        assertEquals(b.code, 1);
        assert(/Dockerfile:2: /.test(b.err), b.err);
        assert(!b.err.includes("    at "), "no stack trace");
      });
    } finally {
      for (const img of IMAGES) sh("podman", [...PODMAN, "rmi", "-f", img.tag]);
    }
  },
});
