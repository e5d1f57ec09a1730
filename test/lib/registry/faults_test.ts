import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { startRegistry, type TestRegistry } from "../../fixtures/registry.ts";
import { type FaultProxy, startFaultProxy } from "../../fixtures/fault_proxy.ts";
import { appendLayers, compressedLayer, DigestMismatchError, emptyImage, writeLayout } from "../../../lib/image/mod.ts";
import { createLogger, sha256 } from "../../../lib/util/mod.ts";
import { pushImage, RegistryError, remoteImage } from "../../../lib/registry/mod.ts";
import { randomLayer, tempDir } from "../image/_helpers.ts";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ignore = skipUnless("registry faults", "docker-registry");

async function setup(fn: (reg: TestRegistry, proxy: FaultProxy, opts: Record<string, unknown>) => Promise<void>) {
  const reg = await startRegistry();
  const proxy = await startFaultProxy(reg.host);
  try {
    await fn(reg, proxy, { insecureRegistries: [proxy.host], retryBaseDelayMs: 5 });
  } finally {
    await proxy.stop();
    await reg.stop();
  }
}

async function drain(img: Awaited<ReturnType<typeof remoteImage>>) {
  for (const l of await img.layers()) await (await l.compressed()).pipeTo(new WritableStream());
}

async function manifestStatus(reg: TestRegistry, repo: string, tag: string) {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  await r.body?.cancel();
  return r.status;
}

Deno.test(
  { name: "pull succeeds through 500, 429+Retry-After, resets and truncated bodies", ignore },
  () =>
    setup(async (_reg, proxy, opts) => {
      const img = appendLayers(emptyImage(), [randomLayer(400_000), randomLayer(300_000)]);
      await pushImage([`${proxy.host}/f/app:1`], img, opts);
      proxy.add(
        { method: "GET", path: /\/manifests\//, fault: { kind: "status", status: 500 } },
        { method: "GET", path: /\/blobs\//, fault: { kind: "status", status: 429, retryAfter: 0 } },
        { method: "GET", path: /\/blobs\//, fault: { kind: "reset" } },
        { method: "GET", path: /\/blobs\//, fault: { kind: "truncate", afterBytes: 100_000 }, times: 2 },
      );
      const back = await remoteImage(`${proxy.host}/f/app:1`, opts);
      assertEquals(await back.digest(), await img.digest());
      await drain(back);
      assert(proxy.log.some((l) => l.includes("truncate")), proxy.log.join("\n"));
      assert(proxy.log.some((l) => / 206$/.test(l)), "resumed with Range:\n" + proxy.log.join("\n"));
    }),
);

Deno.test(
  { name: "a corrupted blob fails clearly and leaves nothing partial in a layout", ignore },
  () =>
    setup(async (_reg, proxy, opts) => {
      using t = tempDir();
      const img = appendLayers(emptyImage(), [randomLayer(50_000)]);
      await pushImage([`${proxy.host}/f/bad:1`], img, opts);
      const back = await remoteImage(`${proxy.host}/f/bad:1`, opts);
      const digest = await (await img.layers())[0]!.digest();
      proxy.add({ method: "GET", path: new RegExp(`/blobs/${digest}`), fault: { kind: "corrupt" }, times: Infinity });
      const dir = join(t.dir, "layout");
      const e = await assertRejects(() => writeLayout(dir, back, { tags: ["x"] }), DigestMismatchError);
      assert(e.message.includes(digest) && /hashes to sha256:/.test(e.message), e.message);
      const blobs = existsSync(join(dir, "blobs/sha256")) ? readdirSync(join(dir, "blobs/sha256")) : [];
      assert(!blobs.includes(digest.slice(7)) && !blobs.some((b) => b.startsWith(".tmp")), blobs.join(","));
      assert(!existsSync(join(dir, "index.json")));
    }),
);

Deno.test(
  { name: "push succeeds through 500s and resets; never retries 4xx", ignore },
  () =>
    setup(async (reg, proxy, opts) => {
      const img = appendLayers(emptyImage(), [randomLayer(200_000), randomLayer(5_000)]);
      proxy.add(
        { method: "PUT", path: /\/blobs\/uploads\//, fault: { kind: "status", status: 500 } },
        { method: "POST", path: /\/blobs\/uploads\//, fault: { kind: "status", status: 503, retryAfter: 0 } },
        { method: "PATCH", fault: { kind: "reset" } },
        { method: "PUT", path: /\/manifests\//, fault: { kind: "status", status: 502 } },
      );
      const r = await pushImage([`${proxy.host}/p/app:1`], img, {
        ...opts,
        monolithicThreshold: 10_000,
        chunkSize: 64_000,
      });
      assertEquals(r.descriptor.digest, await img.digest());
      assertEquals(await manifestStatus(reg, "p/app", "1"), 200);
      proxy.clear();
      proxy.log.splice(0);
      proxy.add({
        method: "POST",
        path: /\/blobs\/uploads\//,
        fault: { kind: "status", status: 403, body: '{"errors":[{"code":"DENIED","message":"no"}]}' },
        times: Infinity,
      });
      const other = appendLayers(emptyImage(), [randomLayer(1000)]);
      const e = await assertRejects(() => pushImage([`${proxy.host}/p/denied:1`], other, opts), RegistryError);
      assertEquals(e.status, 403);
      assertEquals(e.codes, ["DENIED"]);
      assertEquals(proxy.log.filter((l) => l.startsWith("POST")).length, 1, proxy.log.join("\n"));
      assertEquals(await manifestStatus(reg, "p/denied", "1"), 404);
    }),
);

Deno.test({ name: "a push that keeps failing leaves no manifest", ignore }, () =>
  setup(async (reg, proxy, opts) => {
    const img = appendLayers(emptyImage(), [randomLayer(20_000)]);
    proxy.add({ method: "PUT", path: /\/blobs\/uploads\//, fault: { kind: "status", status: 500 }, times: Infinity });
    const e = await assertRejects(
      () => pushImage([`${proxy.host}/p/broken:1`], img, { ...opts, pushRetry: 2 }),
      RegistryError,
    );
    assertEquals(e.status, 500);
    assert(e.message.split("\n").length === 1);
    assertEquals(await manifestStatus(reg, "p/broken", "1"), 404);
    proxy.clear();
    proxy.add({
      method: "GET",
      path: /\/manifests\//,
      fault: { kind: "status", status: 429, retryAfter: 0 },
      times: Infinity,
    });
    const e2 = await assertRejects(
      () => remoteImage(`${proxy.host}/p/broken:1`, { ...opts, imageDownloadRetry: 1 }),
      RegistryError,
    );
    assertEquals(e2.status, 429);
    assert(e2.codes.includes("TOOMANYREQUESTS"));
  }));

Deno.test(
  { name: "copying a corrupted blob between registries fails with the digest error, no manifest", ignore },
  () =>
    setup(async (reg, proxy, opts) => {
      const img = appendLayers(emptyImage(), [randomLayer(50_000)]);
      await pushImage([`${proxy.host}/c/src:1`], img, opts);
      const digest = await (await img.layers())[0]!.digest();
      const src = await remoteImage(`${proxy.host}/c/src:1`, opts);
      const dst = await startRegistry();
      try {
        proxy.add({ method: "GET", path: new RegExp(`/blobs/${digest}`), fault: { kind: "corrupt" }, times: Infinity });
        const e = await assertRejects(
          () => pushImage([`${dst.host}/c/dst:1`], src, { insecureRegistries: [dst.host], retryBaseDelayMs: 5 }),
          DigestMismatchError,
        );
        assert(e.message.includes(digest), e.message);
        assertEquals(await manifestStatus(dst, "c/dst", "1"), 404);
      } finally {
        await dst.stop();
      }
      void reg;
    }),
);

/** A layer whose blob is a file (as kiln's build layers are), whose stream must not be opened by a push. */
async function fileLayer(dir: string, name: string, size: number) {
  const src = randomLayer(size);
  const bytes = new Uint8Array(await new Response(await src.compressed()).arrayBuffer());
  const file = join(dir, name);
  writeFileSync(file, bytes);
  return compressedLayer({
    mediaType: await src.mediaType(),
    digest: await src.digest(),
    size: bytes.byteLength,
    diffId: await src.diffId(),
    open: () => Promise.reject(new Error("the push read the layer through JS instead of sending its file")),
    file,
  });
}

Deno.test(
  { name: "file-backed layers are sent as files (monolithic and chunked) through 500s and resets", ignore },
  () =>
    setup(async (reg, proxy, opts) => {
      using t = tempDir();
      const small = await fileLayer(t.dir, "small", 50_000);
      const big = await fileLayer(t.dir, "big", 3_000_000);
      const img = appendLayers(emptyImage(), [small, big]);
      proxy.add(
        { method: "PUT", path: /\/blobs\/uploads\//, fault: { kind: "status", status: 500 } },
        { method: "PATCH", fault: { kind: "reset" } },
        { method: "PATCH", fault: { kind: "status", status: 503, retryAfter: 0 } },
      );
      // 50 KB goes monolithic, 3 MB chunked: one PATCH from the offset to the end of the file.
      const r = await pushImage([`${proxy.host}/p/file:1`], img, { ...opts, monolithicThreshold: 1_000_000 });
      assertEquals(r.descriptor.digest, await img.digest());
      assert(proxy.log.some((l) => l.startsWith("PATCH")), proxy.log.join("\n"));
      // What the registry has is the files' bytes (its digest check passed; read back whole).
      const back = await remoteImage(`${reg.host}/p/file:1`, { insecureRegistries: [reg.host] });
      const layers = await back.layers();
      for (const [i, name] of ["small", "big"].entries()) {
        const got = new Uint8Array(await new Response(await layers[i]!.compressed()).arrayBuffer());
        assertEquals(sha256(got), sha256(readFileSync(join(t.dir, name))));
      }
    }),
);

Deno.test(
  { name: "an upload longer than the progress interval is reported while it runs and when it is done", ignore },
  () =>
    setup(async (_reg, proxy, opts) => {
      using t = tempDir();
      const big = await fileLayer(t.dir, "big", 3_000_000);
      const lines: string[] = [];
      const logger = createLogger({ write: (l) => lines.push(l) });
      proxy.add({ method: "PUT", path: /\/blobs\/uploads\//, fault: { kind: "status", status: 503, retryAfter: 0 } });
      await pushImage([`${proxy.host}/p/prog:1`], appendLayers(emptyImage(), [big]), {
        ...opts,
        logger,
        retryBaseDelayMs: 50, // the retry makes the upload outlast the interval
        progressIntervalMs: 20,
      });
      const digest = (await big.digest()).slice(0, 19);
      assert(
        lines.some((l) => new RegExp(`^INFO {3}pushing ${digest} \\(2\\.9 MB\\) to p/prog: \\d+s$`).test(l)),
        lines.join("\n"),
      );
      assert(
        lines.some((l) =>
          new RegExp(`^INFO {3}pushed ${digest} \\(2\\.9 MB\\) to p/prog in [\\d.]+s \\(uploaded\\)$`).test(l)
        ),
        lines.join("\n"),
      );
    }),
);
