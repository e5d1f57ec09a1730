/**
 * Pushing images and indexes: blobs first (HEAD to skip existing ones, cross-repository mount, monolithic
 * PUT for small blobs, chunked PATCH for large ones and for stream layers), bounded parallelism, uploads
 * shared between destinations in one registry (by mounting), and manifests PUT last: a failed push never
 * leaves a tag pointing at missing blobs.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type Digest, formatBytes, KilnError, mapLimit, sha256 } from "../util/mod.ts";
import {
  ConsumedError,
  type Descriptor,
  type Image,
  type ImageIndex,
  isImageMediaType,
  isImageValue,
  isIndexMediaType,
  type Layer,
  NotComputedError,
} from "../image/mod.ts";
import { createRegistryClient, type RegistryClient } from "./client.ts";
import type { FileBody } from "./transport.ts";
import { RegistryError } from "./errors.ts";
import type { RegistryOptions } from "./options.ts";
import { formatReference, parseReference, type Reference } from "./reference.ts";

/** Options for pushes. */
export interface PushOptions extends RegistryOptions {
  /** A client to reuse; otherwise one is created for the push. */
  client?: RegistryClient;
  /** Repositories (same registry) to try mounting blobs from. */
  mountFrom?: Reference[];
  /**
   * Called when a blob's upload starts and when it ends (for a live display; the bytes of a file body are not seen:
   * the runtime's HTTP client reads the file itself).
   */
  onUpload?: (e: { state: "start" | "end"; digest: Digest; size: number; repository: string }) => void;
  /** Called after each blob is in place (for progress). */
  onBlob?: (e: { digest: Digest; size: number; how: "exists" | "mounted" | "uploaded"; repository: string }) => void;
  /**
   * Layers already being uploaded to these destinations ({@linkcode createEarlyUploads}): the push waits for those
   * uploads instead of checking or sending the blobs again, and uploads only what is left. Blobs the early uploads put
   * in place are reported by their `onBlob`, not again by this push's.
   */
  early?: EarlyUploads;
  /**
   * An upload that takes longer than this (ms, default 10 s) is reported at info every as long — "pushing DIGEST (SIZE)
   * to REPO: 20s" — and once more when it is done, so a long push is not silence.
   */
  progressIntervalMs?: number;
}

/** How a blob got into a repository. */
type BlobHow = "exists" | "mounted" | "uploaded";

/**
 * Layer uploads started before the image is complete: a build hands each layer of its target image over as soon as
 * it is written, and they go up while later steps run. The final {@linkcode pushImage} (with
 * {@linkcode PushOptions.early}) then uploads only what is left. A failed early upload is not an error: the final
 * push tries that blob again and reports what goes wrong then.
 */
export interface EarlyUploads {
  /** Starts uploading `layer` to every destination (in the background, a few at a time); a digest goes up once. */
  add(layer: Layer): void;
  /** The upload of `digest` to `registry/repository`, when one was started: how it got there, or undefined if failed. */
  lookup(registry: string, repository: string, digest: Digest): Promise<BlobHow | undefined> | undefined;
  /** Drops the uploads not yet started, stops the running ones and closes the connections. */
  close(): Promise<void>;
}

/** What {@linkcode pushImage} / {@linkcode pushIndex} pushed. */
export interface PushResult {
  /** Manifest descriptor. */
  descriptor: Descriptor;
  /** Every reference written, with the digest (`registry/repo:tag@sha256:…`). */
  references: string[];
}

/** A blob to upload: bytes, or a layer (reopened per attempt). */
type BlobSource =
  | { kind: "bytes"; bytes: Uint8Array; digest: Digest }
  | { kind: "layer"; layer: Layer };

interface Dest {
  registry: string;
  repository: string;
  refs: Reference[];
}

function group(refs: Reference[]): Dest[] {
  const m = new Map<string, Dest>();
  for (const r of refs) {
    const k = `${r.registry}/${r.repository}`;
    const d = m.get(k) ?? { registry: r.registry, repository: r.repository, refs: [] };
    d.refs.push(r);
    m.set(k, d);
  }
  return [...m.values()];
}

async function knownDigest(src: BlobSource): Promise<{ digest?: Digest; size?: number }> {
  if (src.kind === "bytes") return { digest: src.digest, size: src.bytes.byteLength };
  try {
    return { digest: await src.layer.digest(), size: await src.layer.size() };
  } catch (err) {
    if (err instanceof NotComputedError) return {};
    throw err;
  }
}

async function openLayer(layer: Layer): Promise<ReadableStream<Uint8Array>> {
  try {
    return await layer.compressed();
  } catch (err) {
    if (err instanceof ConsumedError) {
      throw new KilnError(
        "Cannot push a stream layer twice (several registries, or a retry after a failed upload): use file-backed layers",
        { cause: err },
      );
    }
    throw err;
  }
}

/** Remembers why a source stream failed, so an upload reports that instead of the transport's error. */
interface SourceErrorBox {
  err?: unknown;
}

function tapErrors(s: ReadableStream<Uint8Array>, box: SourceErrorBox): ReadableStream<Uint8Array> {
  const reader = s.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      try {
        const r = await reader.read();
        if (r.done) ctl.close();
        else ctl.enqueue(r.value);
      } catch (err) {
        box.err = err;
        ctl.error(err);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

async function openFrom(src: BlobSource, offset: number, box?: SourceErrorBox): Promise<ReadableStream<Uint8Array>> {
  if (box) return tapErrors(await openFrom(src, offset), box);
  if (src.kind === "bytes") {
    const b = src.bytes.subarray(offset);
    return new ReadableStream({
      start(c) {
        if (b.byteLength) c.enqueue(b);
        c.close();
      },
    });
  }
  const s = await openLayer(src.layer);
  if (offset === 0) return s;
  let skip = offset;
  return s.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        if (skip >= chunk.byteLength) {
          skip -= chunk.byteLength;
          return;
        }
        ctl.enqueue(skip ? chunk.subarray(skip) : chunk);
        skip = 0;
      },
    }),
  );
}

/** A stream of exactly `n` bytes taken from `reader` (leaves the rest unread). */
function takeBytes(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  n: number,
  carry: { rest?: Uint8Array | undefined },
) {
  let left = n;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      if (left === 0) return ctl.close();
      let chunk: Uint8Array | undefined = carry.rest;
      carry.rest = undefined;
      if (!chunk) {
        const r = await reader.read();
        if (r.done) return ctl.close();
        chunk = r.value;
      }
      if (chunk.byteLength > left) {
        carry.rest = chunk.subarray(left);
        chunk = chunk.subarray(0, left);
      }
      left -= chunk.byteLength;
      ctl.enqueue(chunk);
      if (left === 0) ctl.close();
    },
  });
}

function withQuery(location: string, key: string, value: string): string {
  const u = new URL(location);
  u.searchParams.set(key, value);
  return u.toString();
}

async function absolute(client: RegistryClient, registry: string, location: string | null): Promise<string> {
  if (!location) throw new KilnError(`Cannot upload to ${registry}: the registry sent no upload Location`);
  return new URL(location, await client.baseUrl(registry)).toString();
}

/** Uploads one blob into one repository; returns how. */
async function uploadBlob(
  client: RegistryClient,
  dest: { registry: string; repository: string },
  src: BlobSource,
  opts: PushOptions,
  mountFrom: string[],
): Promise<{ digest: Digest; size: number; how: "exists" | "mounted" | "uploaded" }> {
  const { registry, repository } = dest;
  const base = { repository, actions: ["pull", "push"] };
  let { digest, size } = await knownDigest(src);
  if (digest) {
    const head = await client.request(registry, {
      ...base,
      method: "HEAD",
      path: `/v2/${repository}/blobs/${digest}`,
      expect: [200],
      passStatuses: [404],
      action: `check blob ${digest}`,
    });
    await head.body?.cancel();
    if (head.status === 200) return { digest, size: size!, how: "exists" };
  }
  const threshold = opts.monolithicThreshold ?? 32 * 1024 * 1024;
  const chunkSize = opts.chunkSize ?? 32 * 1024 * 1024;
  const attempts = client.retries + 1;
  let lastErr: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const box: SourceErrorBox = {};
    try {
      let location: string | undefined;
      let chunk = chunkSize;
      const minChunk = (h: Headers) => {
        const m = Number(h.get("oci-chunk-min-length") ?? 0);
        if (Number.isSafeInteger(m) && m > chunk) chunk = m;
      };
      if (digest) {
        for (const from of mountFrom) {
          if (from === repository) continue;
          const res = await client.request(registry, {
            ...base,
            extraScopes: [`repository:${from}:pull`],
            method: "POST",
            path: `/v2/${repository}/blobs/uploads/?mount=${digest}&from=${encodeURIComponent(from)}`,
            headers: { "content-length": "0" },
            expect: [201, 202],
            action: `mount blob ${digest} from ${from}`,
          });
          await res.body?.cancel();
          if (res.status === 201) return { digest, size: size!, how: "mounted" };
          location = await absolute(client, registry, res.headers.get("location"));
          minChunk(res.headers);
          break;
        }
      }
      if (!location) {
        const res = await client.request(registry, {
          ...base,
          method: "POST",
          path: `/v2/${repository}/blobs/uploads/`,
          headers: { "content-length": "0" },
          expect: [202],
          action: `start upload of ${digest ?? "a layer"}`,
        });
        await res.body?.cancel();
        location = await absolute(client, registry, res.headers.get("location"));
        minChunk(res.headers);
      }
      // A layer kiln wrote to a file goes out as that file (the runtime reads it; no chunk passes through JS).
      const file = src.kind === "layer" ? src.layer.file : undefined;
      const fileBody = (start: number) =>
        Promise.resolve<FileBody>({ file: file!, start, length: (size ?? 0) - start });
      if (digest && size !== undefined && size <= threshold) {
        // Monolithic: one PUT with the whole blob.
        const d = digest;
        const res = await client.request(registry, {
          ...base,
          method: "PUT",
          path: withQuery(location, "digest", d),
          headers: { "content-type": "application/octet-stream", "content-length": String(size) },
          body: () => file ? fileBody(0) : openFrom(src, 0, box),
          expect: [201],
          noRetry: true,
          action: `upload blob ${d}`,
        });
        await res.body?.cancel();
        return { digest: d, size, how: "uploaded" };
      }
      if (digest && size !== undefined) {
        // Chunked: PATCH chunks with Content-Range, resuming from the registry's Range after a failure. A file goes
        // in one PATCH from the offset to its end (the runtime sends a file to its end).
        let offset = 0;
        let reader = file ? undefined : (await openFrom(src, 0, box)).getReader();
        const carry: { rest?: Uint8Array | undefined } = {};
        let chunkFailures = 0;
        while (offset < size) {
          const n = file ? size - offset : Math.min(chunk, size - offset);
          const from = offset;
          try {
            const res = await client.request(registry, {
              ...base,
              method: "PATCH",
              path: location,
              headers: {
                "content-type": "application/octet-stream",
                "content-length": String(n),
                "content-range": `${offset}-${offset + n - 1}`,
              },
              body: () => reader ? Promise.resolve(takeBytes(reader, n, carry)) : fileBody(from),
              expect: [202],
              noRetry: true,
              action: `upload blob ${digest} (bytes ${offset}-${offset + n - 1})`,
            });
            await res.body?.cancel();
            location = await absolute(client, registry, res.headers.get("location"));
            offset += n;
          } catch (err) {
            if (box.err || !(err instanceof RegistryError) || !err.temporary || chunkFailures >= client.retries) {
              throw err;
            }
            chunkFailures++;
            await reader?.cancel().catch(() => {});
            await client.sleep(client.backoff(chunkFailures - 1));
            const st = await client.request(registry, {
              ...base,
              method: "GET",
              path: location,
              expect: [204],
              action: `check upload of ${digest}`,
            });
            await st.body?.cancel();
            location = await absolute(client, registry, st.headers.get("location") ?? location);
            const range = /^(?:bytes=)?0-(\d+)$/.exec(st.headers.get("range") ?? "");
            // Distribution reports "0-0" for an empty upload as well as for one byte: take it as empty.
            offset = range && Number(range[1]) > 0 ? Number(range[1]) + 1 : 0;
            carry.rest = undefined;
            if (!file) reader = (await openFrom(src, offset, box)).getReader();
            client.log.debug("chunked upload resumed", { digest, offset });
          }
        }
        await reader?.cancel().catch(() => {});
        const res = await client.request(registry, {
          ...base,
          method: "PUT",
          path: withQuery(location, "digest", digest),
          headers: { "content-length": "0" },
          expect: [201],
          action: `finish upload of ${digest}`,
        });
        await res.body?.cancel();
        return { digest, size, how: "uploaded" };
      }
      // Unknown digest (stream layer): one streaming PATCH, hashing as we go, then PUT with the digest.
      const hash = createHash("sha256");
      let n = 0;
      const counted = (await openFrom(src, 0, box)).pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, ctl) {
            hash.update(chunk);
            n += chunk.byteLength;
            ctl.enqueue(chunk);
          },
        }),
      );
      const res = await client.request(registry, {
        ...base,
        method: "PATCH",
        path: location,
        headers: { "content-type": "application/octet-stream" },
        body: () => Promise.resolve(counted),
        expect: [202],
        noRetry: true,
        action: "upload a stream layer",
      });
      await res.body?.cancel();
      location = await absolute(client, registry, res.headers.get("location"));
      digest = `sha256:${hash.digest("hex")}`;
      size = n;
      const fin = await client.request(registry, {
        ...base,
        method: "PUT",
        path: withQuery(location, "digest", digest),
        headers: { "content-length": "0" },
        expect: [201],
        noRetry: true,
        action: `finish upload of ${digest}`,
      });
      await fin.body?.cancel();
      return { digest, size, how: "uploaded" };
    } catch (e) {
      // When the source failed (e.g. a pulled blob with a wrong digest), report that, not the upload's error.
      const err = box.err ?? e;
      lastErr = err;
      // A lost upload session is restarted from scratch.
      const temporary = err instanceof RegistryError
        ? err.temporary || err.codes.includes("BLOB_UPLOAD_UNKNOWN")
        : !(err instanceof KilnError);
      const replayable = src.kind === "bytes" || digest !== undefined;
      if (!temporary || !replayable || attempt + 1 >= attempts) break;
      client.log.debug("blob upload failed, retrying", {
        digest: digest ?? "",
        error: err instanceof Error ? err.message : String(err),
      });
      await client.sleep(client.backoff(attempt));
    }
  }
  throw lastErr;
}

function toRefs(refs: readonly (Reference | string)[]): Reference[] {
  if (!refs.length) throw new KilnError("Cannot push: no destination given");
  return refs.map((r) => typeof r === "string" ? parseReference(r) : r);
}

/** Destinations grouped by registry: within one, later repositories mount blobs from the first. */
function byRegistry(dests: Dest[]): Map<string, Dest[]> {
  const m = new Map<string, Dest[]>();
  for (const d of dests) m.set(d.registry, [...(m.get(d.registry) ?? []), d]);
  return m;
}

/** Uploads one blob to `dest` of `registry`, mounting from the layer's origin, `first` and the extra sources. */
function blobUploader(
  client: RegistryClient,
  registry: string,
  first: Dest,
  opts: PushOptions,
): (dest: Dest, src: BlobSource, origin?: Layer["origin"]) => Promise<{ digest: Digest; size: number; how: BlobHow }> {
  const extraMounts = (opts.mountFrom ?? []).filter((r) => r.registry === registry).map((r) => r.repository);
  const every = opts.progressIntervalMs ?? 10_000;
  return async (dest, src, origin) => {
    const mounts = [...extraMounts];
    if (origin && origin.registry === registry) mounts.unshift(origin.repository);
    if (dest !== first) mounts.unshift(first.repository);
    const { digest, size } = await knownDigest(src).catch(() => ({} as { digest?: Digest; size?: number }));
    const what = `${(digest ?? "a stream layer").slice(0, 19)}${size === undefined ? "" : ` (${formatBytes(size)})`}`;
    const t0 = performance.now();
    let told = false;
    const timer = setInterval(() => {
      told = true;
      const s = Math.round((performance.now() - t0) / 1000);
      client.log.info(`  pushing ${what} to ${dest.repository}: ${s}s`, { "@phase": "push-progress" });
    }, every);
    const upload = digest !== undefined && size !== undefined
      ? { digest, size, repository: dest.repository }
      : undefined;
    if (upload) opts.onUpload?.({ state: "start", ...upload });
    try {
      const r = await uploadBlob(client, dest, src, opts, [...new Set(mounts)]);
      client.log.debug("blob pushed", { registry, repository: dest.repository, digest: r.digest, how: r.how });
      if (told) {
        const s = ((performance.now() - t0) / 1000).toFixed(1);
        client.log.info(`  pushed ${what} to ${dest.repository} in ${s}s (${r.how})`, { "@phase": "push-progress" });
      }
      return r;
    } finally {
      clearInterval(timer);
      if (upload) opts.onUpload?.({ state: "end", ...upload });
    }
  };
}

/**
 * Starts early layer uploads to `refs` (see {@linkcode EarlyUploads}).
 *
 * @param refs The destinations the image will be pushed to.
 * @param opts Transport options (`concurrency`: uploads at a time, default 4), mount sources, signal.
 * @returns The uploader.
 *
 * @example Usage
 * ```ts ignore
 * const early = createEarlyUploads(["127.0.0.1:5000/app:1"], { insecureRegistries: ["127.0.0.1:5000"] });
 * early.add(layer); // while the build goes on
 * await pushImage(["127.0.0.1:5000/app:1"], image, { insecureRegistries: ["127.0.0.1:5000"], early });
 * early.close();
 * ```
 */
export function createEarlyUploads(refs: readonly (Reference | string)[], opts: PushOptions = {}): EarlyUploads {
  const dests = group(toRefs(refs));
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const client = opts.client ?? createRegistryClient("push", { ...opts, signal });
  const started = new Map<string, Promise<BlobHow | undefined>>();
  const digests = new Set<Digest>();
  const queue: { run: () => Promise<void>; drop: () => void }[] = [];
  const running = new Set<Promise<void>>();
  const limit = Math.max(1, opts.concurrency ?? 4);
  let closed = false;
  const pump = (): void => {
    while (!closed && running.size < limit && queue.length) {
      const job = queue.shift()!;
      const p: Promise<void> = job.run().finally(() => {
        running.delete(p);
        pump();
      });
      running.add(p);
    }
  };
  const key = (registry: string, repository: string, digest: Digest) => `${registry}/${repository}@${digest}`;
  return {
    add(layer) {
      if (closed) return;
      void knownDigest({ kind: "layer", layer }).then(({ digest }) => {
        if (!digest || digests.has(digest) || closed) return; // a stream layer: left to the final push
        digests.add(digest);
        for (const [registry, ds] of byRegistry(dests)) {
          const upload = blobUploader(client, registry, ds[0]!, opts);
          let chain: Promise<unknown> = Promise.resolve();
          for (const d of ds) {
            // Later repositories of a registry mount from the first: their uploads wait for it.
            const prev = chain;
            const done = new Promise<BlobHow | undefined>((resolve) => {
              queue.push({
                run: async () => {
                  await prev;
                  try {
                    resolve((await upload(d, { kind: "layer", layer }, layer.origin)).how);
                  } catch (e) {
                    client.log.debug("early upload failed; the push will try again", {
                      digest,
                      error: e instanceof Error ? e.message : String(e),
                    });
                    resolve(undefined);
                  }
                },
                drop: () => resolve(undefined),
              });
            });
            chain = done;
            started.set(key(registry, d.repository, digest), done);
          }
        }
        pump();
      }, () => {});
    },
    lookup: (registry, repository, digest) => started.get(key(registry, repository, digest)),
    async close() {
      closed = true;
      // Uploads never started count as failed, so a waiting push does them itself.
      for (const job of queue.splice(0)) job.drop();
      stop.abort(new KilnError("Early uploads stopped"));
      await Promise.all(running);
      if (!opts.client) client.close();
    },
  };
}

/** Uploads every blob of an image to every destination (not the manifest). */
async function pushImageBlobs(client: RegistryClient, dests: Dest[], image: Image, opts: PushOptions): Promise<void> {
  const layers = await image.layers();
  for (const [registry, ds] of byRegistry(dests)) {
    const [first, ...others] = ds;
    const put = blobUploader(client, registry, first!, opts);
    const upload = async (dest: Dest, src: BlobSource, origin?: Layer["origin"]) => {
      if (src.kind === "layer" && opts.early) {
        const { digest } = await knownDigest(src);
        // In place already: the early uploads' own onBlob reported it.
        if (digest && await opts.early.lookup(registry, dest.repository, digest)) return;
      }
      const r = await put(dest, src, origin);
      opts.onBlob?.({ ...r, repository: dest.repository });
    };
    const conc = opts.concurrency ?? 4;
    await mapLimit(layers, conc, (l) => upload(first!, { kind: "layer", layer: l }, l.origin));
    const rc = await image.rawConfig();
    await upload(first!, { kind: "bytes", bytes: rc, digest: sha256(rc) });
    for (const d of others) {
      await mapLimit(layers, conc, (l) => upload(d, { kind: "layer", layer: l }, l.origin));
      await upload(d, { kind: "bytes", bytes: rc, digest: sha256(rc) });
    }
  }
}

async function putManifest(
  client: RegistryClient,
  dest: { registry: string; repository: string },
  identifier: string,
  raw: Uint8Array,
  mediaType: string,
): Promise<void> {
  const res = await client.request(dest.registry, {
    method: "PUT",
    path: `/v2/${dest.repository}/manifests/${identifier}`,
    headers: { "content-type": mediaType, "content-length": String(raw.byteLength) },
    body: raw,
    repository: dest.repository,
    actions: ["pull", "push"],
    expect: [201, 200],
    action: `push manifest ${identifier}`,
  });
  await res.body?.cancel();
}

async function pushChildren(
  client: RegistryClient,
  dests: Dest[],
  x: Image | ImageIndex,
  opts: PushOptions,
): Promise<Descriptor> {
  if (isImageValue(x)) {
    await pushImageBlobs(client, dests, x, opts);
  } else {
    const idx = await x.manifest();
    for (const d of idx.manifests) {
      let child: Image | ImageIndex;
      if (isImageMediaType(d.mediaType)) child = await x.image(d.digest);
      else if (isIndexMediaType(d.mediaType)) child = await x.index(d.digest);
      else throw new KilnError(`Cannot push ${d.digest}: unsupported media type ${d.mediaType} in the index`);
      const cd = await pushChildren(client, dests, child, opts);
      const raw = await child.rawManifest();
      for (const dest of dests) await putManifest(client, dest, cd.digest, raw, cd.mediaType);
    }
  }
  const raw = await x.rawManifest();
  return { mediaType: await x.mediaType(), digest: sha256(raw), size: raw.byteLength };
}

/**
 * Pushes an image or index to one or more references: every blob goes to every destination first (shared by
 * mounting within a registry), then the manifest is PUT to each tag (or digest).
 *
 * @param refs Destinations (`registry/repo:tag`, or `@digest`).
 * @param image Image or index.
 * @param opts Transport options, concurrency, mount sources.
 * @returns The manifest descriptor and the references written.
 *
 * @example Usage
 * ```ts ignore
 * const { descriptor } = await pushImage(["127.0.0.1:5000/app:1", "127.0.0.1:5000/app:latest"], image, {
 *   insecureRegistries: ["127.0.0.1:5000"],
 * });
 * console.log(descriptor.digest);
 * ```
 */
export async function pushImage(
  refs: (Reference | string)[],
  image: Image | ImageIndex,
  opts: PushOptions = {},
): Promise<PushResult> {
  const rs = toRefs(refs);
  const client = opts.client ?? createRegistryClient("push", opts);
  try {
    const dests = group(rs);
    const descriptor = await pushChildren(client, dests, image, opts);
    const raw = await image.rawManifest();
    for (const r of rs) {
      if (r.digest && r.digest !== descriptor.digest) {
        throw new KilnError(
          `Cannot push to ${
            formatReference(r)
          }: the image's digest is ${descriptor.digest}, not the one in the reference`,
        );
      }
    }
    const references: string[] = [];
    for (const r of rs) {
      await putManifest(client, r, r.tag ?? descriptor.digest, raw, descriptor.mediaType);
      references.push(`${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ""}@${descriptor.digest}`);
      client.log.info("pushed", { reference: formatReference(r), digest: descriptor.digest });
    }
    return { descriptor, references };
  } finally {
    if (!opts.client) client.close();
  }
}

/**
 * Pushes an image index (multi-platform) and its children; same as {@linkcode pushImage}.
 *
 * @param refs Destinations.
 * @param index The index.
 * @param opts Transport options.
 * @returns The index descriptor and the references written.
 *
 * @example Usage
 * ```ts ignore
 * await pushIndex(["127.0.0.1:5000/multi:latest"], indexFromImages([{ image: a }, { image: b }]), opts);
 * ```
 */
export function pushIndex(
  refs: (Reference | string)[],
  index: ImageIndex,
  opts: PushOptions = {},
): Promise<PushResult> {
  return pushImage(refs, index, opts);
}

/**
 * Checks whether the push credentials are accepted for each destination (kaniko's push-permission probe):
 * starts and cancels an upload session.
 *
 * @param refs Destinations.
 * @param opts Transport options.
 *
 * @example Usage
 * ```ts ignore
 * await checkPushPermission(["127.0.0.1:5000/app:latest"], opts);
 * ```
 */
export async function checkPushPermission(
  refs: readonly (Reference | string)[],
  opts: PushOptions = {},
): Promise<void> {
  const client = opts.client ?? createRegistryClient("push", opts);
  try {
    for (const d of group(toRefs(refs))) {
      const res = await client.request(d.registry, {
        method: "POST",
        path: `/v2/${d.repository}/blobs/uploads/`,
        headers: { "content-length": "0" },
        repository: d.repository,
        actions: ["pull", "push"],
        expect: [202],
        action: "check push permission",
      });
      await res.body?.cancel();
      const loc = res.headers.get("location");
      if (loc) {
        const del = await client.request(d.registry, {
          method: "DELETE",
          path: await absolute(client, d.registry, loc),
          repository: d.repository,
          actions: ["pull", "push"],
          expect: [204, 200, 202, 404],
          action: "cancel upload",
        }).catch(() => undefined);
        await del?.body?.cancel();
      }
    }
  } finally {
    if (!opts.client) client.close();
  }
}

/**
 * Deletes a manifest by digest or tag (registries need deletion enabled).
 *
 * @param ref Reference.
 * @param opts Transport options.
 *
 * @example Usage
 * ```ts ignore
 * await deleteManifest("127.0.0.1:5000/app@sha256:…", opts);
 * ```
 */
export async function deleteManifest(ref: Reference | string, opts: PushOptions = {}): Promise<void> {
  const r = typeof ref === "string" ? parseReference(ref) : ref;
  const client = opts.client ?? createRegistryClient("push", opts);
  try {
    const res = await client.request(r.registry, {
      method: "DELETE",
      path: `/v2/${r.repository}/manifests/${r.digest ?? r.tag}`,
      repository: r.repository,
      actions: ["pull", "push", "delete"],
      expect: [202, 200],
      action: `delete manifest ${r.digest ?? r.tag}`,
    });
    await res.body?.cancel();
  } finally {
    if (!opts.client) client.close();
  }
}
