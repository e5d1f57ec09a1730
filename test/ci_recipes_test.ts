/**
 * The CI recipes of examples/ci/ run as their systems would run them, with the images `npm run executor-image` builds:
 * the Kubernetes Pod through `podman kube play` (hostPath volumes, a loopback registry), the GitLab job's script in the
 * debug image with `entrypoint: [""]` and GitLab's CI_* variables (credentials from CI_REGISTRY_USER/PASSWORD, the
 * registry's CA mounted into /kaniko/ssl/certs), and the Tekton Task's step with its params, workspaces and result
 * substituted as Tekton does. Each pushes to a password-protected registry, checked with skopeo.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { REPO_ROOT, skipUnless } from "./fixtures/tools.ts";
import { tempDir } from "./fixtures/temp.ts";
import { PODMAN as PODMAN_FLAGS, PODMAN_RUN } from "./fixtures/podman.ts";
import { startRegistry, type TestRegistry } from "./fixtures/registry.ts";

const NAME = "CI recipes (examples/ci): Kubernetes Pod, GitLab job, Tekton Task";
const PODMAN = [...PODMAN_FLAGS];
const RUN = [...PODMAN_RUN];

function sh(cmd: string, args: string[], env?: Record<string, string>): { out: string; err: string; code: number } {
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    cwd: REPO_ROOT,
    maxBuffer: 64 << 20,
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  return { out: r.stdout ?? "", err: r.stderr ?? "", code: r.status ?? -1 };
}

function recipe(name: string): string {
  return readFileSync(join(REPO_ROOT, "examples/ci", name), "utf8");
}

/** The items of the YAML block list under `key:` (one level, `- item` lines), as written. */
function listUnder(yaml: string, key: string): string[] {
  const lines = yaml.split("\n");
  const i = lines.findIndex((l) => l.trim() === `${key}:`);
  assert(i >= 0, `no ${key}: in the recipe`);
  const out: string[] = [];
  for (const l of lines.slice(i + 1)) {
    const m = /^\s*- (.*)$/.exec(l);
    if (!m) break;
    out.push(m[1]!);
  }
  return out;
}

function context(root: string, name: string): string {
  const ctx = join(root, name);
  mkdirSync(ctx, { recursive: true });
  copyFileSync("/bin/busybox", join(ctx, "busybox"));
  writeFileSync(
    join(ctx, "Dockerfile"),
    `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo ${name} > /built-by"]\n`,
  );
  return ctx;
}

function pushed(reg: TestRegistry, ref: string, tls: boolean): string {
  let certDir = "";
  if (tls) {
    // skopeo's --cert-dir reads every *.key there as a client key: give it the CA alone.
    certDir = tempDir("kiln-ci-skopeo-certs-");
    copyFileSync(reg.caFile!, join(certDir, "ca.crt"));
  }
  const r = sh("skopeo", [
    "inspect",
    "--format",
    "{{.Digest}}",
    tls ? `--cert-dir=${certDir}` : "--tls-verify=false",
    `--creds=${reg.username}:${reg.password}`,
    `docker://${ref}`,
  ]);
  assertEquals(r.code, 0, `${ref} was not pushed: ${r.err}`);
  return r.out.trim();
}

function dockerConfig(dir: string, reg: TestRegistry): void {
  mkdirSync(dir, { recursive: true });
  const auth = btoa(`${reg.username}:${reg.password}`);
  writeFileSync(join(dir, "config.json"), JSON.stringify({ auths: { [reg.host]: { auth } } }));
}

Deno.test({
  name: NAME,
  ignore: skipUnless(NAME, "podman", "runc", "catatonit", "busybox", "root", "docker-registry", "skopeo", "openssl"),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const built = sh("bash", ["scripts/executor-image.sh"]);
    assertEquals(built.code, 0, `executor-image.sh failed:\n${built.err.slice(-2000)}`);
    for (const tar of ["out/executor.tar", "out/executor-debug.tar"]) {
      assertEquals(sh("podman", [...PODMAN, "load", "-q", "-i", join(REPO_ROOT, tar)]).code, 0);
    }
    const root = tempDir("kiln-ci-recipes-");
    const plain = await startRegistry({ auth: "basic" });
    const tls = await startRegistry({ auth: "basic", tls: true });
    try {
      await t.step("the Kubernetes Pod, with podman kube play", async () => {
        const ctx = context(root, "k8s");
        const cfg = join(root, "k8s-docker");
        dockerConfig(cfg, plain);
        const pod = recipe("kubernetes-pod.yaml")
          .replaceAll("registry.example.com:5000", plain.host)
          .replace("# hostNetwork: true", "hostNetwork: true")
          .replace("        - --cache=true\n", `        - --cache=true\n        - --insecure-registry=${plain.host}\n`)
          .replace("/srv/build-context", ctx)
          .replace("/srv/docker-config", cfg);
        const file = join(root, "pod.yaml");
        writeFileSync(file, pod);
        const conf = join(root, "containers.conf");
        writeFileSync(
          conf,
          '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' +
            '[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n',
        );
        const env = { CONTAINERS_CONF: conf };
        sh("podman", ["kube", "down", file], env);
        const play = sh("podman", ["kube", "play", file], env);
        assertEquals(play.code, 0, play.err);
        try {
          let state = "";
          for (let i = 0; i < 240 && !/^exited/i.test(state); i++) {
            await new Promise((r) => setTimeout(r, 500));
            state = sh(
              "podman",
              ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "kiln-build-kiln"],
              env,
            )
              .out.trim();
          }
          const logs = sh("podman", ["logs", "kiln-build-kiln"], env);
          assertEquals(state, "exited 0", `the pod's container: ${logs.out}${logs.err}`);
        } finally {
          sh("podman", ["kube", "down", file], env);
        }
        assertMatch(pushed(plain, `${plain.host}/team/app:1`, false), /^sha256:/);
      });

      await t.step(
        'the GitLab job: debug image, entrypoint [""], CI_REGISTRY_* credentials, a CA in /kaniko/ssl/certs',
        () => {
          const project = context(root, "gitlab");
          const script = listUnder(recipe("gitlab-ci.yml"), "script").join("\n");
          const env: Record<string, string> = {
            CI_PROJECT_DIR: "/builds/group/project",
            CI_REGISTRY: tls.host,
            CI_REGISTRY_IMAGE: `${tls.host}/group/project`,
            CI_REGISTRY_USER: tls.username!,
            CI_REGISTRY_PASSWORD: tls.password!,
            CI_COMMIT_SHORT_SHA: "abc1234",
          };
          const b = sh("podman", [
            ...RUN,
            "--entrypoint",
            "",
            ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
            "-v",
            `${project}:/builds/group/project`,
            "-v",
            `${tls.caFile}:/kaniko/ssl/certs/registry-ca.crt:ro`,
            "kiln/executor:debug",
            "/busybox/sh",
            "-c",
            script,
          ]);
          assertEquals(b.code, 0, b.err.slice(-3000));
          assertMatch(pushed(tls, `${tls.host}/group/project:abc1234`, true), /^sha256:/);
          assert(!b.err.includes(tls.password!), "the password is never printed");
        },
      );

      await t.step("the Tekton Task's step, with its params, workspaces and result substituted", () => {
        const task = recipe("tekton-task.yaml");
        const source = context(root, "tekton");
        const cfg = join(root, "tekton-docker");
        dockerConfig(cfg, tls);
        const results = join(root, "tekton-results");
        mkdirSync(results);
        const image = `${tls.host}/tekton/app:1`;
        const subst = (s: string) =>
          s.replaceAll("$(params.IMAGE)", image)
            .replaceAll("$(params.DOCKERFILE)", "./Dockerfile")
            .replaceAll("$(params.CONTEXT)", "./")
            .replaceAll("$(workspaces.source.path)", "/workspace/source")
            .replaceAll("$(results.IMAGE_DIGEST.path)", "/tekton/results/IMAGE_DIGEST");
        const args = listUnder(task, "args").map(subst);
        const workdir = subst(/workingDir: (.*)/.exec(task)![1]!);
        const b = sh("podman", [
          ...RUN,
          "-w",
          workdir,
          "-v",
          `${source}:/workspace/source`,
          "-v",
          `${cfg}:/kaniko/.docker`,
          "-v",
          `${results}:/tekton/results`,
          "-v",
          `${tls.caFile}:/kaniko/ssl/certs/registry-ca.crt:ro`,
          "kiln/executor:latest",
          ...args,
        ]);
        assertEquals(b.code, 0, b.err.slice(-3000));
        const digest = readFileSync(join(results, "IMAGE_DIGEST"), "utf8").trim();
        assertEquals(digest, pushed(tls, image, true));
      });
    } finally {
      await plain.stop();
      await tls.stop();
      for (const tag of ["kiln/executor:latest", "kiln/executor:debug"]) sh("podman", [...PODMAN, "rmi", "-f", tag]);
    }
  },
});
