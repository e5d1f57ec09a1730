/**
 * The fidelity corpus (test/corpus/<case>/): every case is built with kiln and with buildah (`--isolation chroot`,
 * vfs storage in a temporary CONTAINERS_STORAGE_CONF), both images are unpacked with umoci, and the root
 * filesystems and configs are compared field by field with test/tools/compare_rootfs.ts. Cases buildah 1.28
 * cannot build (heredocs, symbolic --chmod, --parents, --exclude, --checksum, RUN --network, ARG through
 * FROM <stage>) and bad-input cases are checked against explicit expectations in their case.json instead.
 * Documented differences are in test/corpus/DIVERGENCES.md and listed per case in case.json `allow`.
 *
 * Case files: `Dockerfile`, context files, optional `prepare.sh` (run with sh in a scratch copy of the context,
 * for modes git cannot keep and generated archives), optional `case.json`:
 * `{oracle?: "buildah"|"expect", buildArgs?: string[], target?: string, secrets?: {id: value},
 *   expect?: {files?: {path: {type?, mode?, uid?, gid?, content?, link?}}, absent?: string[], error?: string},
 *   allow?: {path: [field]}, allowConfig?: [field], why?: string}`.
 *
 * `KILN_CORPUS=case1,case2` limits the run; `KILN_CORPUS_JOBS` sets the parallelism (default 3);
 * `KILN_CORPUS_KEEP=1` keeps the unpacked images for inspection.
 *
 * @module
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { assert } from "../assert.ts";
import { makeBusyboxRootfs } from "../fixtures/busybox_rootfs.ts";
import { hasCommand, isRoot, REPO_ROOT } from "../fixtures/tools.ts";
import { imageNameSafeTmpdir } from "../fixtures/temp.ts";
import { compareConfigs, compareRootfs, readLayoutConfig, scanRootfs } from "../tools/compare_rootfs.ts";
import type { BuildOptions } from "../../lib/executor/mod.ts";

const CORPUS = `${REPO_ROOT}/test/corpus`;

interface CaseSpec {
  oracle?: "buildah" | "expect";
  buildArgs?: string[];
  target?: string;
  secrets?: Record<string, string>;
  expect?: {
    files?: Record<
      string,
      { type?: string; mode?: string; uid?: number; gid?: number; content?: string; link?: string }
    >;
    absent?: string[];
    error?: string;
  };
  allow?: Record<string, string[]>;
  allowConfig?: string[];
  why?: string;
}

interface Outcome {
  name: string;
  ok: boolean;
  lines: string[];
  ms: number;
}

function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 180_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out });
    });
  });
}

async function must(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.out.trim().slice(-2000)}`);
  return r.out;
}

/**
 * Packs a root filesystem as the OCI layout `DIR/NAME:latest` with umoci (init, new, unpack, repack, config), moving
 * `rootfs` into the bundle.
 */
async function packLayout(dir: string, name: string, rootfs: string, cmd: string): Promise<string> {
  const layout = `${dir}/${name}`;
  const bundle = `${dir}/${name}-bundle`;
  await must("umoci", ["init", "--layout", layout]);
  await must("umoci", ["new", "--image", `${layout}:latest`]);
  await must("umoci", ["unpack", "--image", `${layout}:latest`, bundle]);
  fs.rmSync(`${bundle}/rootfs`, { recursive: true });
  fs.renameSync(rootfs, `${bundle}/rootfs`);
  await must("umoci", ["repack", "--image", `${layout}:latest`, bundle], { timeoutMs: 600_000 });
  await must("umoci", [
    "config",
    "--image",
    `${layout}:latest`,
    "--config.env",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--config.cmd",
    cmd,
  ]);
  fs.rmSync(bundle, { recursive: true });
  return layout;
}

/** Builds the shared busybox base as an OCI layout (`DIR/base:latest`). */
function makeBaseLayout(dir: string): Promise<string> {
  return packLayout(dir, "base", makeBusyboxRootfs(`${dir}/base-rootfs`), "sh");
}

/** The Debian mirror apt uses here (deb822 `URIs:` or a `deb` line), else deb.debian.org. */
function debianMirror(): string {
  const texts: string[] = [];
  for (const d of ["/etc/apt/sources.list.d", "/etc/apt"]) {
    for (const f of fs.existsSync(d) ? fs.readdirSync(d) : []) {
      if (/\.(sources|list)$/.test(f)) texts.push(fs.readFileSync(`${d}/${f}`, "utf8"));
    }
  }
  for (const t of texts) {
    const m = t.match(/^URIs:\s*(\S+)/m) ?? t.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/m);
    if (m) return m[1]!;
  }
  return "http://deb.debian.org/debian";
}

/**
 * Builds a real Debian base (`debootstrap --variant=minbase bookworm`, ~30 s) as an OCI layout (`DIR:latest`) with
 * umoci, for the cases that say `FROM debian`. Device nodes, downloaded .debs, apt lists, logs and the host's
 * resolv.conf/hostname are removed, as an image build would.
 */
async function makeDebianLayout(dir: string): Promise<string> {
  const rootfs = `${dir}/debian-rootfs`;
  await must("debootstrap", ["--variant=minbase", "bookworm", rootfs, debianMirror()], { timeoutMs: 600_000 });
  await must("sh", [
    "-c",
    `cd '${rootfs}' && rm -rf dev/* var/cache/apt/archives/*.deb var/lib/apt/lists/* var/log/bootstrap.log ` +
    "etc/resolv.conf etc/hostname etc/hosts",
  ]);
  return await packLayout(dir, "debian", rootfs, "bash");
}

/** Whether a case builds on the Debian base. */
function usesDebian(name: string): boolean {
  return /^FROM\s+debian\b/im.test(fs.readFileSync(`${CORPUS}/${name}/Dockerfile`, "utf8"));
}

function startFileServer(): { base: string; close(): Promise<void> } {
  const files: Record<string, string> = {
    "/files/tool.sh": "#!/bin/sh\necho tool\n",
    "/files/data.bin": "binary-ish data\n",
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const body = files[new URL(req.url).pathname];
    if (body === undefined) return new Response("not found", { status: 404 });
    return new Response(body, { headers: { "last-modified": "Tue, 15 Nov 1994 08:12:31 GMT" } });
  });
  return { base: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

function kilnAvailable(): string | undefined {
  if (!fs.existsSync(`${REPO_ROOT}/lib/fs/extract.ts`)) {
    return "lib/fs/extract.ts (base image extraction) not there yet";
  }
  return undefined;
}

interface Env {
  tmp: string;
  baseLayout: string;
  /** The Debian base's layout, or why there is none. */
  debian: { layout: string } | { why: string };
  storageEnv: Record<string, string>;
  url: string;
  kiln: boolean;
  buildah: boolean;
}

function prepareContext(name: string, dir: string): void {
  fs.cpSync(`${CORPUS}/${name}`, dir, { recursive: true, verbatimSymlinks: true });
  fs.rmSync(`${dir}/case.json`, { force: true });
  if (fs.existsSync(`${dir}/prepare.sh`)) {
    const r = new Deno.Command("sh", { args: ["-e", "prepare.sh"], cwd: dir }).outputSync();
    if (!r.success) throw new Error(`prepare.sh failed: ${new TextDecoder().decode(r.stderr)}`);
    fs.rmSync(`${dir}/prepare.sh`);
  }
}

function buildArgsOf(spec: CaseSpec, env: Env): string[] {
  return [`BASE_URL=${env.url}`, ...(spec.buildArgs ?? [])];
}

async function buildWithBuildah(
  name: string,
  spec: CaseSpec,
  env: Env,
  work: string,
): Promise<Record<string, unknown>> {
  const ctx = `${work}/ctx-buildah`;
  prepareContext(name, ctx);
  // Docker format: buildah 1.28 honours SHELL, HEALTHCHECK and ONBUILD only there (as BuildKit always does).
  const args = ["bud", "--format", "docker", "--isolation", "chroot", "--pull=never", "-q", "-t", `corpus-${name}`];
  for (const a of buildArgsOf(spec, env)) args.push("--build-arg", a);
  if (spec.target) args.push("--target", spec.target);
  for (const [id, value] of Object.entries(spec.secrets ?? {})) {
    fs.writeFileSync(`${work}/secret-${id}`, value);
    args.push("--secret", `id=${id},src=${work}/secret-${id}`);
  }
  args.push("-f", `${ctx}/Dockerfile`, ctx);
  await must("buildah", args, { env: env.storageEnv });
  await must("buildah", ["push", "-q", `corpus-${name}`, `oci:${work}/buildah-oci:latest`], { env: env.storageEnv });
  await must("umoci", ["unpack", "--image", `${work}/buildah-oci:latest`, `${work}/buildah-bundle`]);
  // The OCI copy drops docker-only config fields (Healthcheck, Shell, OnBuild): compare buildah's docker config.
  const inspect = JSON.parse(
    await must("buildah", ["inspect", "--type", "image", `corpus-${name}`], { env: env.storageEnv }),
  );
  return inspect.Docker as Record<string, unknown>;
}

async function buildWithKiln(
  name: string,
  spec: CaseSpec,
  env: Env,
  work: string,
): Promise<{ layout?: string; error?: string }> {
  const ctx = `${work}/ctx-kiln`;
  prepareContext(name, ctx);
  const layout = `${work}/kiln-oci`;
  const args = [
    "run",
    "-A",
    `${REPO_ROOT}/cli/main.ts`,
    "build",
    "--context",
    ctx,
    "--dockerfile",
    `${ctx}/Dockerfile`,
    "--no-push",
    "--oci-layout-path",
    layout,
    "--build-context",
    `busybox=oci-layout://${env.baseLayout}:latest`,
    ...("layout" in env.debian ? ["--build-context", `debian=oci-layout://${env.debian.layout}:latest`] : []),
    "--run-cache-dir",
    `${env.tmp}/run-cache`,
  ];
  for (const a of buildArgsOf(spec, env)) args.push("--build-arg", a);
  if (spec.target) args.push("--target", spec.target);
  const secretEnv: Record<string, string> = {};
  for (const [id, value] of Object.entries(spec.secrets ?? {})) {
    fs.writeFileSync(`${work}/secret-${id}`, value);
    args.push("--secret", `id=${id},src=${work}/secret-${id}`);
  }
  let r: { code: number; out: string };
  const cli = `${REPO_ROOT}/cli/commands/build.ts`;
  const cliUsable = fs.existsSync(cli) &&
    (spec.secrets === undefined || fs.readFileSync(cli, "utf8").includes('"secret"')) &&
    fs.readFileSync(cli, "utf8").includes('"run-cache-dir"');
  if (cliUsable) {
    r = await run(Deno.execPath(), args, { env: { ...secretEnv, NO_COLOR: "1" }, cwd: work });
  } else {
    // No CLI (or no --secret in it) yet: the same build through the library.
    const opts: BuildOptions = {
      context: ctx,
      dockerfile: `${ctx}/Dockerfile`,
      outputs: { noPush: true, ociLayoutPath: layout },
      buildContexts: {
        busybox: `oci-layout://${env.baseLayout}:latest`,
        ...("layout" in env.debian ? { debian: `oci-layout://${env.debian.layout}:latest` } : {}),
      },
      buildArgs: Object.fromEntries(
        buildArgsOf(spec, env).map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]),
      ),
      ...(spec.target ? { target: spec.target } : {}),
      secrets: Object.keys(spec.secrets ?? {}).map((id) => ({ id, src: `${work}/secret-${id}` })),
      workDir: work,
      sandbox: { runCacheDir: `${env.tmp}/run-cache` },
    };
    r = await run(Deno.execPath(), ["run", "-A", `${REPO_ROOT}/test/corpus/_kiln_build.ts`, JSON.stringify(opts)], {
      env: { NO_COLOR: "1" },
      cwd: work,
    });
  }
  if (r.code !== 0) {
    // The message lines, not a stack trace's frames.
    const lines = r.out.trim().split("\n").filter((l) => !/^\s+at /.test(l) && l.trim() !== "");
    return { error: lines.slice(-3).join(" | ") };
  }
  const tag = JSON.parse(fs.readFileSync(`${layout}/index.json`, "utf8")).manifests?.[0]?.annotations?.[
    "org.opencontainers.image.ref.name"
  ];
  await must("umoci", ["unpack", "--image", `${layout}:${tag ?? "latest"}`, `${work}/kiln-bundle`]);
  return { layout };
}

function checkExpect(spec: CaseSpec, rootfs: string): string[] {
  const out: string[] = [];
  const scan = scanRootfs(rootfs);
  for (const [p, want] of Object.entries(spec.expect?.files ?? {})) {
    const got = scan.get(p);
    if (!got) {
      out.push(`${p}: missing`);
      continue;
    }
    if (want.type !== undefined && got.type !== want.type) out.push(`${p}: type ${got.type}, want ${want.type}`);
    if (want.mode !== undefined && got.mode !== parseInt(want.mode, 8)) {
      out.push(`${p}: mode 0${got.mode.toString(8)}, want ${want.mode}`);
    }
    if (want.uid !== undefined && got.uid !== want.uid) out.push(`${p}: uid ${got.uid}, want ${want.uid}`);
    if (want.gid !== undefined && got.gid !== want.gid) out.push(`${p}: gid ${got.gid}, want ${want.gid}`);
    if (want.link !== undefined && got.link !== want.link) out.push(`${p}: link ${got.link}, want ${want.link}`);
    if (want.content !== undefined) {
      const c = fs.readFileSync(rootfs + p, "utf8");
      if (c !== want.content) out.push(`${p}: content ${JSON.stringify(c)}, want ${JSON.stringify(want.content)}`);
    }
  }
  for (const p of spec.expect?.absent ?? []) if (scan.has(p)) out.push(`${p}: should be absent`);
  return out;
}

async function runCase(name: string, env: Env): Promise<Outcome> {
  const t0 = Date.now();
  const specPath = `${CORPUS}/${name}/case.json`;
  const spec: CaseSpec = fs.existsSync(specPath) ? JSON.parse(fs.readFileSync(specPath, "utf8")) : {};
  const oracle = spec.oracle ?? "buildah";
  if (usesDebian(name) && "why" in env.debian) {
    return { name, ok: true, lines: [`skipped: no Debian base (${env.debian.why})`], ms: 0 };
  }
  const work = `${env.tmp}/case-${name}`;
  fs.mkdirSync(work);
  const lines: string[] = [];
  try {
    if (oracle === "buildah") {
      if (!env.buildah) return { name, ok: true, lines: ["skipped: no buildah"], ms: 0 };
      const bConfig = await buildWithBuildah(name, spec, env, work);
      lines.push(...checkExpect(spec, `${work}/buildah-bundle/rootfs`).map((l) => `buildah: ${l}`));
      if (env.kiln) {
        const k = await buildWithKiln(name, spec, env, work);
        if (k.error) lines.push(`kiln build failed: ${k.error}`);
        else {
          lines.push(
            ...compareRootfs(`${work}/kiln-bundle/rootfs`, `${work}/buildah-bundle/rootfs`, {
              allow: spec.allow ?? {},
            }),
          );
          lines.push(...compareConfigs(readLayoutConfig(k.layout!), bConfig, spec.allowConfig ?? []));
          lines.push(...checkExpect(spec, `${work}/kiln-bundle/rootfs`).map((l) => `kiln: ${l}`));
        }
      }
    } else {
      if (!env.kiln) return { name, ok: true, lines: ["skipped: kiln cannot build yet"], ms: 0 };
      const k = await buildWithKiln(name, spec, env, work);
      if (spec.expect?.error !== undefined) {
        if (!k.error) lines.push(`expected the build to fail with "${spec.expect.error}"`);
        else if (!k.error.includes(spec.expect.error)) lines.push(`error "${k.error}" lacks "${spec.expect.error}"`);
      } else if (k.error) lines.push(`kiln build failed: ${k.error}`);
      else lines.push(...checkExpect(spec, `${work}/kiln-bundle/rootfs`));
    }
  } catch (e) {
    lines.push(`error: ${(e as Error).message.slice(0, 1500)}`);
  } finally {
    if (!Deno.env.get("KILN_CORPUS_KEEP")) fs.rmSync(work, { recursive: true, force: true });
  }
  return { name, ok: lines.length === 0, lines, ms: Date.now() - t0 };
}

const needs = ["umoci"].filter((c) => !hasCommand(c));
const skipReason = !isRoot() ? "not root" : needs.length ? `missing ${needs.join(", ")}` : undefined;
if (skipReason) console.error(`SKIP corpus: ${skipReason}`);

Deno.test({
  name: "corpus: kiln and buildah build every case to the same image",
  ignore: skipReason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const only = Deno.env.get("KILN_CORPUS")?.split(",").filter((x) => x);
    const names = fs.readdirSync(CORPUS).filter((n) => fs.existsSync(`${CORPUS}/${n}/Dockerfile`)).sort()
      .filter((n) => !only || only.includes(n));
    assert(only !== undefined || names.length >= 40, `corpus has ${names.length} cases, want >= 40`);
    // buildah names images after the layout's path: lower case, in a temp dir that allows it.
    const tmp = `${imageNameSafeTmpdir()}/kiln-corpus-${crypto.randomUUID()}`;
    fs.mkdirSync(tmp);
    const server = startFileServer();
    const buildah = hasCommand("buildah");
    const kilnWhy = kilnAvailable();
    if (!buildah) console.error("corpus: buildah not installed; buildah-oracle cases are skipped");
    if (kilnWhy) console.error(`corpus: kiln half skipped: ${kilnWhy}`);
    try {
      fs.writeFileSync(
        `${tmp}/storage.conf`,
        `[storage]\ndriver = "vfs"\nrunroot = "${tmp}/run"\ngraphroot = "${tmp}/graph"\n`,
      );
      const storageEnv = { CONTAINERS_STORAGE_CONF: `${tmp}/storage.conf`, BUILDAH_ISOLATION: "chroot" };
      const baseLayout = await makeBaseLayout(tmp);
      if (buildah) {
        const id = (await must("buildah", ["pull", "-q", `oci:${baseLayout}:latest`], { env: storageEnv })).trim();
        await must("buildah", ["tag", id.split("\n").pop()!, "busybox"], { env: storageEnv });
      }
      // The Debian base only when a selected case needs it (debootstrap fetches ~40 MB from the Debian mirror).
      let debian: Env["debian"] = { why: "no case needs it" };
      if (names.some(usesDebian)) {
        try {
          if (!hasCommand("debootstrap")) throw new Error("debootstrap is not installed");
          const layout = await makeDebianLayout(tmp);
          if (buildah) {
            const id = (await must("buildah", ["pull", "-q", `oci:${layout}:latest`], { env: storageEnv })).trim();
            await must("buildah", ["tag", id.split("\n").pop()!, "debian"], { env: storageEnv });
          }
          debian = { layout };
        } catch (e) {
          debian = { why: (e as Error).message.slice(0, 300) };
          console.error(`corpus: the Debian cases are skipped: ${debian.why}`);
        }
      }
      const env: Env = {
        tmp,
        baseLayout,
        debian,
        storageEnv,
        url: server.base,
        kiln: kilnWhy === undefined,
        buildah,
      };
      const jobs = Number(Deno.env.get("KILN_CORPUS_JOBS") ?? "3");
      const queue = [...names];
      const results: Outcome[] = [];
      await Promise.all(
        Array.from({ length: jobs }, async () => {
          for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
            const r = await runCase(n, env);
            results.push(r);
            console.log(
              `${r.ok ? "ok  " : "FAIL"} ${r.name} (${r.ms} ms)${r.lines.length ? "\n  " + r.lines.join("\n  ") : ""}`,
            );
          }
        }),
      );
      const failed = results.filter((r) => !r.ok);
      console.log(`corpus: ${results.length - failed.length} passed, ${failed.length} failed`);
      assert(failed.length === 0, `corpus cases failed: ${failed.map((f) => f.name).join(", ")}`);
    } finally {
      await server.close();
      if (buildah) await run("buildah", ["rm", "--all"], { env: { CONTAINERS_STORAGE_CONF: `${tmp}/storage.conf` } });
      if (!Deno.env.get("KILN_CORPUS_KEEP")) fs.rmSync(tmp, { recursive: true, force: true });
      else console.log(`kept ${tmp}`);
    }
  },
});
