/**
 * The single binary and the FROM-scratch executor image: `scripts/executor-image.sh` compiles kiln with
 * `bun build --compile`, builds the top-level Dockerfile with kiln itself, and podman (an independent runtime)
 * loads the image and runs builds with it, as kaniko's executor image is used.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { REPO_ROOT, skipUnless } from "./fixtures/tools.ts";
import { tempDir } from "./fixtures/temp.ts";

const NAME = "executor image: built by kiln, runs builds under podman";
const PODMAN = ["--cgroup-manager", "cgroupfs"];
const RUN = [
  ...PODMAN,
  "run",
  "--rm",
  "--runtime",
  "runc",
  "--network",
  "host",
  "--ulimit",
  "nofile=20000:20000",
  "--ulimit",
  "nproc=32768:32768",
];

function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): { out: string; err: string; code: number } {
  const r = spawnSync(cmd, args, { encoding: "utf8", cwd: opts.cwd ?? REPO_ROOT, maxBuffer: 256 << 20 });
  return { out: r.stdout ?? "", err: r.stderr ?? "", code: r.status ?? -1 };
}

Deno.test({
  name: NAME,
  ignore: skipUnless(NAME, "podman", "runc", "busybox", "root"),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const tag = `localhost/kiln-executor-test:${process.pid}`;
    const built = sh("bash", ["scripts/executor-image.sh", "--destination", tag]);
    assertEquals(built.code, 0, `executor-image.sh failed:\n${built.err.slice(-2000)}`);
    const tarPath = join(REPO_ROOT, "out/executor.tar");
    const work = tempDir("kiln-exec-");
    try {
      const loaded = sh("podman", [...PODMAN, "load", "-i", tarPath]);
      assertEquals(loaded.code, 0, loaded.err);
      assertStringIncludes(loaded.out + loaded.err, "kiln-executor-test");

      await t.step("the image is FROM scratch with the binary as entrypoint", () => {
        const inspect = sh("podman", [...PODMAN, "image", "inspect", tag]);
        assertEquals(inspect.code, 0, inspect.err);
        const info = JSON.parse(inspect.out)[0];
        assertEquals(info.Config.Entrypoint, ["/kiln/executor"]);
        const v = sh("podman", [...RUN, tag, "version"]);
        assertEquals(v.code, 0, v.err);
        assertStringIncludes(v.out, "kiln ");
      });

      for (const mode of ["in-place", "sandbox"] as const) {
        await t.step(`a build with COPY and RUN inside the container (${mode})`, () => {
          const ctx = join(work, `ctx-${mode}`);
          mkdirSync(ctx);
          copyFileSync("/bin/busybox", join(ctx, "busybox"));
          writeFileSync(
            join(ctx, "Dockerfile"),
            [
              "FROM scratch",
              "COPY busybox /bin/busybox",
              'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /out && /bin/busybox id -u > /out/uid"]',
              'CMD ["/bin/busybox", "cat", "/out/uid"]',
              "",
            ].join("\n"),
          );
          // In place (the image's default, kaniko's model) needs no privileges; the sandbox needs namespaces.
          const b = sh("podman", [
            ...RUN,
            ...(mode === "sandbox" ? ["--privileged"] : []),
            "-v",
            `${ctx}:/workspace`,
            tag,
            ...(mode === "sandbox" ? ["--sandbox"] : []),
            "--context",
            "/workspace",
            "--no-push",
            "--destination",
            `localhost/kiln-built-${mode}:1`,
            "--tar-path",
            "/workspace/image.tar",
          ]);
          assertEquals(b.code, 0, b.err.slice(-2000));
          const l = sh("podman", [...PODMAN, "load", "-i", join(ctx, "image.tar")]);
          assertEquals(l.code, 0, l.err);
          const r = sh("podman", [...RUN, `localhost/kiln-built-${mode}:1`]);
          assertEquals(r.code, 0, r.err);
          assertEquals(r.out.trim(), "0");
          sh("podman", [...PODMAN, "rmi", `localhost/kiln-built-${mode}:1`]);
        });
      }

      await t.step("bad input inside the container is one line with exit status 1", () => {
        const ctx = join(work, "bad");
        mkdirSync(ctx);
        writeFileSync(join(ctx, "Dockerfile"), "FROM scratch\nCOPY missing.txt /\n");
        const b = sh("podman", [...RUN, "-v", `${ctx}:/workspace`, tag, "--context", "/workspace", "--no-push"]);
        assertEquals(b.code, 1);
        assert(/Dockerfile:2: /.test(b.err), b.err);
        assert(!b.err.includes("    at "), "no stack trace");
      });
      assert(readFileSync(tarPath).byteLength > 1 << 20);
    } finally {
      sh("podman", [...PODMAN, "rmi", "-f", tag]);
      rmSync(work, { recursive: true, force: true });
    }
  },
});
