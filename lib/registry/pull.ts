/**
 * Pulling: manifests by tag or digest (GET/HEAD with every manifest type accepted), index platform
 * selection, blobs streamed with digest and size verified while streaming, and resumed with `Range` after a
 * dropped connection. Mirrors and registry maps are tried in order before the original registry.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type Digest, KilnError, sha256 } from "../util/mod.ts";
import {
  type Descriptor,
  DigestMismatchError,
  hostPlatform,
  type Image,
  imageFromManifest,
  type ImageIndex,
  indexFromManifest,
  MANIFEST_ACCEPT,
  parseManifest,
  selectPlatform,
} from "../image/mod.ts";
import { createRegistryClient, type RegistryClient } from "./client.ts";
import { RegistryError } from "./errors.ts";
import type { RegistryOptions } from "./options.ts";
import {
  formatReference,
  normalizeRegistry,
  parseReference,
  type Reference,
  referenceIdentifier,
} from "./reference.ts";

/** Options for pulls: transport options plus an optional shared client. */
export interface PullOptions extends RegistryOptions {
  /** A client to reuse (its options win); otherwise one is created for the pull. */
  client?: RegistryClient;
}

/** A manifest fetched from a registry. */
export interface FetchedManifest {
  /** Where it was actually fetched from (a mirror, or the original). */
  ref: Reference;
  /** The exact bytes. */
  raw: Uint8Array;
  /** Media type (Content-Type, or the document's own). */
  mediaType: string;
  /** Digest of the bytes. */
  digest: Digest;
}

function toRef(ref: Reference | string): Reference {
  return typeof ref === "string" ? parseReference(ref) : ref;
}

/**
 * The references to try for a pull: mirrors / registry-map entries first, then the original (unless
 * `skipDefaultRegistryFallback`).
 *
 * @param ref The wanted reference.
 * @param opts Mirrors and maps.
 * @returns Candidates in order.
 *
 * @example Usage
 * ```ts
 * import { pullCandidates } from "./pull.ts";
 * import { parseReference } from "./reference.ts";
 * const c = pullCandidates(parseReference("busybox"), { registryMirrors: ["mirror.gcr.io"] });
 * console.assert(c[0]!.registry === "mirror.gcr.io" && c[1]!.registry === "docker.io");
 * ```
 */
export function pullCandidates(ref: Reference, opts: RegistryOptions = {}): Reference[] {
  const out: Reference[] = [];
  const maps: string[] = [];
  for (const [from, tos] of Object.entries(opts.registryMap ?? {})) {
    if (normalizeRegistry(from.replace(/^[a-z]+:\/\//i, "")) === ref.registry) maps.push(...tos);
  }
  if (ref.registry === "docker.io") maps.push(...(opts.registryMirrors ?? []));
  for (const m of maps) {
    const clean = m.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "");
    const slash = clean.indexOf("/");
    const registry = normalizeRegistry(slash < 0 ? clean : clean.slice(0, slash));
    const prefix = slash < 0 ? "" : clean.slice(slash + 1);
    out.push({ ...ref, registry, repository: prefix ? `${prefix}/${ref.repository}` : ref.repository });
  }
  if (!out.length || !opts.skipDefaultRegistryFallback) out.push(ref);
  return out;
}

async function withClient<T>(opts: PullOptions, fn: (c: RegistryClient) => Promise<T>): Promise<T> {
  if (opts.client) return await fn(opts.client);
  const c = createRegistryClient("pull", opts);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

async function fetchManifestFrom(
  client: RegistryClient,
  ref: Reference,
  identifier: string,
  method: "GET" | "HEAD",
): Promise<{ res: Response; raw?: Uint8Array }> {
  let res: Response;
  let buf: Uint8Array;
  for (let attempt = 0;; attempt++) {
    res = await client.request(ref.registry, {
      method,
      path: `/v2/${ref.repository}/manifests/${identifier}`,
      headers: { accept: MANIFEST_ACCEPT },
      repository: ref.repository,
      actions: ["pull"],
      expect: [200],
      action: `${method === "HEAD" ? "check" : "pull"} manifest ${identifier}`,
    });
    if (method === "HEAD") return { res };
    try {
      buf = new Uint8Array(await res.arrayBuffer());
      break;
    } catch (err) {
      // A body that stalled (RegistryError, temporary) or broke off: asked for again, as a failed request is.
      const temporary = !(err instanceof KilnError) || (err instanceof RegistryError && err.temporary);
      if (!temporary || attempt >= client.retries) {
        if (err instanceof KilnError) throw err;
        throw new RegistryError({
          registry: ref.registry,
          repository: ref.repository,
          action: `pull manifest ${identifier}`,
          status: 0,
          detail: "connection dropped in the middle of the response",
          cause: err,
        });
      }
      client.log.debug("manifest download interrupted, retrying", { manifest: identifier });
      await client.sleep(client.backoff(attempt));
    }
  }
  if (buf.byteLength > 16 * 1024 * 1024) {
    throw new KilnError(`Cannot use manifest ${formatReference(ref)}: larger than 16 MiB`);
  }
  return { res, raw: buf };
}

async function tryCandidates<T>(
  ref: Reference,
  opts: PullOptions,
  client: RegistryClient,
  fn: (r: Reference) => Promise<T>,
): Promise<T> {
  const cands = pullCandidates(ref, opts);
  let last: unknown;
  for (const [i, c] of cands.entries()) {
    try {
      return await fn(c);
    } catch (err) {
      last = err;
      if (i < cands.length - 1) {
        client.log.info("registry mirror failed, trying the next", {
          mirror: c.registry,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }
  throw last;
}

/**
 * Fetches a manifest (image or index) by tag or digest, verifying the digest when pulling by digest.
 *
 * @param ref Reference (text or parsed).
 * @param opts Transport options.
 * @returns Bytes, media type and digest.
 *
 * @example Usage
 * ```ts ignore
 * const m = await fetchManifest("127.0.0.1:5000/app:latest", { insecureRegistries: ["127.0.0.1:5000"] });
 * ```
 */
export function fetchManifest(ref: Reference | string, opts: PullOptions = {}): Promise<FetchedManifest> {
  const r = toRef(ref);
  return withClient(opts, (client) =>
    tryCandidates(r, opts, client, async (c) => {
      const id = referenceIdentifier(c);
      const { res, raw } = await fetchManifestFrom(client, c, id, "GET");
      const digest = sha256(raw!);
      if (c.digest && digest !== c.digest) {
        throw new DigestMismatchError(`Cannot use manifest ${formatReference(c)}: its bytes hash to ${digest}`);
      }
      const header = res.headers.get("docker-content-digest");
      if (!c.digest && header && header.startsWith("sha256:") && header !== digest) {
        throw new DigestMismatchError(
          `Cannot use manifest ${formatReference(c)}: Docker-Content-Digest ${header} differs from ${digest}`,
        );
      }
      const p = parseManifest(raw!, {
        mediaType: res.headers.get("content-type") ?? "",
        source: formatReference(c),
      });
      return { ref: c, raw: raw!, mediaType: p.mediaType, digest };
    }));
}

/**
 * HEADs a manifest: its descriptor without the body (digest from `Docker-Content-Digest`; falls back to GET
 * when the header is missing).
 *
 * @param ref Reference.
 * @param opts Transport options.
 * @returns The descriptor.
 *
 * @example Usage
 * ```ts ignore
 * const d = await headManifest("127.0.0.1:5000/app:latest", { insecureRegistries: ["127.0.0.1:5000"] });
 * ```
 */
export function headManifest(ref: Reference | string, opts: PullOptions = {}): Promise<Descriptor> {
  const r = toRef(ref);
  return withClient(opts, (client) =>
    tryCandidates(r, opts, client, async (c) => {
      const { res } = await fetchManifestFrom(client, c, referenceIdentifier(c), "HEAD");
      const digest = res.headers.get("docker-content-digest");
      const size = Number(res.headers.get("content-length") ?? NaN);
      const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
      if (digest && /^sha256:[a-f0-9]{64}$/.test(digest) && Number.isFinite(size) && mediaType) {
        return { mediaType, digest: digest as Digest, size };
      }
      const m = await fetchManifest(c, { ...opts, client });
      return { mediaType: m.mediaType, digest: m.digest, size: m.raw.byteLength };
    }));
}

/** Options for {@linkcode openBlob}. */
export interface OpenBlobOptions {
  /** Client to use. */
  client: RegistryClient;
}

/**
 * Opens a blob as a stream; digest and size are verified while streaming (the stream errors at the end on a
 * mismatch), redirects are followed, and a dropped connection is resumed with `Range` up to the client's
 * retry count.
 *
 * @param ref Registry and repository.
 * @param desc The blob's descriptor.
 * @param opts The client.
 * @returns The verified stream.
 *
 * @example Usage
 * ```ts ignore
 * const s = await openBlob(ref, manifest.config, { client });
 * ```
 */
export async function openBlob(
  ref: Reference,
  desc: Pick<Descriptor, "digest" | "size">,
  opts: OpenBlobOptions,
): Promise<ReadableStream<Uint8Array>> {
  const { client } = opts;
  const where = `${ref.registry}/${ref.repository}@${desc.digest}`;
  const hash = createHash("sha256");
  let received = 0;
  let resumes = 0;
  /** Where the current response's body ends, when it said (Content-Length): a body that got there was not cut. */
  let bodyEnd: number | undefined;
  const sizeMismatch = (has: string) =>
    new DigestMismatchError(
      `Cannot verify blob ${where}: size mismatch: the manifest says ${desc.size} bytes, the blob has ${has}`,
    );
  const get = async (from: number) => {
    const res = await client.request(ref.registry, {
      method: "GET",
      path: `/v2/${ref.repository}/blobs/${desc.digest}`,
      ...(from > 0 ? { headers: { range: `bytes=${from}-` } } : {}),
      repository: ref.repository,
      actions: ["pull"],
      expect: from > 0 ? [200, 206] : [200],
      action: `pull blob ${desc.digest}`,
    });
    if (!res.body) throw new KilnError(`Cannot pull blob ${where}: empty response`);
    const length = Number(res.headers.get("content-length") ?? NaN);
    bodyEnd = Number.isSafeInteger(length) ? (res.status === 206 ? from : 0) + length : undefined;
    let reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
    if (from > 0 && res.status === 200) {
      // The server ignored Range: skip what we already have.
      let skip = from;
      const orig = reader;
      const skipping = new ReadableStream<Uint8Array>({
        async pull(ctl) {
          for (;;) {
            const { done, value } = await orig.read();
            if (done) return ctl.close();
            if (skip >= value.byteLength) {
              skip -= value.byteLength;
              continue;
            }
            ctl.enqueue(skip ? value.subarray(skip) : value);
            skip = 0;
            return;
          }
        },
        cancel: (r) => orig.cancel(r),
      });
      reader = skipping.getReader();
    }
    return reader;
  };
  let reader = await get(0);
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (err) {
          // A dropped connection, or a stalled one (a temporary RegistryError from the client's idle timeout).
          const resumable = !(err instanceof KilnError) || (err instanceof RegistryError && err.temporary);
          if (resumes >= client.retries || !resumable) {
            ctl.error(
              err instanceof RegistryError ? err : new RegistryError({
                registry: ref.registry,
                repository: ref.repository,
                action: `pull blob ${desc.digest}`,
                status: 0,
                detail: `connection dropped after ${received} bytes`,
                cause: err,
              }),
            );
            return;
          }
          client.log.debug("blob download interrupted, resuming", { digest: desc.digest, offset: received });
          await client.sleep(client.backoff(resumes));
          resumes++;
          try {
            reader = await get(received);
          } catch (e) {
            ctl.error(e);
            return;
          }
          continue;
        }
        if (r.done) {
          const digest = `sha256:${hash.digest("hex")}`;
          if (received !== desc.size) {
            // The whole body came (its Content-Length): the blob is shorter than its descriptor says.
            if (bodyEnd === received) return ctl.error(sizeMismatch(String(received)));
            // A short body without an error: try to resume.
            if (received < desc.size && resumes < client.retries) {
              resumes++;
              await client.sleep(client.backoff(resumes - 1));
              try {
                reader = await get(received);
              } catch (e) {
                // Range Not Satisfiable: nothing is left after what we have.
                ctl.error(e instanceof RegistryError && e.status === 416 ? sizeMismatch(`only ${received}`) : e);
                return;
              }
              continue;
            }
            ctl.error(
              new DigestMismatchError(`Cannot verify blob ${where}: got ${received} bytes, expected ${desc.size}`),
            );
            return;
          }
          if (digest !== desc.digest) {
            ctl.error(new DigestMismatchError(`Cannot verify blob ${where}: content hashes to ${digest}`));
            return;
          }
          ctl.close();
          return;
        }
        received += r.value.byteLength;
        if (received > desc.size) {
          await reader.cancel().catch(() => {});
          ctl.error(sizeMismatch("more"));
          return;
        }
        hash.update(r.value);
        ctl.enqueue(r.value);
        return;
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  });
}

function bindImage(client: RegistryClient, fetched: FetchedManifest): Image | ImageIndex {
  const ref = fetched.ref;
  const source = `${ref.registry}/${ref.repository}@${fetched.digest}`;
  const open = (d: Descriptor) => openBlob(ref, d, { client });
  const p = parseManifest(fetched.raw, { mediaType: fetched.mediaType, source });
  if (p.kind === "image") {
    return withOrigin(
      imageFromManifest({ rawManifest: fetched.raw, mediaType: p.mediaType, openBlob: open, source }),
      ref,
    );
  }
  const fetchChild = async (d: Descriptor) => {
    const m = await fetchManifest({ registry: ref.registry, repository: ref.repository, digest: d.digest }, {
      client,
    });
    return { raw: m.raw, mediaType: m.mediaType };
  };
  const idx = indexFromManifest({
    rawManifest: fetched.raw,
    mediaType: p.mediaType,
    fetchManifest: fetchChild,
    openBlob: open,
    source,
  });
  return {
    ...idx,
    image: async (d) => withOrigin(await idx.image(d), ref),
  };
}

function withOrigin(img: Image, ref: Reference): Image {
  return {
    ...img,
    layers: async () =>
      (await img.layers()).map((l) => ({ ...l, origin: { registry: ref.registry, repository: ref.repository } })),
  };
}

/**
 * A lazy image or index from a registry (whatever the reference names).
 *
 * @param ref Reference.
 * @param opts Transport options.
 * @returns Image or index.
 *
 * @example Usage
 * ```ts ignore
 * const x = await remote("busybox", {});
 * ```
 */
export async function remote(ref: Reference | string, opts: PullOptions = {}): Promise<Image | ImageIndex> {
  const client = opts.client ?? createRegistryClient("pull", opts);
  const fetched = await fetchManifest(ref, { ...opts, client });
  return bindImage(client, fetched);
}

/**
 * A lazy image from a registry; an index is resolved to `opts.platform` (default: the host's platform).
 * Blobs are fetched on demand, verified while streaming.
 *
 * @param ref Reference.
 * @param opts Transport options and platform.
 * @returns The image.
 *
 * @example Usage
 * ```ts ignore
 * const img = await remoteImage("127.0.0.1:5000/app:latest", { insecureRegistries: ["127.0.0.1:5000"] });
 * console.log((await img.config()).config?.Cmd);
 * ```
 */
export async function remoteImage(ref: Reference | string, opts: PullOptions = {}): Promise<Image> {
  const x = await remote(ref, opts);
  if ("layers" in x) return x;
  const d = selectPlatform(await x.manifest(), opts.platform ?? hostPlatform(), formatReference(toRef(ref)));
  return x.image(d.digest);
}

/**
 * A lazy image index from a registry; fails if the reference names a single image.
 *
 * @param ref Reference.
 * @param opts Transport options.
 * @returns The index.
 *
 * @example Usage
 * ```ts ignore
 * const idx = await remoteIndex("127.0.0.1:5000/multi:latest", { insecureRegistries: ["127.0.0.1:5000"] });
 * ```
 */
export async function remoteIndex(ref: Reference | string, opts: PullOptions = {}): Promise<ImageIndex> {
  const x = await remote(ref, opts);
  if (!("layers" in x)) return x;
  throw new KilnError(`Cannot use ${formatReference(toRef(ref))} as an index: it is a single image`);
}

/**
 * Lists a repository's tags (follows `Link` pagination).
 *
 * @param ref Registry and repository.
 * @param opts Transport options.
 * @returns Tags.
 *
 * @example Usage
 * ```ts ignore
 * const tags = await listTags("127.0.0.1:5000/app", { insecureRegistries: ["127.0.0.1:5000"] });
 * ```
 */
export function listTags(ref: Reference | string, opts: PullOptions = {}): Promise<string[]> {
  const r = typeof ref === "string" ? parseReference(ref, { defaultTag: "" }) : ref;
  return withClient(opts, async (client) => {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${r.repository}/tags/list`;
    while (path) {
      const res: Response = await client.request(r.registry, {
        method: "GET",
        path,
        repository: r.repository,
        actions: ["pull"],
        expect: [200],
        action: "list tags",
      });
      const j = await res.json() as { tags?: string[] | null };
      tags.push(...(j.tags ?? []));
      const link = res.headers.get("link");
      const m = link ? /<([^>]+)>;\s*rel="?next"?/.exec(link) : null;
      path = m ? m[1] : undefined;
    }
    return tags;
  });
}
