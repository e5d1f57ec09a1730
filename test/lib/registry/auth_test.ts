import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { startRegistry } from "../../fixtures/registry.ts";
import { appendLayers, emptyImage } from "../../../lib/image/mod.ts";
import {
  createRegistryClient,
  dockerConfigKeychain,
  parseChallenge,
  pushImage,
  RegistryError,
  remoteImage,
  staticKeychain,
} from "../../../lib/registry/mod.ts";
import { createLogger } from "../../../lib/util/logger.ts";
import { randomLayer, tempDir } from "../image/_helpers.ts";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ignore = skipUnless("registry auth", "docker-registry", "openssl");

Deno.test("parseChallenge() reads Bearer parameters", () => {
  const c = parseChallenge('Bearer realm="https://auth.io/token",service="reg.io",scope="repository:a/b:pull,push"');
  assertEquals(c, {
    scheme: "bearer",
    realm: "https://auth.io/token",
    service: "reg.io",
    scope: "repository:a/b:pull,push",
  });
  assertEquals(parseChallenge('Basic realm="x"').scheme, "basic");
});

Deno.test(
  { name: "htpasswd Basic auth over TLS with a custom CA; skip-verify; missing CA fails clearly", ignore },
  async () => {
    const reg = await startRegistry({ tls: true, auth: "basic" });
    try {
      const keychain = staticKeychain({ [reg.host]: { username: reg.username!, password: reg.password! } });
      const img = appendLayers(emptyImage(), [randomLayer()]);
      const opts = { keychain, registryCertificates: { [reg.host]: reg.caFile! } };
      const client = createRegistryClient("push", opts);
      try {
        await pushImage([`${reg.host}/basic:1`], img, { ...opts, client });
      } finally {
        client.close();
      }
      const pull = createRegistryClient("pull", { keychain, skipTlsVerifyRegistries: [reg.host] });
      try {
        const back = await remoteImage(`${reg.host}/basic:1`, { client: pull });
        assertEquals(await back.digest(), await img.digest());
      } finally {
        pull.close();
      }
      const e = await assertRejects(
        () => remoteImage(`${reg.host}/basic:1`, { keychain, imageDownloadRetry: 0 }),
        RegistryError,
      );
      assert(/TLS certificate/.test(e.message), e.message);
      const wrong = staticKeychain({ [reg.host]: { username: reg.username!, password: "wrong" } });
      const e2 = await assertRejects(
        () => remoteImage(`${reg.host}/basic:1`, { keychain: wrong, skipTlsVerifyPull: true, imageDownloadRetry: 0 }),
        RegistryError,
      );
      assertEquals(e2.status, 401);
      assert(!e2.message.includes("wrong"));
    } finally {
      await reg.stop();
    }
  },
);

Deno.test({ name: "client certificates (mTLS) with --registry-client-cert", ignore }, async () => {
  const reg = await startRegistry({ clientCerts: true });
  try {
    const c = reg.certs!;
    const opts = {
      registryCertificates: { [reg.host]: c.caFile },
      registryClientCerts: { [reg.host]: { cert: c.clientCertFile, key: c.clientKeyFile } },
    };
    const img = appendLayers(emptyImage(), [randomLayer()]);
    const push = createRegistryClient("push", opts);
    const pull = createRegistryClient("pull", opts);
    try {
      await pushImage([`${reg.host}/mtls:1`], img, { client: push });
      assertEquals(await (await remoteImage(`${reg.host}/mtls:1`, { client: pull })).digest(), await img.digest());
    } finally {
      push.close();
      pull.close();
    }
  } finally {
    await reg.stop();
  }
});

Deno.test({ name: "Bearer token auth: credentialed push, anonymous pull, token cache per scope", ignore }, async () => {
  const reg = await startRegistry({ auth: "token", anonymousActions: ["pull"] });
  try {
    const insecureRegistries = [reg.host];
    const keychain = staticKeychain({ [reg.host]: { username: reg.username!, password: reg.password! } });
    const img = appendLayers(emptyImage(), [randomLayer(), randomLayer(), randomLayer()]);
    await pushImage([`${reg.host}/tok/app:1`], img, { keychain, insecureRegistries });
    const reqs = reg.tokenServer!.requests;
    assert(reqs.length <= 2, `token requests: ${reqs.length}`);
    assert(reqs.some((r) => r.user === reg.username && r.scopes.includes("repository:tok/app:pull,push")));
    const before = reqs.length;
    const back = await remoteImage(`${reg.host}/tok/app:1`, { insecureRegistries });
    for (const l of await back.layers()) await (await l.compressed()).pipeTo(new WritableStream());
    assertEquals(reqs.length - before, 1);
    assertEquals(reqs.at(-1)!.user, "");
    // anonymous push is refused clearly
    const e = await assertRejects(
      () => pushImage([`${reg.host}/tok/app:2`], img, { insecureRegistries, pushRetry: 0 }),
      RegistryError,
    );
    assert(e.status === 401 || e.status === 403, e.message);
    // cross-repository mount with a token covering both repositories
    await pushImage([`${reg.host}/tok/copy:1`], back, { keychain, insecureRegistries });
    assert(reg.tokenServer!.requests.some((r) => r.scopes.includes("repository:tok/app:pull")));
  } finally {
    await reg.stop();
  }
});

Deno.test({ name: "dockerConfigKeychain() reads auths, identitytoken and credential helpers", ignore }, async () => {
  using t = tempDir();
  const reg = await startRegistry({ auth: "token", refreshTokens: { "refresh-secret-123": "kiln" } });
  try {
    const cfgDir = join(t.dir, "docker");
    mkdirSync(cfgDir);
    const bin = join(t.dir, "bin");
    mkdirSync(bin);
    // a credential helper answering for our registry
    writeFileSync(
      join(bin, "docker-credential-kilntest"),
      `#!/bin/sh\nread url\nif [ "$url" = "${reg.host}" ]; then echo '{"ServerURL":"${reg.host}","Username":"${reg.username}","Secret":"${reg.password}"}'; else echo "credentials not found in native keychain"; exit 1; fi\n`,
    );
    chmodSync(join(bin, "docker-credential-kilntest"), 0o755);
    const img = appendLayers(emptyImage(), [randomLayer()]);
    const lines: string[] = [];
    const logger = createLogger({ level: "trace", write: (l) => lines.push(l) });
    const helperEnv = { PATH: `${bin}:/usr/bin:/bin` };
    const { credentialHelperRunner } = await import("../../../lib/registry/mod.ts");
    writeFileSync(join(cfgDir, "config.json"), JSON.stringify({ credHelpers: { [reg.host]: "kilntest" } }));
    let k = dockerConfigKeychain({ configDirs: [cfgDir], runHelper: credentialHelperRunner({ env: helperEnv }) });
    await pushImage([`${reg.host}/cfg:1`], img, { keychain: k, insecureRegistries: [reg.host], logger });
    // identity token (refresh token grant)
    writeFileSync(
      join(cfgDir, "config.json"),
      JSON.stringify({ auths: { [`https://${reg.host}`]: { identitytoken: "refresh-secret-123" } } }),
    );
    k = dockerConfigKeychain({ configDirs: [join(t.dir, "missing"), cfgDir] });
    await pushImage([`${reg.host}/cfg:2`], img, { keychain: k, insecureRegistries: [reg.host], logger });
    assert(reg.tokenServer!.requests.some((r) => r.method === "POST"));
    // credsStore (same helper protocol, used for every registry)
    writeFileSync(join(cfgDir, "config.json"), JSON.stringify({ credsStore: "kilntest" }));
    k = dockerConfigKeychain({ configDirs: [cfgDir], runHelper: credentialHelperRunner({ env: helperEnv }) });
    await pushImage([`${reg.host}/cfg:4`], img, { keychain: k, insecureRegistries: [reg.host], logger });
    // registrytoken: a bearer token used as is
    const ts = reg.tokenServer!;
    const tr = await fetch(`${ts.realm}?service=${ts.service}&scope=repository:cfg:pull,push`, {
      headers: { authorization: `Basic ${btoa(`${reg.username}:${reg.password}`)}` },
    });
    const { token } = await tr.json() as { token: string };
    writeFileSync(join(cfgDir, "config.json"), JSON.stringify({ auths: { [reg.host]: { registrytoken: token } } }));
    k = dockerConfigKeychain({ configDirs: [cfgDir] });
    const before = ts.requests.length;
    await pushImage([`${reg.host}/cfg:5`], img, { keychain: k, insecureRegistries: [reg.host], logger });
    assertEquals(ts.requests.length, before);
    // auth (base64 user:password)
    writeFileSync(
      join(cfgDir, "config.json"),
      JSON.stringify({ auths: { [reg.host]: { auth: btoa(`${reg.username}:${reg.password}`) } } }),
    );
    k = dockerConfigKeychain({ configDirs: [cfgDir] });
    await pushImage([`${reg.host}/cfg:3`], img, { keychain: k, insecureRegistries: [reg.host], logger });
    // secrets never appear in logs at trace level
    const all = lines.join("\n");
    assert(lines.length > 10);
    for (const secret of [reg.password!, "refresh-secret-123", btoa(`${reg.username}:${reg.password}`), token]) {
      assert(!all.includes(secret), "secret leaked into logs");
    }
    assert(!/Bearer [A-Za-z0-9]/.test(all) && !/eyJ[A-Za-z0-9_-]{10,}/.test(all), "token leaked into logs");
  } finally {
    await reg.stop();
  }
});
