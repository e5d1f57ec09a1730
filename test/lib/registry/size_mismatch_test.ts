/**
 * A manifest whose layer descriptor claims more bytes than the blob has (real registry): the pull says "size
 * mismatch" with the digest and both sizes, not the HTTP 416 its resume attempt used to end with. Also through
 * `kiln build` (a child process): one line, exit 1.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { startRegistry, type TestRegistry } from "../../fixtures/registry.ts";
import { appendLayers, DigestMismatchError, emptyImage } from "../../../lib/image/mod.ts";
import { pushImage, remoteImage } from "../../../lib/registry/mod.ts";
import { randomLayer } from "../image/_helpers.ts";
import { kiln } from "../../cli/_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("registry size mismatch", "docker-registry");
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** Pushes a one-layer image as `repo:good`, and as `repo:lie` the same manifest with the layer `extra` bytes larger. */
async function pushLyingImage(reg: TestRegistry, repo: string, extra: number) {
  const opts = { insecureRegistries: [reg.host] };
  await pushImage([`${reg.host}/${repo}:good`], appendLayers(emptyImage(), [randomLayer(50_000)]), opts);
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/good`, { headers: { accept: OCI_MANIFEST } });
  const manifest = await res.json() as { layers: { digest: string; size: number }[] };
  const layer = manifest.layers[0]!;
  const actual = layer.size;
  layer.size += extra;
  const put = await fetch(`${reg.url}/v2/${repo}/manifests/lie`, {
    method: "PUT",
    headers: { "content-type": OCI_MANIFEST },
    body: JSON.stringify(manifest),
  });
  await put.body?.cancel();
  assertEquals(put.status, 201);
  return { digest: layer.digest, actual, declared: layer.size };
}

Deno.test(
  { name: "pulling a layer whose descriptor claims more bytes than the blob says size mismatch", ignore },
  async () => {
    const reg = await startRegistry();
    try {
      const { digest, actual, declared } = await pushLyingImage(reg, "t/app", 1000);
      const img = await remoteImage(`${reg.host}/t/app:lie`, { insecureRegistries: [reg.host], retryBaseDelayMs: 5 });
      const [layer] = await img.layers();
      const e = await assertRejects(
        async () => await (await layer!.compressed()).pipeTo(new WritableStream()),
        DigestMismatchError,
      );
      assertEquals(
        e.message,
        `Cannot verify blob ${reg.host}/t/app@${digest}: size mismatch: the manifest says ${declared} bytes, the blob has ${actual}`,
      );
      assert(!/\b416\b/.test(e.message), e.message); // not the HTTP status (a port or digest may hold the digits)
    } finally {
      await reg.stop();
    }
  },
);

Deno.test(
  { name: "pulling a layer whose descriptor claims fewer bytes than the blob says size mismatch", ignore },
  async () => {
    const reg = await startRegistry();
    try {
      const { digest, declared } = await pushLyingImage(reg, "t/small", -1000);
      const img = await remoteImage(`${reg.host}/t/small:lie`, { insecureRegistries: [reg.host], retryBaseDelayMs: 5 });
      const [layer] = await img.layers();
      const e = await assertRejects(
        async () => await (await layer!.compressed()).pipeTo(new WritableStream()),
        DigestMismatchError,
      );
      assertEquals(
        e.message,
        `Cannot verify blob ${reg.host}/t/small@${digest}: size mismatch: the manifest says ${declared} bytes, the blob has more`,
      );
    } finally {
      await reg.stop();
    }
  },
);

Deno.test(
  { name: "kiln build FROM an image with a layer larger than its blob fails in one line", ignore },
  async () => {
    const reg = await startRegistry();
    const root = tempDir("kiln-size-");
    try {
      const { digest, actual, declared } = await pushLyingImage(reg, "t/base", 1000);
      const ctx = join(root, "ctx");
      await mkdir(ctx);
      await writeFile(join(ctx, "f"), "f\n");
      await writeFile(join(ctx, "Dockerfile"), `FROM ${reg.host}/t/base:lie\nCOPY f /f\n`);
      const work = join(root, "work");
      const r = await kiln([
        "build",
        "--no-push",
        "--tar-path",
        join(root, "i.tar"),
        "-c",
        ctx,
        "--work-dir",
        work,
        "--insecure-registry",
        reg.host,
      ]).done;
      assertEquals(r.code, 1, r.stderr);
      const last = r.stderr.trimEnd().split("\n").at(-1)!;
      assertMatch(last, /^Dockerfile:1: /);
      assert(
        last.includes(`${digest}: size mismatch: the manifest says ${declared} bytes, the blob has ${actual}`),
        last,
      );
      assert(!r.stderr.includes("internal error") && !r.stderr.includes(work), r.stderr);
    } finally {
      await rm(root, { recursive: true, force: true });
      await reg.stop();
    }
  },
);
