/**
 * Parsing manifests, indexes and configs from their exact bytes.
 *
 * @module
 */
import { type Digest, isDigest, KilnError, sha256 } from "../util/mod.ts";
import type { Descriptor, ImageConfig, Index, Manifest } from "./types.ts";
import { isImageMediaType, isIndexMediaType, isSchema1MediaType, MediaTypes } from "./media_types.ts";

/**
 * A manifest, index or config that cannot be used (malformed, unsupported, Docker schema1).
 *
 * @example Usage
 * ```ts
 * import { ManifestError } from "./manifest.ts";
 * console.assert(new ManifestError("bad").exitCode === 1);
 * ```
 */
export class ManifestError extends KilnError {
  /**
   * Creates the error.
   *
   * @param message One line.
   * @param options Cause.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "ManifestError";
  }
}

/** A parsed manifest document: either an image manifest or an index. */
export type ParsedManifest =
  | { kind: "image"; mediaType: string; manifest: Manifest; digest: Digest; raw: Uint8Array }
  | { kind: "index"; mediaType: string; manifest: Index; digest: Digest; raw: Uint8Array };

/** Options for {@linkcode parseManifest}. */
export interface ParseManifestOptions {
  /** Media type from the descriptor or the HTTP Content-Type (parameters are ignored). */
  mediaType?: string;
  /** Where it came from, for error messages (e.g. `registry/repo@sha256:…`). */
  source?: string;
}

function cleanType(mt: string | undefined): string | undefined {
  if (!mt) return undefined;
  const t = mt.split(";")[0]!.trim().toLowerCase();
  if (t === "" || t === "application/octet-stream" || t === "text/plain") return undefined;
  return t;
}

function checkDescriptor(d: unknown, what: string, where: string): Descriptor {
  const o = d as Partial<Descriptor> | null;
  if (
    !o || typeof o !== "object" || typeof o.mediaType !== "string" || typeof o.size !== "number" ||
    typeof o.digest !== "string"
  ) {
    throw new ManifestError(`Cannot parse manifest${where}: ${what} is not a valid descriptor`);
  }
  if (!isDigest(o.digest)) {
    throw new ManifestError(
      `Cannot parse manifest${where}: ${what} has unsupported digest ${JSON.stringify(o.digest)}`,
    );
  }
  if (o.size < 0 || !Number.isSafeInteger(o.size)) {
    throw new ManifestError(`Cannot parse manifest${where}: ${what} has invalid size ${o.size}`);
  }
  return o as Descriptor;
}

/**
 * Parses manifest or index bytes. The digest is computed over the exact bytes. Docker schema1 is refused
 * with a clear error; a manifest without `mediaType` (umoci) takes the type from `opts.mediaType` or its shape.
 *
 * @param raw The exact bytes.
 * @param opts Media type hint and source for messages.
 * @returns The parsed document.
 *
 * @example Usage
 * ```ts
 * import { parseManifest } from "./manifest.ts";
 * const raw = new TextEncoder().encode('{"schemaVersion":2,"manifests":[]}');
 * console.assert(parseManifest(raw).kind === "index");
 * ```
 */
export function parseManifest(raw: Uint8Array, opts: ParseManifestOptions = {}): ParsedManifest {
  const where = opts.source ? ` ${opts.source}` : "";
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder().decode(raw));
  } catch (err) {
    throw new ManifestError(`Cannot parse manifest${where}: not valid JSON`, { cause: err });
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw new ManifestError(`Cannot parse manifest${where}: not a JSON object`);
  }
  const hint = cleanType(opts.mediaType);
  const field = typeof json.mediaType === "string" ? json.mediaType : undefined;
  if (
    json.schemaVersion === 1 || (hint && isSchema1MediaType(hint) && json.schemaVersion !== 2) ||
    (field && isSchema1MediaType(field))
  ) {
    throw new ManifestError(
      `Cannot use manifest${where}: Docker schema1 manifests are not supported (re-push the image with a current client)`,
    );
  }
  if (json.schemaVersion !== 2) {
    throw new ManifestError(`Cannot parse manifest${where}: schemaVersion is ${JSON.stringify(json.schemaVersion)}`);
  }
  if (hint && field && hint !== field && (isImageMediaType(hint) || isIndexMediaType(hint))) {
    throw new ManifestError(`Cannot parse manifest${where}: mediaType ${field} differs from the expected ${hint}`);
  }
  let mediaType = field ?? (hint && (isImageMediaType(hint) || isIndexMediaType(hint)) ? hint : undefined);
  if (!mediaType) {
    if (Array.isArray(json.manifests)) mediaType = MediaTypes.OCI_INDEX;
    else if (json.config && Array.isArray(json.layers)) mediaType = MediaTypes.OCI_MANIFEST;
  }
  const digest = sha256(raw);
  if (mediaType && isIndexMediaType(mediaType)) {
    if (!Array.isArray(json.manifests)) throw new ManifestError(`Cannot parse index${where}: no "manifests" array`);
    json.manifests.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`, where));
    return { kind: "index", mediaType, manifest: json as unknown as Index, digest, raw };
  }
  if (mediaType && isImageMediaType(mediaType)) {
    checkDescriptor(json.config, "config", where);
    if (!Array.isArray(json.layers)) throw new ManifestError(`Cannot parse manifest${where}: no "layers" array`);
    json.layers.forEach((d, i) => checkDescriptor(d, `layers[${i}]`, where));
    return { kind: "image", mediaType, manifest: json as unknown as Manifest, digest, raw };
  }
  throw new ManifestError(`Cannot use manifest${where}: unsupported media type ${mediaType ?? "(none)"}`);
}

/**
 * Parses image config bytes, checking the fields kiln relies on.
 *
 * @param raw The exact config bytes.
 * @param source Where it came from, for messages.
 * @returns The config.
 *
 * @example Usage
 * ```ts
 * import { parseConfig } from "./manifest.ts";
 * const c = parseConfig(new TextEncoder().encode('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'));
 * console.assert(c.os === "linux");
 * ```
 */
export function parseConfig(raw: Uint8Array, source?: string): ImageConfig {
  const where = source ? ` ${source}` : "";
  let json: ImageConfig;
  try {
    json = JSON.parse(new TextDecoder().decode(raw));
  } catch (err) {
    throw new ManifestError(`Cannot parse image config${where}: not valid JSON`, { cause: err });
  }
  if (!json || typeof json !== "object") throw new ManifestError(`Cannot parse image config${where}: not an object`);
  if (!json.rootfs) json.rootfs = { type: "layers", diff_ids: [] };
  if (!Array.isArray(json.rootfs.diff_ids)) {
    throw new ManifestError(`Cannot parse image config${where}: rootfs.diff_ids is not an array`);
  }
  return json;
}

/**
 * Serialises a JSON document the way kiln writes manifests and configs (compact, key order as given).
 *
 * @param value The object.
 * @returns UTF-8 bytes.
 *
 * @example Usage
 * ```ts
 * import { toJsonBytes } from "./manifest.ts";
 * console.assert(toJsonBytes({ a: 1 }).length === 7);
 * ```
 */
export function toJsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
