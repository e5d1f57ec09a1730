import { assertEquals } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { startRegistry } from "../../fixtures/registry.ts";
import { readFileSync } from "node:fs";

const ignore = skipUnless("registry fixture", "docker-registry", "openssl");

Deno.test({ name: "startRegistry() serves plain HTTP", ignore }, async () => {
  const reg = await startRegistry();
  try {
    const res = await fetch(`${reg.url}/v2/`);
    await res.body?.cancel();
    assertEquals(res.status, 200);
  } finally {
    await reg.stop();
  }
});

Deno.test({ name: "startRegistry() serves TLS with basic auth", ignore }, async () => {
  const reg = await startRegistry({ tls: true, auth: "basic" });
  const client = Deno.createHttpClient({ caCerts: [readFileSync(reg.caFile!, "utf8")] });
  try {
    let res = await fetch(`${reg.url}/v2/`, { client });
    await res.body?.cancel();
    assertEquals(res.status, 401);
    res = await fetch(`${reg.url}/v2/`, {
      client,
      headers: { authorization: `Basic ${btoa(`${reg.username}:${reg.password}`)}` },
    });
    await res.body?.cancel();
    assertEquals(res.status, 200);
  } finally {
    client.close();
    await reg.stop();
  }
});

Deno.test({ name: "startRegistry() accepts tokens from the token server", ignore }, async () => {
  const reg = await startRegistry({ auth: "token" });
  try {
    let res = await fetch(`${reg.url}/v2/`);
    await res.body?.cancel();
    assertEquals(res.status, 401);
    const ts = reg.tokenServer!;
    const tr = await fetch(`${ts.realm}?service=${ts.service}&scope=repository:a/b:pull,push`, {
      headers: { authorization: `Basic ${btoa(`${reg.username}:${reg.password}`)}` },
    });
    const { token } = await tr.json();
    res = await fetch(`${reg.url}/v2/a/b/tags/list`, { headers: { authorization: `Bearer ${token}` } });
    await res.body?.cancel();
    assertEquals(res.status, 404); // authorized; repository unknown
    res = await fetch(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${token}` } });
    await res.body?.cancel();
    assertEquals(res.status, 200);
  } finally {
    await reg.stop();
  }
});
