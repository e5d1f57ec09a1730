/**
 * The base-image cache dir (`kiln warm`, `--cache-dir`) against real parts: Debian's docker-registry behind a
 * request-counting transport, umoci reading the layouts the warmer writes, and blobs damaged on disk.
 */
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals } from "../../assert.ts";
import { startRegistry, type TestRegistry } from "../../fixtures/registry.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";
import {
  baseImageLayoutDir,
  lookupBaseImage,
  WARMED_ANNOTATION,
  warmImage,
  type WarmImageOptions,
} from "../../../lib/cache/mod.ts";
import { appendLayers, emptyImage, indexFromImages, layoutIndex, type Platform } from "../../../lib/image/mod.ts";
import { pushImage } from "../../../lib/registry/mod.ts";
import { randomLayer, run } from "../image/_helpers.ts";
import { countingTransport, readBytes, recordingLogger } from "./_helpers.ts";

const ignore = skipUnless("base-image cache", "docker-registry", "umoci");
const AMD64: Platform = { os: "linux", architecture: "amd64" };
const ARM64: Platform = { os: "linux", architecture: "arm64", variant: "v8" };
const DAY = 24 * 3600 * 1000;

async function withRegistry(fn: (reg: TestRegistry, dir: string) => Promise<void>): Promise<void> {
  const reg = await startRegistry();
  const dir = tempDir("kiln-warm-");
  try {
    await fn(reg, dir);
  } finally {
    await reg.stop();
  }
}

function image(platform: Platform = AMD64, size = 30_000) {
  return appendLayers(emptyImage({ platform }), [randomLayer(size, "a"), randomLayer(size, "b")]);
}

/** Every layer of `img` read to the end (the layout verifies each blob against its digest while read). */
async function readAll(img: { layers(): Promise<{ compressed(): Promise<ReadableStream<Uint8Array>> }[]> }) {
  for (const l of await img.layers()) await readBytes(await l.compressed());
}

Deno.test(
  { name: "warmImage() stores a tag once; lookupBaseImage() finds it by tag and digest with no registry", ignore },
  () =>
    withRegistry(async (reg, dir) => {
      const img = image();
      await pushImage([`${reg.host}/app:1`], img, { insecureRegistries: [reg.host] });
      const counting = countingTransport();
      const opts: WarmImageOptions = {
        cacheDir: dir,
        registry: { insecureRegistries: [reg.host], transport: counting.transport },
        platform: AMD64,
      };
      const first = await warmImage(`${reg.host}/app:1`, opts);
      assertEquals(first.status, "warmed");
      assertEquals(first.digest, await img.digest());
      assertEquals(first.layoutDir, join(dir, "linux-amd64"));
      const blobsFetched = counting.requests.filter((r) => r.includes("/blobs/")).length;
      assertEquals(blobsFetched, 3, `config and two layers: ${counting.requests.join("\n")}`);
      // Again: the tag is resolved (one manifest request), no blob is fetched.
      counting.requests.length = 0;
      const again = await warmImage(`${reg.host}/app:1`, opts);
      assertEquals(again.status, "cached");
      assertEquals(counting.requests.filter((r) => r.includes("/blobs/")), []);
      // umoci reads the layout kiln wrote, under the normalised reference.
      const tags = run("umoci", ["ls", "--layout", first.layoutDir]).trim().split("\n");
      assertEquals(tags, [`${reg.host}/app:1`]);

      await reg.stop(); // from here on, no network
      for (const ref of [`${reg.host}/app:1`, `${reg.host}/app@${first.digest}`]) {
        const found = await lookupBaseImage(ref, { cacheDir: dir, platform: AMD64 });
        assert(found, ref);
        assertEquals(await found.digest(), first.digest);
        await readAll(found);
      }
      assertEquals(await lookupBaseImage(`${reg.host}/app:2`, { cacheDir: dir, platform: AMD64 }), undefined);
      assertEquals(await lookupBaseImage(`${reg.host}/app:1`, { cacheDir: dir, platform: ARM64 }), undefined);
    }),
);

Deno.test(
  { name: "warmImage() of an index keeps the platform's image; a lookup by the index digest finds it", ignore },
  () =>
    withRegistry(async (reg, dir) => {
      const amd = image(AMD64), arm = image(ARM64);
      const idx = indexFromImages([{ image: amd }, { image: arm }]);
      await pushImage([`${reg.host}/multi:latest`], idx, { insecureRegistries: [reg.host] });
      const registry = { insecureRegistries: [reg.host] };
      const a = await warmImage(`${reg.host}/multi`, { cacheDir: dir, registry, platform: ARM64 });
      assertEquals(a.digest, await arm.digest());
      assertEquals(a.indexDigest, await idx.digest());
      assertEquals(a.layoutDir, baseImageLayoutDir(dir, ARM64));
      assertEquals(a.layoutDir, join(dir, "linux-arm64"));
      await warmImage(`${reg.host}/multi`, { cacheDir: dir, registry, platform: AMD64 });
      await reg.stop();
      const byIndex = await lookupBaseImage(`${reg.host}/multi@${await idx.digest()}`, {
        cacheDir: dir,
        platform: ARM64,
      });
      assertEquals(await byIndex?.digest(), await arm.digest());
      const amdByTag = await lookupBaseImage(`${reg.host}/multi:latest`, { cacheDir: dir, platform: AMD64 });
      assertEquals(await amdByTag?.digest(), await amd.digest());
    }),
);

Deno.test(
  {
    name: "the TTL: an old entry is not used; warming a tag that did not move restarts it, a moved tag refetches",
    ignore,
  },
  () =>
    withRegistry(async (reg, dir) => {
      const registry = { insecureRegistries: [reg.host] };
      const v1 = image();
      await pushImage([`${reg.host}/t:1`], v1, registry);
      const t0 = new Date("2030-01-01T00:00:00Z");
      await warmImage(`${reg.host}/t:1`, { cacheDir: dir, registry, platform: AMD64, now: () => t0 });
      const later = new Date(t0.getTime() + 20 * DAY);
      const logger = recordingLogger();
      const look = (now: Date) =>
        lookupBaseImage(`${reg.host}/t:1`, { cacheDir: dir, platform: AMD64, now: () => now, logger });
      assert(await look(new Date(t0.getTime() + 13 * DAY)), "within the default 336 h");
      assertEquals(await look(later), undefined);
      assert(logger.lines.some((l) => l.msg.includes("older than the cache TTL")), JSON.stringify(logger.lines));
      // The tag still points at v1: the warmer keeps it (kaniko: "already cached") and restarts its clock.
      const again = await warmImage(`${reg.host}/t:1`, { cacheDir: dir, registry, platform: AMD64, now: () => later });
      assertEquals(again.status, "cached");
      assert(await look(later), "the TTL restarted");
      const idx = await (await layoutIndex(again.layoutDir)).manifest();
      assertEquals(idx.manifests.length, 1);
      assertEquals(idx.manifests[0]!.annotations?.[WARMED_ANNOTATION], later.toISOString());
      // The tag moves: the new image is fetched and the tag's entry points at it.
      const v2 = image();
      await pushImage([`${reg.host}/t:1`], v2, registry);
      const moved = await warmImage(`${reg.host}/t:1`, { cacheDir: dir, registry, platform: AMD64, now: () => later });
      assertEquals([moved.status, moved.digest], ["warmed", await v2.digest()]);
      assertEquals(await (await look(later))?.digest(), await v2.digest());
    }),
);

Deno.test(
  { name: "a damaged cache dir: a truncated blob is not used (warning); --force refetches damaged blobs", ignore },
  () =>
    withRegistry(async (reg, dir) => {
      const registry = { insecureRegistries: [reg.host] };
      const img = image(AMD64, 200_000);
      await pushImage([`${reg.host}/d:1`], img, registry);
      const w = await warmImage(`${reg.host}/d:1`, { cacheDir: dir, registry, platform: AMD64 });
      const [l0, l1] = (await img.manifest()).layers;
      const blob = (d: string) => join(w.layoutDir, "blobs", "sha256", d.slice(7));
      truncateSync(blob(l0!.digest), 1000);
      const logger = recordingLogger();
      assertEquals(await lookupBaseImage(`${reg.host}/d:1`, { cacheDir: dir, platform: AMD64, logger }), undefined);
      assert(logger.lines.some((l) => l.msg.includes("incomplete")), JSON.stringify(logger.lines));
      // Same size, wrong bytes: found (sizes match) but refused while read, never given out as the layer.
      const bytes = readFileSync(blob(l1!.digest));
      bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
      writeFileSync(blob(l1!.digest), bytes);
      // A warm without --force sees the truncated blob (incomplete entry) and fetches what is missing.
      const fixed = await warmImage(`${reg.host}/d:1`, { cacheDir: dir, registry, platform: AMD64 });
      assertEquals(fixed.status, "warmed");
      const found = await lookupBaseImage(`${reg.host}/d:1`, { cacheDir: dir, platform: AMD64 });
      assert(found);
      let refused = false;
      await readAll(found).catch(() => refused = true);
      assert(refused, "a corrupt blob must not be read as the layer");
      // --force hashes what is there and fetches again what does not match.
      await warmImage(`${reg.host}/d:1`, { cacheDir: dir, registry, platform: AMD64, force: true });
      await reg.stop();
      const good = await lookupBaseImage(`${reg.host}/d:1`, { cacheDir: dir, platform: AMD64 });
      assert(good);
      await readAll(good);
    }),
);

Deno.test(
  { name: "warmers sharing one cache dir at once all land their images", ignore },
  () =>
    withRegistry(async (reg, dir) => {
      const registry = { insecureRegistries: [reg.host] };
      const refs: string[] = [];
      for (let i = 0; i < 6; i++) {
        await pushImage([`${reg.host}/c${i}:1`], image(AMD64, 20_000), registry);
        refs.push(`${reg.host}/c${i}:1`);
      }
      const results = await Promise.all(refs.map((r) => warmImage(r, { cacheDir: dir, registry, platform: AMD64 })));
      assertEquals(results.map((r) => r.status), refs.map(() => "warmed"));
      const tags = run("umoci", ["ls", "--layout", join(dir, "linux-amd64")]).trim().split("\n").sort();
      assertEquals(tags, [...refs].sort());
    }),
);
