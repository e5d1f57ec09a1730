import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { startRegistry, type TestRegistry } from "../../fixtures/registry.ts";
import {
  appendLayers,
  emptyImage,
  indexFromImages,
  MediaTypes,
  streamLayer,
  withConfig,
  withFormat,
} from "../../../lib/image/mod.ts";
import {
  deleteManifest,
  fetchManifest,
  headManifest,
  listTags,
  pushImage,
  RegistryError,
  remoteImage,
  remoteIndex,
} from "../../../lib/registry/mod.ts";
import { randomLayer, tarBytes } from "../image/_helpers.ts";
import { sha256 } from "../../../lib/util/digest.ts";

const ignore = skipUnless("registry push/pull", "docker-registry", "openssl");

async function withRegistry(fn: (reg: TestRegistry) => Promise<void>, opts = {}) {
  const reg = await startRegistry(opts);
  try {
    await fn(reg);
  } finally {
    await reg.stop();
  }
}

Deno.test(
  { name: "pushImage() then remoteImage() round-trips over plain HTTP", ignore },
  () =>
    withRegistry(async (reg) => {
      const opts = { insecureRegistries: [reg.host], retryBaseDelayMs: 10 };
      const img = withConfig(appendLayers(emptyImage(), [randomLayer(3000), randomLayer(200_000)]), (c) => ({
        ...c,
        config: { Cmd: ["/bin/sh"] },
      }));
      const events: string[] = [];
      const res = await pushImage(
        [`${reg.host}/a/app:1`, `${reg.host}/a/app:latest`, `${reg.host}/b/other:x`],
        img,
        { ...opts, onBlob: (e) => events.push(`${e.repository} ${e.how}`) },
      );
      // uploaded once into the first repository, mounted into the second
      assertEquals(events.filter((e) => e === "a/app uploaded").length, 3);
      assertEquals(events.filter((e) => e === "b/other mounted").length, 3);
      assertEquals(res.descriptor.digest, await img.digest());
      assertEquals(res.references.length, 3);
      const back = await remoteImage(`${reg.host}/b/other:x`, opts);
      assertEquals(await back.digest(), await img.digest());
      assertEquals((await back.config()).config?.Cmd, ["/bin/sh"]);
      const layers = await back.layers();
      const bytes = new Uint8Array(await new Response(await layers[1]!.compressed()).arrayBuffer());
      assertEquals(sha256(bytes), await layers[1]!.digest());
      assertEquals(await layers[1]!.diffId(), await (await img.layers())[1]!.diffId());
      const head = await headManifest(`${reg.host}/a/app:1`, opts);
      assertEquals(head.digest, await img.digest());
      assertEquals((await listTags(`${reg.host}/a/app`, opts)).sort(), ["1", "latest"]);
      const byDigest = await fetchManifest(`${reg.host}/a/app@${await img.digest()}`, opts);
      assertEquals(byDigest.mediaType, MediaTypes.OCI_MANIFEST);
    }),
);

Deno.test(
  { name: "pushImage() uploads stream layers and large blobs in chunks", ignore },
  () =>
    withRegistry(async (reg) => {
      const opts = { insecureRegistries: [reg.host], monolithicThreshold: 1000, chunkSize: 64 * 1024 };
      const sl = streamLayer(new Blob([tarBytes({ s: "stream" }) as Uint8Array<ArrayBuffer>]).stream());
      const img = withFormat(appendLayers(emptyImage(), [randomLayer(300_000), sl]), "docker");
      const r = await pushImage([`${reg.host}/s:1`], img, opts);
      const back = await remoteImage(`${reg.host}/s:1`, opts);
      assertEquals(await back.digest(), r.descriptor.digest);
      assertEquals(await back.mediaType(), MediaTypes.DOCKER_MANIFEST);
      for (const l of await back.layers()) await (await l.compressed()).pipeTo(new WritableStream());
    }),
);

Deno.test(
  { name: "remoteImage() selects the platform from an index; remoteIndex() returns it", ignore },
  () =>
    withRegistry(async (reg) => {
      const opts = { insecureRegistries: [reg.host] };
      const amd = appendLayers(emptyImage({ platform: { os: "linux", architecture: "amd64" } }), [randomLayer()]);
      const arm = appendLayers(emptyImage({ platform: { os: "linux", architecture: "arm64", variant: "v8" } }), [
        randomLayer(),
      ]);
      const idx = indexFromImages([{ image: amd }, { image: arm }]);
      await pushImage([`${reg.host}/multi:latest`], idx, opts);
      const a = await remoteImage(`${reg.host}/multi:latest`, {
        ...opts,
        platform: { os: "linux", architecture: "arm64" },
      });
      assertEquals(await a.digest(), await arm.digest());
      const i = await remoteIndex(`${reg.host}/multi:latest`, opts);
      assertEquals(await i.digest(), await idx.digest());
      await assertRejects(
        () => remoteImage(`${reg.host}/multi:latest`, { ...opts, platform: { os: "linux", architecture: "s390x" } }),
        Error,
        "linux/s390x",
      );
    }),
);

Deno.test(
  { name: "remoteImage() fails clearly for a missing tag; deleteManifest() removes it", ignore },
  () =>
    withRegistry(async (reg) => {
      const opts = { insecureRegistries: [reg.host], imageDownloadRetry: 0 };
      const e = await assertRejects(() => remoteImage(`${reg.host}/nope:x`, opts), RegistryError);
      assertEquals(e.status, 404);
      assert(
        /^Cannot pull manifest x on 127\.0\.0\.1:\d+\/nope: HTTP 404: NAME_UNKNOWN|MANIFEST_UNKNOWN/.test(e.message),
        e.message,
      );
      const img = appendLayers(emptyImage(), [randomLayer()]);
      const { descriptor } = await pushImage([`${reg.host}/d:1`], img, opts);
      await deleteManifest(`${reg.host}/d@${descriptor.digest}`, opts);
      await assertRejects(() => remoteImage(`${reg.host}/d:1`, opts), RegistryError);
    }),
);

Deno.test({ name: "pushImage() of a stream layer to two registries fails clearly", ignore }, async () => {
  const a = await startRegistry();
  const b = await startRegistry();
  try {
    const sl = streamLayer(new Blob([tarBytes({ s: "x" }) as Uint8Array<ArrayBuffer>]).stream());
    const img = appendLayers(emptyImage(), [sl]);
    await assertRejects(
      () => pushImage([`${a.host}/s:1`, `${b.host}/s:1`], img, { insecureRegistries: [a.host, b.host] }),
      Error,
      "file-backed layers",
    );
  } finally {
    await a.stop();
    await b.stop();
  }
});
