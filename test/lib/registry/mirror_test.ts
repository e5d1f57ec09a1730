import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { startRegistry } from "../../fixtures/registry.ts";
import { startFaultProxy } from "../../fixtures/fault_proxy.ts";
import { appendLayers, emptyImage } from "../../../lib/image/mod.ts";
import { pullCandidates, pushImage, RegistryError, remoteImage } from "../../../lib/registry/mod.ts";
import { parseReference } from "../../../lib/registry/reference.ts";
import { randomLayer } from "../image/_helpers.ts";

const ignore = skipUnless("registry mirrors", "docker-registry");

Deno.test("pullCandidates() orders registry-map entries, mirrors, then the original", () => {
  const c = pullCandidates(parseReference("busybox:1"), {
    registryMap: { "index.docker.io": ["m1.io/hub"] },
    registryMirrors: ["m2.io"],
  });
  assertEquals(c.map((r) => `${r.registry}/${r.repository}`), [
    "m1.io/hub/library/busybox",
    "m2.io/library/busybox",
    "docker.io/library/busybox",
  ]);
  const d = pullCandidates(parseReference("r.io/a"), {
    registryMap: { "r.io": ["s.io"] },
    skipDefaultRegistryFallback: true,
  });
  assertEquals(d.map((r) => r.registry), ["s.io"]);
});

Deno.test({ name: "registry-map pulls from the mirror, falls back, or fails when told to", ignore }, async () => {
  const orig = await startRegistry();
  const mirror = await startRegistry();
  try {
    const insecureRegistries = [orig.host, mirror.host];
    const a = appendLayers(emptyImage(), [randomLayer()]);
    const b = appendLayers(emptyImage(), [randomLayer()]);
    await pushImage([`${orig.host}/app:1`, `${orig.host}/app:2`], a, { insecureRegistries });
    await pushImage([`${mirror.host}/pfx/app:1`], b, { insecureRegistries });
    const registryMap = { [orig.host]: [`${mirror.host}/pfx`] };
    const viaMirror = await remoteImage(`${orig.host}/app:1`, {
      insecureRegistries,
      registryMap,
      imageDownloadRetry: 0,
    });
    assertEquals(await viaMirror.digest(), await b.digest());
    const fallback = await remoteImage(`${orig.host}/app:2`, {
      insecureRegistries,
      registryMap,
      imageDownloadRetry: 0,
    });
    assertEquals(await fallback.digest(), await a.digest());
    await assertRejects(
      () =>
        remoteImage(`${orig.host}/app:2`, {
          insecureRegistries,
          registryMap,
          skipDefaultRegistryFallback: true,
          imageDownloadRetry: 0,
        }),
      RegistryError,
      mirror.host,
    );
  } finally {
    await orig.stop();
    await mirror.stop();
  }
});

Deno.test({ name: "blob redirects to another host are followed without credentials", ignore }, async () => {
  const reg = await startRegistry();
  const proxy = await startFaultProxy(reg.host);
  try {
    const opts = { insecureRegistries: [proxy.host, reg.host] };
    const img = appendLayers(emptyImage(), [randomLayer(10_000)]);
    await pushImage([`${proxy.host}/r:1`], img, opts);
    proxy.add({ method: "GET", path: /\/blobs\//, fault: { kind: "redirect" }, times: Infinity });
    const back = await remoteImage(`${proxy.host}/r:1`, opts);
    for (const l of await back.layers()) await (await l.compressed()).pipeTo(new WritableStream());
    assert(proxy.log.some((l) => l.endsWith("307 redirect")));
  } finally {
    await proxy.stop();
    await reg.stop();
  }
});
