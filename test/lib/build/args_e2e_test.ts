/**
 * ARG/ENV scoping end to end through `kiln build` (cli/main.ts): a busybox base from an OCI layout
 * (`--build-context base=oci-layout://DIR:latest`, no registry), results read back with umoci (files written by RUN)
 * and skopeo (config Env, Labels, history). The rules are BuildKit's: global ARGs only in FROM unless re-declared;
 * ARGs inherited through FROM ancestry, never between sibling stages; ENV over ARG; `--build-arg` over defaults;
 * proxy args in RUN only; TARGET and BUILD platform args; unused build args warn; a bare `--build-arg K` reads K from
 * the environment. Also: `<Dockerfile>.dockerignore` wins over `.dockerignore`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { main } from "../../../cli/main.ts";
import type { CliIO } from "../../../cli/command.ts";
import { buildBusyboxLayout } from "../../fixtures/busybox_image.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { assert, assertEquals } from "../../assert.ts";
import { inspectConfig, memoryIO, unpackLayout } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("kiln build ARG/ENV e2e", "umoci", "skopeo", "python3", "busybox", "root");
const scratchIgnore = skipUnless("kiln build .dockerignore e2e", "umoci", "skopeo", "python3", "root");

function io(cwd: string, env: Record<string, string> = {}): CliIO & { out: string[]; err: string[] } {
  return memoryIO(cwd, env);
}

let busyboxLayout: string | undefined;
function busybox(root: string): string {
  return busyboxLayout ??= buildBusyboxLayout(join(root, "busybox"));
}

/** Runs `kiln build` on `dockerfile` in a fresh context; returns the layout, stderr and the unpacked rootfs. */
async function kilnBuild(
  root: string,
  dockerfile: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ layout: string; err: string; rootfs: string; read(p: string): string | undefined }> {
  const ctx = mkdtempSync(join(root, "ctx-"));
  writeFileSync(join(ctx, "Dockerfile"), dockerfile);
  const layout = join(ctx, "..", `${ctx.split("/").pop()}-layout`);
  const cli = io(root, env);
  const code = await main([
    "build",
    "-c",
    ctx,
    "--no-push",
    `--oci-layout-path=${layout}`,
    `--build-context=base=oci-layout://${busybox(root)}:latest`,
    "-v",
    "warn",
    ...args,
  ], cli);
  const err = cli.err.join("");
  assertEquals(code, 0, err);
  const { rootfs } = unpackLayout(layout);
  return {
    layout,
    err,
    rootfs,
    read: (p) => {
      try {
        return readFileSync(join(rootfs, p), "utf8");
      } catch {
        return undefined;
      }
    },
  };
}

interface Config {
  config: { Env?: string[]; Labels?: Record<string, string> };
  history?: { created_by?: string }[];
}

const SCOPING = `
ARG GLOBAL=g1
ARG BASE=base
FROM \${BASE} AS parent
ARG PARENT_ARG=p1
ARG OVERRIDDEN=default
ENV FROM_ENV=e1
RUN echo "global=[$GLOBAL] parent=[$PARENT_ARG] over=[$OVERRIDDEN]" > /parent.txt

FROM parent AS child
RUN echo "parent_arg=[$PARENT_ARG] env=[$FROM_ENV] global=[$GLOBAL] over=[$OVERRIDDEN]" > /child.txt

FROM \${BASE} AS sibling
RUN echo "parent_arg=[$PARENT_ARG] env=[$FROM_ENV] global=[$GLOBAL]" > /sibling.txt
ARG GLOBAL
RUN echo "redeclared global=[$GLOBAL]" >> /sibling.txt

FROM child
COPY --from=sibling /sibling.txt /sibling.txt
ARG V=arg-default
ENV V=env-value
RUN echo "V=[$V]" > /v.txt
ENV W=env-first
ARG W=arg-after
ARG X
RUN echo "X=[$X] W=[$W]" > /x.txt
ARG FROMENV
ARG UNSETENV
RUN echo "fromenv=[$FROMENV] unsetenv=[\${UNSETENV-unset}]" > /fromenv.txt
RUN echo "proxy=[$http_proxy] [$HTTPS_PROXY]" > /proxy.txt
LABEL over=$OVERRIDDEN v=$V parent=$PARENT_ARG global=[$GLOBAL]
`;

Deno.test({
  name: "kiln build: ARG/ENV scoping follows BuildKit (FROM ancestry, siblings, globals, ENV over ARG, build args)",
  ignore,
  sanitizeResources: false,
  async fn() {
    const root = tempDir("kiln-args-e2e-");
    try {
      const b = await kilnBuild(root, SCOPING, [
        "--build-arg=OVERRIDDEN=from-cli",
        "--build-arg=V=cli-v",
        "--build-arg=X=cli-x",
        "--build-arg=UNUSED_ONE=1",
        "--build-arg=FROMENV",
        "--build-arg=UNSETENV",
        "--build-arg=http_proxy=http://proxy.invalid:3128",
        "--build-arg=HTTPS_PROXY=http://secure-proxy.invalid:3129",
      ], { FROMENV: "taken-from-env" });
      // Global ARGs are visible in FROM only; a stage sees one after `ARG NAME` re-declares it.
      assertEquals(b.read("/parent.txt"), "global=[] parent=[p1] over=[from-cli]\n");
      // FROM <stage> inherits the parent's ARG values and ENV.
      assertEquals(b.read("/child.txt"), "parent_arg=[p1] env=[e1] global=[] over=[from-cli]\n");
      // A sibling stage inherits nothing from another stage.
      assertEquals(b.read("/sibling.txt"), "parent_arg=[] env=[] global=[]\nredeclared global=[g1]\n");
      // ENV after ARG wins (even over --build-arg); an ARG after ENV of the same name is the last writer.
      assertEquals(b.read("/v.txt"), "V=[env-value]\n");
      assertEquals(b.read("/x.txt"), "X=[cli-x] W=[arg-after]\n");
      // A bare --build-arg K takes K from the environment; unset there, it is not given at all.
      assertEquals(b.read("/fromenv.txt"), "fromenv=[taken-from-env] unsetenv=[unset]\n");
      // Proxy args reach RUN without ARG...
      assertEquals(b.read("/proxy.txt"), "proxy=[http://proxy.invalid:3128] [http://secure-proxy.invalid:3129]\n");
      const cfg = inspectConfig(`oci:${b.layout}:latest`) as unknown as Config;
      const env = cfg.config.Env ?? [];
      // ...but never the config or the history; ARG values are not persisted either.
      assert(!JSON.stringify(cfg).includes("proxy.invalid"), JSON.stringify(cfg));
      assertEquals(env.filter((e) => /^(FROM_ENV|V|W)=/.test(e)), ["FROM_ENV=e1", "V=env-value", "W=env-first"]);
      assert(
        !env.some((e) => /^(PARENT_ARG|OVERRIDDEN|X|FROMENV|GLOBAL|http_proxy|HTTPS_PROXY)=/.test(e)),
        env.join(" "),
      );
      assertEquals(cfg.config.Labels, { over: "from-cli", v: "env-value", parent: "p1", global: "[]" });
      // Unused build args warn (proxy args and args declared anywhere in the build do not).
      assert(/\[UNUSED_ONE\] were not consumed/.test(b.err), b.err);
      assert(!/OVERRIDDEN|http_proxy|FROMENV.*not consumed/.test(b.err), b.err);
    } finally {
      rmSync(root, { recursive: true, force: true });
      busyboxLayout = undefined;
    }
  },
});

Deno.test({
  name: "kiln build: TARGET*/BUILD* platform args, declared in a stage, follow --custom-platform and the host",
  ignore,
  sanitizeResources: false,
  async fn() {
    const root = tempDir("kiln-args-e2e-");
    try {
      const df = [
        "ARG TARGETARCH",
        // The build stage runs natively on the amd64 base (a cross-compile), the target args follow --custom-platform.
        "FROM --platform=$BUILDPLATFORM base AS build",
        'RUN echo "undeclared=[$TARGETARCH]" > /p.txt',
        "ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDOS BUILDARCH",
        'RUN echo "$TARGETPLATFORM $TARGETOS $TARGETARCH $TARGETVARIANT $BUILDOS $BUILDARCH" >> /p.txt',
        "FROM build",
        "LABEL stage=$TARGETARCH",
        "",
      ].join("\n");
      const host = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
      const b = await kilnBuild(root, df, ["--custom-platform=linux/arm/v7"]);
      assertEquals(b.read("/p.txt"), `undeclared=[]\nlinux/arm/v7 linux arm v7 linux ${host}\n`);
      // ARG values of the parent stage come along through FROM build.
      const cfg = inspectConfig(`oci:${b.layout}:latest`) as unknown as Config;
      assertEquals(cfg.config.Labels, { stage: "arm" });
    } finally {
      rmSync(root, { recursive: true, force: true });
      busyboxLayout = undefined;
    }
  },
});

Deno.test({
  name: "kiln build: <Dockerfile>.dockerignore wins over the context's .dockerignore",
  ignore: scratchIgnore,
  async fn() {
    const root = tempDir("kiln-ignore-e2e-");
    try {
      const ctx = join(root, "ctx");
      mkdirSync(join(ctx, "docker"), { recursive: true });
      for (const f of ["a.txt", "b.txt", "c.txt"]) writeFileSync(join(ctx, f), f);
      writeFileSync(join(ctx, ".dockerignore"), "a.txt\n");
      writeFileSync(join(ctx, "docker", "app.Dockerfile"), "FROM scratch\nCOPY . /ctx/\n");
      writeFileSync(join(ctx, "docker", "app.Dockerfile.dockerignore"), "b.txt\ndocker\n");
      const run = async (dockerfile: string) => {
        const layout = join(root, `layout-${dockerfile.replaceAll("/", "_")}`);
        const cli = io(root);
        const code = await main(
          ["build", "-c", ctx, "-f", dockerfile, "--no-push", `--oci-layout-path=${layout}`, "-v", "error"],
          cli,
        );
        assertEquals(code, 0, cli.err.join(""));
        return Object.keys(unpackLayout(layout).files).filter((p) => p.startsWith("/ctx/")).sort();
      };
      // docker/app.Dockerfile.dockerignore is used instead of .dockerignore (so a.txt is copied).
      assertEquals(await run(join(ctx, "docker", "app.Dockerfile")), [
        "/ctx/.dockerignore",
        "/ctx/a.txt",
        "/ctx/c.txt",
      ]);
      // Without it, the context's .dockerignore applies.
      rmSync(join(ctx, "docker", "app.Dockerfile.dockerignore"));
      assertEquals(
        await run(join(ctx, "docker", "app.Dockerfile")),
        ["/ctx/.dockerignore", "/ctx/b.txt", "/ctx/c.txt", "/ctx/docker", "/ctx/docker/app.Dockerfile"],
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});
