/**
 * Content digests (`sha256:<hex>`) and streaming hashing.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";

/** A content digest in OCI form, e.g. `sha256:e3b0c442…`. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/**
 * Checks that `s` is a well-formed sha256 digest.
 *
 * @param s The string to check.
 * @returns Whether `s` is `sha256:` followed by 64 lowercase hex digits.
 *
 * @example Usage
 * ```ts
 * import { isDigest } from "./digest.ts";
 * console.assert(!isDigest("sha256:xyz"));
 * ```
 */
export function isDigest(s: string): s is Digest {
  return DIGEST_RE.test(s);
}

/**
 * Parses a digest string, throwing a SyntaxError when it is malformed.
 *
 * @param s The digest text.
 * @returns The digest.
 *
 * @example Usage
 * ```ts
 * import { parseDigest } from "./digest.ts";
 * parseDigest("sha256:" + "0".repeat(64));
 * ```
 */
export function parseDigest(s: string): Digest {
  if (!isDigest(s)) throw new SyntaxError(`Cannot parse digest: ${JSON.stringify(s)} is not sha256:<64 hex>`);
  return s;
}

/**
 * Computes the sha256 digest of bytes or a string (UTF-8).
 *
 * @param data The content.
 * @returns Its digest.
 *
 * @example Usage
 * ```ts
 * import { sha256 } from "./digest.ts";
 * console.assert(sha256("").endsWith("b855"));
 * ```
 */
export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** Digest and byte count of a stream that has been fully read. */
export interface StreamSummary {
  /** sha256 digest of every byte that passed. */
  digest: Digest;
  /** Number of bytes that passed. */
  size: number;
}

/**
 * A pass-through TransformStream that hashes and counts what flows through it.
 * `summary` resolves when the stream is flushed.
 *
 * @example Usage
 * ```ts
 * import { HashingStream } from "./digest.ts";
 * const h = new HashingStream();
 * await new Blob(["abc"]).stream().pipeThrough(h).pipeTo(new WritableStream());
 * console.assert((await h.summary).size === 3);
 * ```
 */
export class HashingStream extends TransformStream<Uint8Array, Uint8Array> {
  /** Resolves with the digest and size once the stream has ended. */
  readonly summary: Promise<StreamSummary>;
  /** Creates a hashing pass-through. */
  constructor() {
    const hash: Hash = createHash("sha256");
    let size = 0;
    let resolve!: (s: StreamSummary) => void;
    const summary = new Promise<StreamSummary>((r) => resolve = r);
    super({
      transform(chunk, controller) {
        hash.update(chunk);
        size += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush() {
        resolve({ digest: `sha256:${hash.digest("hex")}`, size });
      },
    });
    this.summary = summary;
  }
}
