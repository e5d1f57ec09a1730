/**
 * The two layer-cache stores against real parts: Debian's docker-registry (plain, htpasswd), skopeo, and OCI layouts
 * on disk written by separate processes.
 */
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { freePort, startRegistry, type TestRegistry } from "../../fixtures/registry.ts";
import { REPO_ROOT, skipUnless } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";
import {
  cacheMountSources,
  type CachePut,
  inferCacheRepo,
  layoutCache,
  openLayerCache,
  registryCache,
} from "../../../lib/cache/mod.ts";
import { appendLayers, emptyImage, imageFromParts, layoutIndex, REF_NAME_ANNOTATION } from "../../../lib/image/mod.ts";
import { parseReference, pushImage, staticKeychain } from "../../../lib/registry/mod.ts";
import { randomLayer, run } from "../image/_helpers.ts";
import { bytesLayer, countingTransport, randomKey, readBytes, recordingLogger } from "./_helpers.ts";

const ignoreRegistry = skipUnless("layer cache registry store", "docker-registry", "skopeo", "tar");
const HOUR = 3600 * 1000;

/** Runs `fn` with a fresh plain-HTTP registry, stopped afterwards. */
async function withRegistry(fn: (reg: TestRegistry) => Promise<void>): Promise<void> {
  const reg = await startRegistry();
  try {
    await fn(reg);
  } finally {
    await reg.stop();
  }
}

function plain(reg: TestRegistry, extra: { transport?: ReturnType<typeof countingTransport>["transport"] } = {}) {
  return { insecureRegistries: [reg.host], retryBaseDelayMs: 10, ...extra };
}

Deno.test(
  { name: "registryCache() put then get of a layer gives the lazy remote layer", ignore: ignoreRegistry },
  () =>
    withRegistry(async (reg) => {
      const logger = recordingLogger();
      const cache = registryCache({ repository: `${reg.host}/app/cache`, registry: plain(reg), logger });
      const layer = randomLayer(50_000, "big");
      const key = randomKey();
      const created = new Date("2030-01-02T03:04:05Z");
      await cache.put(key, { layer, createdBy: "RUN make", created });
      const hit = await cache.get(key);
      assert(hit?.layer, "a hit with a layer");
      assertEquals(hit.createdBy, "RUN make");
      assertEquals(hit.created.toISOString(), created.toISOString());
      assertEquals(hit.diffId, await layer.diffId());
      assertEquals(await hit.layer.diffId(), await layer.diffId());
      assertEquals(await hit.layer.digest(), await layer.digest());
      assertEquals(await hit.layer.size(), await layer.size());
      assertEquals(await hit.layer.mediaType(), "application/vnd.oci.image.layer.v1.tar+gzip");
      assertEquals(hit.sourceRepository, `${reg.host}/app/cache`);
      assertEquals(hit.layer.origin, { registry: reg.host, repository: "app/cache" });
      assertEquals(await readBytes(await hit.layer.uncompressed()), await readBytes(await layer.uncompressed()));
      assertEquals(cache.name, `${reg.host}/app/cache`);
      assertEquals(logger.warnings(), []);
    }),
);

Deno.test(
  { name: "registryCache() put then get of an empty entry", ignore: ignoreRegistry },
  () =>
    withRegistry(async (reg) => {
      const logger = recordingLogger();
      const cache = registryCache({ repository: `${reg.host}/app/cache`, registry: plain(reg), logger });
      const key = randomKey();
      await cache.put(key, { createdBy: "RUN true" });
      const hit = await cache.get(key);
      assert(hit, "a hit");
      assertEquals(hit.layer, undefined);
      assertEquals(hit.diffId, undefined);
      assertEquals(hit.createdBy, "RUN true");
      assertEquals(logger.warnings(), []);
    }),
);

Deno.test(
  { name: "registryCache() entries are images skopeo inspects, in kaniko's form", ignore: ignoreRegistry },
  () =>
    withRegistry(async (reg) => {
      const cache = registryCache({ repository: `${reg.host}/app/cache`, registry: plain(reg) });
      const key = randomKey();
      const layer = randomLayer(1000);
      await cache.put(key, { layer, createdBy: "COPY . /src" });
      const ref = `docker://${reg.host}/app/cache:${key}`;
      const info = JSON.parse(run("skopeo", ["inspect", "--tls-verify=false", ref]));
      assertEquals(info.Layers, [await layer.digest()]);
      const manifest = JSON.parse(run("skopeo", ["inspect", "--raw", "--tls-verify=false", ref]));
      assertEquals(manifest.mediaType, "application/vnd.oci.image.manifest.v1+json");
      assertEquals(manifest.config.mediaType, "application/vnd.oci.image.config.v1+json");
      assertEquals(manifest.layers.length, 1);
      const config = JSON.parse(run("skopeo", ["inspect", "--config", "--raw", "--tls-verify=false", ref]));
      assert(!Number.isNaN(Date.parse(config.created)), "config.created is a time");
      assertEquals(config.rootfs, { type: "layers", diff_ids: [await layer.diffId()] });
      assertEquals(config.history.length, 1);
      assertEquals(config.history[0].created_by, "COPY . /src");
    }),
);

Deno.test(
  { name: "registryCache() get() reads manifest and config, not the layer blob", ignore: ignoreRegistry },
  () =>
    withRegistry(async (reg) => {
      const { transport, requests } = countingTransport();
      const cache = registryCache({ repository: `${reg.host}/app/cache`, registry: plain(reg, { transport }) });
      const layer = randomLayer(200_000);
      const key = randomKey();
      await cache.put(key, { layer, createdBy: "RUN x" });
      const blob = `GET /v2/app/cache/blobs/${await layer.digest()}`;
      requests.length = 0;
      const hit = await cache.get(key);
      assert(hit?.layer);
      assertEquals(await hit.layer.digest(), await layer.digest());
      assertEquals(await hit.layer.diffId(), await layer.diffId());
      assertEquals(await hit.layer.size(), await layer.size());
      assert(requests.includes(`GET /v2/app/cache/manifests/${key}`), requests.join("\n"));
      assertEquals(requests.filter((r) => r === blob), [], "no layer download before the layer is opened");
      // The counter does see the blob when the layer is read.
      await readBytes(await hit.layer.compressed());
      assertEquals(requests.filter((r) => r === blob).length, 1);
    }),
);

Deno.test(
  { name: "registryCache() entries older than the TTL are misses", ignore: ignoreRegistry },
  () =>
    withRegistry(async (reg) => {
      const logger = recordingLogger();
      let now = new Date("2030-01-01T00:00:00Z");
      const cache = registryCache({
        repository: `${reg.host}/app/cache`,
        registry: plain(reg),
        ttlMs: 24 * HOUR,
        logger,
        now: () => now,
      });
      const key = randomKey();
      await cache.put(key, { layer: randomLayer(100), createdBy: "RUN a" });
      now = new Date(now.getTime() + 23 * HOUR);
      assert(await cache.get(key), "within the TTL: a hit");
      now = new Date(now.getTime() + 2 * HOUR);
      assertEquals(await cache.get(key), undefined);
      assertEquals(logger.warnings(), []);
    }),
);

Deno.test(
  { name: "registryCache() a missing key is a miss without a warning", ignore: ignoreRegistry },
  () =>
    withRegistry(async (reg) => {
      const logger = recordingLogger();
      // A repository that exists, and one that does not.
      for (const repository of [`${reg.host}/app/cache`, `${reg.host}/never/pushed`]) {
        const cache = registryCache({ repository, registry: plain(reg), logger });
        assertEquals(await cache.get(randomKey()), undefined);
        assertEquals(await cache.get(randomKey()), undefined);
      }
      assertEquals(logger.warnings(), []);
    }),
);

Deno.test(
  { name: "registryCache() an unreachable registry is one warning and misses", ignore: ignoreRegistry },
  async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const logger = recordingLogger();
    const password = "s3cret-unreachable-pw";
    const cache = registryCache({
      repository: `${host}/app/cache`,
      registry: {
        insecureRegistries: [host],
        retryBaseDelayMs: 10,
        keychain: staticKeychain({ [host]: { username: "u", password } }),
      },
      logger,
    });
    const key = randomKey();
    assertEquals(await cache.get(key), undefined);
    assertEquals(await cache.get(randomKey()), undefined, "later lookups are misses too");
    await cache.put(key, { layer: bytesLayer(new Uint8Array(10)), createdBy: "RUN a" });
    const warnings = logger.warnings();
    assertEquals(warnings.length, 1, warnings.join("\n"));
    assert(warnings[0]!.includes(`${host}/app/cache:${key.slice(0, 12)}`), warnings[0]);
    assert(!logger.lines.some((l) => JSON.stringify(l).includes(password)), "no credentials in the log");
  },
);

Deno.test({
  name: "registryCache() a registry refusing the credentials is one warning each way",
  ignore: ignoreRegistry,
}, async () => {
  const reg = await startRegistry({ auth: "basic" });
  try {
    // Without credentials, and with a wrong password: get misses with one warning, naming neither secret.
    for (
      const keychain of [undefined, staticKeychain({ [reg.host]: { username: reg.username!, password: "wr0ng-pw" } })]
    ) {
      const logger = recordingLogger();
      const cache = registryCache({
        repository: `${reg.host}/app/cache`,
        registry: { ...plain(reg), ...(keychain ? { keychain } : {}) },
        logger,
      });
      const key = randomKey();
      assertEquals(await cache.get(key), undefined);
      await cache.put(key, { createdBy: "RUN a" });
      assertEquals(await cache.get(key), undefined);
      const warnings = logger.warnings();
      assertEquals(warnings.length, 1, warnings.join("\n"));
      assert(/401/.test(warnings[0]!), warnings[0]);
      assert(warnings[0]!.includes(`${reg.host}/app/cache:${key.slice(0, 12)}`), warnings[0]);
      const all = JSON.stringify(logger.lines);
      assert(!all.includes("wr0ng-pw") && !all.includes(reg.password!), "no credentials in the log");
    }
    // A put refused, then nothing more is pushed.
    const logger = recordingLogger();
    const cache = registryCache({ repository: `${reg.host}/app/cache`, registry: plain(reg), logger });
    await cache.put(randomKey(), { createdBy: "RUN a" });
    await cache.put(randomKey(), { createdBy: "RUN b" });
    assertEquals(logger.warnings().length, 1, logger.warnings().join("\n"));
    assert(/Cannot store layer cache entry/.test(logger.warnings()[0]!));
    // With the right credentials it works.
    const keychain = staticKeychain({ [reg.host]: { username: reg.username!, password: reg.password! } });
    const ok = registryCache({ repository: `${reg.host}/app/cache`, registry: { ...plain(reg), keychain }, logger });
    const key = randomKey();
    await ok.put(key, { layer: randomLayer(100), createdBy: "RUN c" });
    assertEquals((await ok.get(key))?.createdBy, "RUN c");
    assertEquals(logger.warnings().length, 1);
  } finally {
    await reg.stop();
  }
});

Deno.test(
  { name: "registryCache() a malformed entry is a miss with one warning", ignore: ignoreRegistry },
  () =>
    withRegistry(async (reg) => {
      const repository = `${reg.host}/app/cache`;
      // Two layers (kaniko's reader refuses them too).
      const two = randomKey();
      const img2 = appendLayers(emptyImage(), [randomLayer(100, "a"), randomLayer(100, "b")]);
      await pushImage([`${repository}:${two}`], img2, plain(reg));
      // One layer, but the config lists no diff_id.
      const noDiff = randomKey();
      const l = randomLayer(100, "c");
      const img0 = imageFromParts({
        config: {
          architecture: "amd64",
          os: "linux",
          created: new Date().toISOString(),
          rootfs: { type: "layers", diff_ids: [] },
        },
        layers: [l],
        keepDiffIds: true,
      });
      await pushImage([`${repository}:${noDiff}`], img0, plain(reg));
      // No created time.
      const noTime = randomKey();
      await pushImage([`${repository}:${noTime}`], appendLayers(emptyImage(), [randomLayer(100, "d")]), plain(reg));
      for (
        const [key, reason] of [[two, /2 layers/], [noDiff, /0 diff_ids for 1 layers/], [noTime, /created/]] as const
      ) {
        const logger = recordingLogger();
        const cache = registryCache({ repository, registry: plain(reg), logger });
        assertEquals(await cache.get(key), undefined);
        const warnings = logger.warnings();
        assertEquals(warnings.length, 1, warnings.join("\n"));
        assert(reason.test(warnings[0]!), warnings[0]);
        assert(warnings[0]!.includes(`${repository}:${key.slice(0, 12)}`), warnings[0]);
        // A corrupt entry does not turn the cache off.
        const good = randomKey();
        await cache.put(good, { createdBy: "RUN ok" });
        assert(await cache.get(good));
      }
    }),
);

Deno.test({
  name: "registryCache() hits are mounted, not uploaded, by a push to the destination",
  ignore: ignoreRegistry,
}, () =>
  withRegistry(async (reg) => {
    const cache = registryCache({ repository: `${reg.host}/mnt/cache`, registry: plain(reg) });
    const key = randomKey();
    const layer = randomLayer(30_000);
    await cache.put(key, { layer, createdBy: "RUN m" });
    const hit = await cache.get(key);
    assert(hit?.layer);
    assertEquals(cacheMountSources([hit, undefined, hit]), [`${reg.host}/mnt/cache`]);
    assertEquals(cache.repository, `${reg.host}/mnt/cache`);
    const digest = await layer.digest();
    // The layer's origin: pushImage mounts it by itself.
    const viaOrigin: string[] = [];
    await pushImage([`${reg.host}/mnt/app:1`], appendLayers(emptyImage(), [hit.layer]), {
      ...plain(reg),
      onBlob: (e) => viaOrigin.push(`${e.digest} ${e.how}`),
    });
    assert(viaOrigin.includes(`${digest} mounted`), viaOrigin.join("\n"));
    const info = JSON.parse(run("skopeo", ["inspect", "--tls-verify=false", `docker://${reg.host}/mnt/app:1`]));
    assertEquals(info.Layers, [digest]);
    // A layer without origin (rebuilt from the entry's descriptor): mountFrom from cacheMountSources().
    const { origin: _, ...bare } = hit.layer;
    const viaMountFrom: string[] = [];
    await pushImage([`${reg.host}/mnt/app2:1`], appendLayers(emptyImage(), [bare]), {
      ...plain(reg),
      mountFrom: cacheMountSources([hit]).map((r) => parseReference(r)),
      onBlob: (e) => viaMountFrom.push(`${e.digest} ${e.how}`),
    });
    assert(viaMountFrom.includes(`${digest} mounted`), viaMountFrom.join("\n"));
  }));

// ---- OCI layout ----

Deno.test("layoutCache() put then get of a layer and of an empty entry", async () => {
  const path = join(tempDir("kiln-cache-layout-"), "cache");
  const logger = recordingLogger();
  const cache = layoutCache({ path, logger });
  assertEquals(cache.name, `oci:${path}`);
  const layer = randomLayer(20_000);
  const key = randomKey();
  await cache.put(key, { layer, createdBy: "RUN make" });
  const empty = randomKey();
  await cache.put(empty, { createdBy: "ENV A=1" });
  const hit = await cache.get(key);
  assert(hit?.layer);
  assertEquals(hit.createdBy, "RUN make");
  assertEquals(hit.diffId, await layer.diffId());
  assertEquals(await hit.layer.digest(), await layer.digest());
  assertEquals(await hit.layer.size(), await layer.size());
  assertEquals(hit.sourceRepository, undefined);
  assertEquals(await readBytes(await hit.layer.uncompressed()), await readBytes(await layer.uncompressed()));
  const e = await cache.get(empty);
  assert(e);
  assertEquals(e.layer, undefined);
  assertEquals(e.createdBy, "ENV A=1");
  assertEquals(logger.warnings(), []);
});

Deno.test({
  name: "layoutCache() entries are read by skopeo with 1 layer",
  ignore: skipUnless("layout cache skopeo", "skopeo", "tar"),
}, async () => {
  const path = join(tempDir("kiln-cache-layout-"), "cache");
  const key = randomKey();
  const layer = randomLayer(1000);
  await layoutCache({ path }).put(key, { layer, createdBy: "RUN s" });
  const info = JSON.parse(run("skopeo", ["inspect", `oci:${path}:${key}`]));
  assertEquals(info.Layers, [await layer.digest()]);
});

Deno.test("layoutCache() a missing layout or key is a miss without a warning", async () => {
  const dir = tempDir("kiln-cache-layout-");
  const logger = recordingLogger();
  const cache = layoutCache({ path: join(dir, "none"), logger });
  assertEquals(await cache.get(randomKey()), undefined);
  await cache.put(randomKey(), { createdBy: "RUN a" });
  assertEquals(await cache.get(randomKey()), undefined);
  assertEquals(logger.warnings(), []);
});

Deno.test("layoutCache() entries older than the TTL are misses", async () => {
  const path = join(tempDir("kiln-cache-layout-"), "cache");
  const logger = recordingLogger();
  let now = new Date("2030-06-01T00:00:00Z");
  const cache = layoutCache({ path, ttlMs: HOUR, logger, now: () => now });
  const key = randomKey();
  await cache.put(key, { layer: bytesLayer(new Uint8Array(100)), createdBy: "RUN t" });
  assert(await cache.get(key));
  now = new Date(now.getTime() + HOUR + 1);
  assertEquals(await cache.get(key), undefined);
  // An explicit entry time is the clock.
  const old = randomKey();
  await cache.put(old, { createdBy: "RUN o", created: new Date(now.getTime() - 2 * HOUR) });
  assertEquals(await cache.get(old), undefined);
  assertEquals(logger.warnings(), []);
});

Deno.test("layoutCache() the last put of a key wins", async () => {
  const path = join(tempDir("kiln-cache-layout-"), "cache");
  const cache = layoutCache({ path });
  const key = randomKey();
  await cache.put(key, { layer: bytesLayer(new Uint8Array([1])), createdBy: "RUN first" });
  await cache.put(key, { layer: bytesLayer(new Uint8Array([2])), createdBy: "RUN second" });
  assertEquals((await cache.get(key))?.createdBy, "RUN second");
  const named = (await (await layoutIndex(path)).manifest()).manifests
    .filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === key);
  assertEquals(named.length, 1);
});

Deno.test("layoutCache() a truncated or missing blob is a miss with one warning, a corrupt one never a layer", async () => {
  const path = join(tempDir("kiln-cache-layout-"), "cache");
  const bytes = new Uint8Array(4096).fill(7);
  const layer = bytesLayer(bytes);
  const blob = join(path, "blobs", "sha256", (await layer.digest()).slice(7));
  const put = async (createdBy: string) => {
    const key = randomKey();
    await layoutCache({ path }).put(key, { layer, createdBy });
    return key;
  };
  const check = async (key: string, reason: RegExp) => {
    const logger = recordingLogger();
    assertEquals(await layoutCache({ path, logger }).get(key), undefined);
    const w = logger.warnings();
    assertEquals(w.length, 1, w.join("\n"));
    assert(reason.test(w[0]!) && w[0]!.includes(`oci:${path}:${key.slice(0, 12)}`), w[0]);
  };
  const truncated = await put("RUN a");
  truncateSync(blob, 100);
  await check(truncated, /has 100 bytes, the manifest says 4096/);
  // A later put of the same layer repairs the blob.
  const repaired = await put("RUN b");
  assert(await layoutCache({ path }).get(repaired));
  assert(await layoutCache({ path }).get(truncated));
  Deno.removeSync(blob);
  await check(repaired, /missing/);
  // Same size, other bytes: found cheaply, but reading it errors instead of giving the wrong layer.
  const flipped = await put("RUN c");
  writeFileSync(blob, new Uint8Array(4096).fill(8));
  const hit = await layoutCache({ path }).get(flipped);
  assert(hit?.layer);
  await assertRejects(async () => await readBytes(await hit.layer!.compressed()), Error, "digest");
  // A corrupt config is a warning and a miss.
  const cfgKey = await put("RUN d");
  const index = await layoutIndex(path);
  const desc = (await index.manifest()).manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === cfgKey)!;
  const manifest = JSON.parse(readFileSync(join(path, "blobs", "sha256", desc.digest.slice(7)), "utf8"));
  writeFileSync(join(path, "blobs", "sha256", manifest.config.digest.slice(7)), "{}");
  await check(cfgKey, /config|verify|digest/);
});

Deno.test("layoutCache() two processes putting different keys into one new layout both land", async () => {
  const base = tempDir("kiln-cache-race-");
  const deno = join(REPO_ROOT, "node_modules/.bin/deno");
  const script = join(REPO_ROOT, "test/lib/cache/_put.ts");
  for (let round = 0; round < 3; round++) {
    const path = join(base, `cache${round}`);
    const keys = [randomKey(), randomKey(), randomKey()];
    const outs = await Promise.all(
      keys.map((key) =>
        new Deno.Command(deno, { args: ["run", "-A", "--cached-only", script, path, key], stdin: "null" }).output()
      ),
    );
    const text = outs.map((o) => new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr));
    assertEquals(outs.map((o) => o.code), keys.map(() => 0), text.join("\n"));
    const logger = recordingLogger();
    const cache = layoutCache({ path, logger });
    for (const [i, key] of keys.entries()) {
      const hit = await cache.get(key);
      assert(hit?.layer, `entry ${i} landed`);
      assertEquals(`ok ${hit.diffId}`, text[i]!.trim());
      assertEquals(hit.createdBy, `RUN put ${key}`);
      await readBytes(await hit.layer.compressed());
    }
    assertEquals(logger.warnings(), []);
  }
});

// ---- choosing a store ----

Deno.test("openLayerCache() takes oci:PATH as a layout and anything else as a registry repository", () => {
  assertEquals(openLayerCache("oci:/abs/cache").name, "oci:/abs/cache");
  assertEquals(openLayerCache("oci:rel/cache", { cwd: "/work" }).name, "oci:/work/rel/cache");
  assertEquals(openLayerCache("reg.example:5000/team/app/cache").name, "reg.example:5000/team/app/cache");
  assertEquals(openLayerCache("someone/cache").name, "docker.io/someone/cache");
  for (const bad of ["oci:", "reg.example/app/cache:tag", "Reg/UPPER", "reg.example/app@sha256:" + "a".repeat(64)]) {
    let threw = false;
    try {
      openLayerCache(bad);
    } catch {
      threw = true;
    }
    assert(threw, `${bad} is refused`);
  }
});

Deno.test("inferCacheRepo() is the first destination's repository plus /cache", () => {
  assertEquals(inferCacheRepo(["reg:5000/team/app:1", "other.example/x:2"]), "reg:5000/team/app/cache");
  assertEquals(inferCacheRepo(["reg.example/app@sha256:" + "b".repeat(64)]), "reg.example/app/cache");
  assertEquals(inferCacheRepo(["busybox"]), "docker.io/library/busybox/cache");
  assertEquals(inferCacheRepo([]), undefined);
});

Deno.test("registryCache() and layoutCache() refuse a key that is not 64 hex characters", async () => {
  const cache = layoutCache({ path: join(tempDir("kiln-cache-layout-"), "c") });
  const entry: CachePut = { createdBy: "RUN a" };
  await assertRejects(() => cache.get("latest"), TypeError);
  await assertRejects(() => cache.put("A".repeat(64), entry), TypeError);
  await assertRejects(() => registryCache({ repository: "127.0.0.1:1/c" }).get("x"), TypeError);
});
