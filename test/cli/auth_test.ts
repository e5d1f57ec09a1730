/**
 * Every credential source CI provides, against a real htpasswd-protected docker-registry, through the CLI as a
 * child process with a clean environment: `kiln login` then `kiln push`, GitLab's `DOCKER_AUTH_CONFIG`, podman's
 * `REGISTRY_AUTH_FILE` and `$XDG_RUNTIME_DIR/containers/auth.json`, the fork's `KANIKO_<HOST>_USER/_PASSWORD`, GitLab's
 * `CI_REGISTRY_*`, and `kiln build` pushing with one of them. A refused push names the source it tried, never the
 * secret.
 *
 * @module
 */
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { startRegistry, type TestRegistry } from "../fixtures/registry.ts";
import { REPO_ROOT, skipUnless } from "../fixtures/tools.ts";
import { tempDir } from "../fixtures/temp.ts";
import { envCredentialNames } from "../../lib/registry/mod.ts";
import { appendLayers, emptyImage, writeLayout } from "../../lib/image/mod.ts";
import { randomLayer } from "../lib/image/_helpers.ts";

const ignore = skipUnless("credential sources", "docker-registry");

/** Runs the CLI with exactly `env` (plus PATH) and `stdin`. */
async function kiln(
  args: string[],
  env: Record<string, string>,
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli/main.ts"), ...args],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", NO_COLOR: "1", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const b64 = (s: string) => btoa(s);
const authJson = (host: string, user: string, password: string) =>
  JSON.stringify({ auths: { [host]: { auth: b64(`${user}:${password}`) } } });

async function withAuthRegistry(fn: (reg: TestRegistry, root: string, layout: string) => Promise<void>) {
  const reg = await startRegistry({ auth: "basic" });
  const root = tempDir("kiln-auth-");
  try {
    const layout = join(root, "layout");
    await writeLayout(layout, appendLayers(emptyImage(), [randomLayer(2000)]), { tags: ["latest"] });
    await fn(reg, root, layout);
  } finally {
    await reg.stop();
  }
}

Deno.test({
  name: "kiln login writes a 0600 config.json that kiln push then uses; other entries are kept",
  ignore,
  fn: () =>
    withAuthRegistry(async (reg, root, layout) => {
      const cfgDir = join(root, "docker");
      mkdirSync(cfgDir);
      writeFileSync(join(cfgDir, "config.json"), JSON.stringify({ auths: { "other.example": { auth: b64("a:b") } } }));
      const env = { DOCKER_CONFIG: cfgDir, HOME: root };
      const login = await kiln(["login", reg.host, "-u", reg.username!, "--password-stdin"], env, reg.password + "\n");
      assertEquals(login.code, 0, login.stderr);
      const cfg = JSON.parse(Deno.readTextFileSync(join(cfgDir, "config.json")));
      assertEquals(Object.keys(cfg.auths).sort(), [reg.host, "other.example"].sort());
      assertEquals(atob(cfg.auths[reg.host].auth), `${reg.username}:${reg.password}`);
      assertEquals(statSync(join(cfgDir, "config.json")).mode & 0o777, 0o600);
      assert(!login.stderr.includes(reg.password!), "the password is never printed");
      const push = await kiln(["push", layout, "-d", `${reg.host}/app:1`, "--insecure-registry", reg.host], env);
      assertEquals(push.code, 0, push.stderr);
      assertMatch(push.stdout, /^sha256:[0-9a-f]{64}\n$/);
      const none = await kiln(["login", reg.host, "-u", "x"], env);
      assertEquals(none.code, 2, none.stderr);
    }),
});

Deno.test({
  name:
    "DOCKER_AUTH_CONFIG, REGISTRY_AUTH_FILE, XDG auth.json, KANIKO_<HOST>_USER and GitLab's CI_REGISTRY_* each push",
  ignore,
  fn: () =>
    withAuthRegistry(async (reg, root, layout) => {
      const user = reg.username!, pass = reg.password!;
      const authFile = join(root, "auth.json");
      writeFileSync(authFile, authJson(reg.host, user, pass));
      const xdg = join(root, "xdg");
      mkdirSync(join(xdg, "containers"), { recursive: true });
      writeFileSync(join(xdg, "containers", "auth.json"), authJson(reg.host, user, pass));
      const stem = envCredentialNames(reg.host)[0]!;
      const cases: [string, Record<string, string>][] = [
        ["DOCKER_AUTH_CONFIG", { DOCKER_AUTH_CONFIG: authJson(reg.host, user, pass) }],
        ["REGISTRY_AUTH_FILE", { REGISTRY_AUTH_FILE: authFile }],
        ["XDG_RUNTIME_DIR", { XDG_RUNTIME_DIR: xdg }],
        ["KANIKO_*", { [`KANIKO_${stem}_USER`]: user, [`KANIKO_${stem}_PASSWORD`]: pass }],
        ["GitLab", { CI_REGISTRY: reg.host, CI_REGISTRY_USER: user, CI_REGISTRY_PASSWORD: pass }],
      ];
      for (const [name, extra] of cases) {
        const env = { HOME: join(root, "empty-home"), ...extra };
        const r = await kiln(["push", layout, "-d", `${reg.host}/src-${name.length}:1`, "--insecure"], env);
        assertEquals(r.code, 0, `${name}: ${r.stderr}`);
      }
      // --credential-helpers= turns the built-in helpers off: the KANIKO_* variables are then not read.
      const ctx = join(root, "ctx");
      mkdirSync(ctx);
      writeFileSync(join(ctx, "Dockerfile"), "FROM scratch\nLABEL a=b\n");
      const kanikoEnv = { HOME: root, [`KANIKO_${stem}_USER`]: user, [`KANIKO_${stem}_PASSWORD`]: pass };
      const build = (extra: string[], n: number) =>
        kiln([
          "build",
          "-c",
          ctx,
          "-d",
          `${reg.host}/helpers:${n}`,
          "--insecure",
          "--work-dir",
          join(root, `w${n}`),
          ...extra,
        ], kanikoEnv);
      const on = await build([], 1);
      assertEquals(on.code, 0, on.stderr);
      const off = await build(["--credential-helpers="], 2);
      assertEquals(off.code, 1, off.stderr);
      assertMatch(off.stderr, /no credentials for/);
      const ecr = await build(["--credential-helpers=ecr,env"], 3);
      assertEquals(ecr.code, 0, ecr.stderr);
      assertMatch(ecr.stderr, /--credential-helpers ecr is not built into kiln/);
    }),
});

Deno.test({
  name: "kiln build pushes with DOCKER_AUTH_CONFIG; a refused push names the source tried and never the secret",
  ignore,
  fn: () =>
    withAuthRegistry(async (reg, root) => {
      const ctx = join(root, "ctx");
      mkdirSync(ctx);
      writeFileSync(join(ctx, "Dockerfile"), "FROM scratch\nLABEL a=b\n");
      const ok = await kiln(
        ["build", "-c", ctx, "-d", `${reg.host}/built:1`, "--insecure", "--work-dir", join(root, "w1")],
        { HOME: root, DOCKER_AUTH_CONFIG: authJson(reg.host, reg.username!, reg.password!) },
      );
      assertEquals(ok.code, 0, ok.stderr);
      const secret = "not-the-password-s3cr3t";
      const bad = await kiln(
        ["build", "-c", ctx, "-d", `${reg.host}/built:2`, "--insecure", "--work-dir", join(root, "w2")],
        { HOME: root, DOCKER_AUTH_CONFIG: authJson(reg.host, reg.username!, secret) },
      );
      assertEquals(bad.code, 1, bad.stderr);
      assertMatch(bad.stderr, /credentials from DOCKER_AUTH_CONFIG/);
      assert(!bad.stderr.includes(secret) && !bad.stderr.includes(b64(`${reg.username}:${secret}`)), bad.stderr);
      const anon = await kiln(
        ["build", "-c", ctx, "-d", `${reg.host}/built:3`, "--insecure", "--work-dir", join(root, "w3")],
        { HOME: join(root, "nohome") },
      );
      assertEquals(anon.code, 1, anon.stderr);
      assertMatch(anon.stderr, new RegExp(`no credentials for ${reg.host.replace(".", "\\.")} in .*config\\.json`));
      assert(!anon.stderr.includes("internal error"), anon.stderr);
    }),
});
