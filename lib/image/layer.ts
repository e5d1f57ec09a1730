/**
 * Lazy layers: from a compressed blob (registries, layouts), from an uncompressed tar (tarballs, builds),
 * and single-use stream layers whose digest is known only after they were consumed.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Digest } from "../util/mod.ts";
import type { Descriptor, Layer } from "./types.ts";
import { layerCompression, MediaTypes } from "./media_types.ts";
import { compressStream, decompressStream, drainDigest, once } from "./_streams.ts";

/** Returns a fresh stream on every call. */
export type Opener = () => Promise<ReadableStream<Uint8Array>>;

/** What a compressed-blob source knows about a layer. */
export interface CompressedLayerCore {
  /** Media type of the blob. */
  mediaType: string;
  /** Digest of the blob. */
  digest: Digest;
  /** Size of the blob. */
  size: number;
  /** Diff ID, if known (from the config); otherwise computed by decompressing once. */
  diffId?: Digest;
  /** Opens the blob (verified by the opener). */
  open: Opener;
  /** Annotations / urls to keep in manifests. */
  descriptor?: Partial<Descriptor>;
  /** A local file with exactly the blob's bytes (see `Layer.file`). */
  file?: string;
}

/**
 * A layer backed by a compressed blob.
 *
 * @param core Digest, size, media type and an opener.
 * @returns The layer.
 *
 * @example Usage
 * ```ts
 * import { compressedLayer } from "./layer.ts";
 * import { sha256 } from "../util/digest.ts";
 * const data = new TextEncoder().encode("x");
 * const l = compressedLayer({
 *   mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(data), size: 1,
 *   open: () => Promise.resolve(new Blob([data]).stream()),
 * });
 * console.assert((await l.diffId()) === sha256(data));
 * ```
 */
export function compressedLayer(core: CompressedLayerCore): Layer {
  const comp = layerCompression(core.mediaType);
  const uncompressed = async () => {
    const s = await core.open();
    const d = decompressStream(comp);
    return d ? s.pipeThrough(d) : s;
  };
  const diffId = once(async () => {
    if (core.diffId) return core.diffId;
    if (comp === "none") return core.digest;
    return (await drainDigest(await uncompressed())).digest;
  });
  const layer: Layer = {
    mediaType: () => Promise.resolve(core.mediaType),
    digest: () => Promise.resolve(core.digest),
    size: () => Promise.resolve(core.size),
    diffId,
    compressed: core.open,
    uncompressed,
  };
  if (core.descriptor) {
    const extra = core.descriptor;
    layer.descriptor = () => Promise.resolve(extra);
  }
  if (core.file !== undefined) layer.file = core.file;
  return layer;
}

/** What an uncompressed source knows about a layer. */
export interface UncompressedLayerCore {
  /** Opens the uncompressed tar. */
  open: Opener;
  /** Media type of the compressed form (default OCI gzip). */
  mediaType?: string;
  /** Diff ID, if known. */
  diffId?: Digest;
  /** Compression level. */
  level?: number;
}

/**
 * A layer backed by an uncompressed tar; compressed on demand (deterministically), the digest computed by one
 * compression pass on first need.
 *
 * @param core Opener and media type.
 * @returns The layer.
 *
 * @example Usage
 * ```ts
 * import { uncompressedLayer } from "./layer.ts";
 * const l = uncompressedLayer({ open: () => Promise.resolve(new Blob([new Uint8Array(1024)]).stream()) });
 * console.assert((await l.digest()).startsWith("sha256:"));
 * ```
 */
export function uncompressedLayer(core: UncompressedLayerCore): Layer {
  const mediaType = core.mediaType ?? MediaTypes.OCI_LAYER_GZIP;
  const comp = layerCompression(mediaType);
  const compressed = async () => {
    const s = await core.open();
    const c = compressStream(comp, core.level);
    return c ? s.pipeThrough(c) : s;
  };
  const summary = once(async () => {
    const uncHash = createHash("sha256");
    const s = (await core.open()).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          uncHash.update(chunk);
          ctl.enqueue(chunk);
        },
      }),
    );
    const c = compressStream(comp, core.level);
    const r = await drainDigest(c ? s.pipeThrough(c) : s);
    return { ...r, diffId: core.diffId ?? `sha256:${uncHash.digest("hex")}` as Digest };
  });
  return {
    mediaType: () => Promise.resolve(mediaType),
    digest: async () => (await summary()).digest,
    size: async () => (await summary()).size,
    diffId: async () => core.diffId ?? (await summary()).diffId,
    compressed,
    uncompressed: core.open,
  };
}

/**
 * Thrown when a stream layer's digest, diff ID or size is asked for before its stream was consumed.
 */
export class NotComputedError extends Error {
  /** Creates the error. */
  constructor() {
    super("Cannot read the layer's digest: the stream layer has not been consumed yet");
    this.name = "NotComputedError";
  }
}

/** Thrown when a stream layer's stream is requested a second time. */
export class ConsumedError extends Error {
  /** Creates the error. */
  constructor() {
    super("Cannot open the stream layer again: it has already been consumed");
    this.name = "ConsumedError";
  }
}

/** Options for {@linkcode streamLayer}. */
export interface StreamLayerOptions {
  /** Media type (default OCI gzip). */
  mediaType?: string;
  /** Compression level. */
  level?: number;
}

/** A single-use layer; see {@linkcode streamLayer}. */
export interface StreamLayer extends Layer {
  /** True once the stream has been read to the end (digest etc. are then available). */
  computed(): boolean;
}

/**
 * A single-use layer over an uncompressed tar stream: `compressed()` (or `uncompressed()`) may be called once;
 * `digest()`, `diffId()` and `size()` reject with {@linkcode NotComputedError} until that stream was read to
 * the end. Pushers upload such layers before computing the manifest.
 *
 * @param source The uncompressed tar.
 * @param opts Media type and level.
 * @returns The layer.
 *
 * @example Usage
 * ```ts
 * import { streamLayer } from "./layer.ts";
 * const l = streamLayer(new Blob([new Uint8Array(1024)]).stream());
 * await (await l.compressed()).pipeTo(new WritableStream());
 * console.assert(l.computed());
 * ```
 */
export function streamLayer(source: ReadableStream<Uint8Array>, opts: StreamLayerOptions = {}): StreamLayer {
  const mediaType = opts.mediaType ?? MediaTypes.OCI_LAYER_GZIP;
  const comp = layerCompression(mediaType);
  let consumed = false;
  let result: { digest: Digest; diffId: Digest; size: number } | undefined;
  function take(): void {
    if (consumed) throw new ConsumedError();
    consumed = true;
  }
  function instrument(compress: boolean): ReadableStream<Uint8Array> {
    const uncHash = createHash("sha256");
    const compHash = createHash("sha256");
    let size = 0;
    const a = source.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          uncHash.update(chunk);
          ctl.enqueue(chunk);
        },
      }),
    );
    const c = compressStream(comp, opts.level);
    const b = c ? a.pipeThrough(c) : a;
    return b.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          compHash.update(chunk);
          size += chunk.byteLength;
          if (compress) ctl.enqueue(chunk);
        },
        flush() {
          const diffId = `sha256:${uncHash.digest("hex")}` as Digest;
          result = { digest: `sha256:${compHash.digest("hex")}`, diffId, size };
        },
      }),
    );
  }
  function get<K extends "digest" | "diffId" | "size">(k: K) {
    return () => result ? Promise.resolve(result[k]) : Promise.reject(new NotComputedError());
  }
  return {
    mediaType: () => Promise.resolve(mediaType),
    digest: get("digest") as () => Promise<Digest>,
    diffId: get("diffId") as () => Promise<Digest>,
    size: get("size") as () => Promise<number>,
    computed: () => result !== undefined,
    compressed() {
      take();
      return Promise.resolve(instrument(true));
    },
    uncompressed() {
      take();
      // Pass the uncompressed bytes through while still computing the compressed digest.
      const [forUser, forHash] = source.tee();
      source = forHash;
      const done = instrument(false).pipeTo(new WritableStream());
      done.catch(() => {});
      return Promise.resolve(forUser);
    },
  };
}
