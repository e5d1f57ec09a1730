/**
 * Image references with Docker's normalisation: `busybox` → `docker.io/library/busybox:latest`.
 *
 * @module
 */
import { type Digest, isDigest } from "../util/mod.ts";
import { ReferenceSyntaxError } from "./errors.ts";

/** The canonical name of Docker Hub. */
export const DOCKER_HUB = "docker.io";
/** The host actually contacted for Docker Hub. */
export const DOCKER_HUB_HOST = "registry-1.docker.io";

/** A parsed, normalised image reference. */
export interface Reference {
  /** Registry, e.g. `docker.io`, `127.0.0.1:5000`, `localhost`. */
  registry: string;
  /** Repository path, e.g. `library/busybox`. */
  repository: string;
  /** Tag, if given (or defaulted). */
  tag?: string;
  /** Digest, if given. */
  digest?: Digest;
}

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const REPO_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST_RE =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;

/** Options for {@linkcode parseReference}. */
export interface ParseReferenceOptions {
  /** Tag used when neither tag nor digest is given (default `latest`; `""` for none). */
  defaultTag?: string;
  /** Registry used when none is given (default `docker.io`). */
  defaultRegistry?: string;
}

/**
 * Parses and normalises an image reference: `[registry/]repository[:tag][@digest]`.
 *
 * @param text The reference.
 * @param opts Defaults.
 * @returns The reference.
 * @throws {ReferenceSyntaxError} with the reason when invalid.
 *
 * @example Usage
 * ```ts
 * import { formatReference, parseReference } from "./reference.ts";
 * console.assert(formatReference(parseReference("busybox")) === "docker.io/library/busybox:latest");
 * ```
 */
export function parseReference(text: string, opts: ParseReferenceOptions = {}): Reference {
  const fail = (reason: string): never => {
    throw new ReferenceSyntaxError(text, reason);
  };
  if (text === "") fail("it is empty");
  if (/\s/.test(text)) fail("it contains whitespace");
  if (text.includes("://")) fail("it must not contain a URL scheme");
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(d)) fail(`digest "${d}" is malformed`);
    if (!d.startsWith("sha256:")) fail(`digest algorithm "${d.split(":")[0]}" is not supported (only sha256)`);
    if (!isDigest(d)) fail(`digest "${d}" must be sha256: followed by 64 lowercase hex digits`);
    digest = d as Digest;
  }
  let registry: string | undefined;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("[") ||
      /[A-Z]/.test(first)
    ) {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      fail(`tag "${tag}" is invalid (letters, digits, _ . -, at most 128, not starting with . or -)`);
    }
  }
  if (registry !== undefined) {
    if (!HOST_RE.test(registry)) fail(`registry "${registry}" is not a valid host[:port]`);
    const port = /:(\d+)$/.exec(registry)?.[1];
    if (port !== undefined && Number(port) > 65535) fail(`registry port ${port} is out of range`);
  }
  if (rest === "") fail("the repository name is empty");
  if (/[A-Z]/.test(rest)) fail(`repository "${rest}" must be lowercase`);
  if (!REPO_RE.test(rest)) {
    fail(`repository "${rest}" is invalid (lowercase letters, digits and separators . _ __ - between components)`);
  }
  registry = normalizeRegistry(registry ?? opts.defaultRegistry ?? DOCKER_HUB);
  if (registry === DOCKER_HUB && !rest.includes("/")) rest = `library/${rest}`;
  if (`${registry}/${rest}`.length > 255) fail("the name is longer than 255 characters");
  const ref: Reference = { registry, repository: rest };
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined && (opts.defaultTag ?? "latest") !== "") ref.tag = opts.defaultTag ?? "latest";
  if (digest) ref.digest = digest;
  return ref;
}

/**
 * Normalises a registry name: `index.docker.io` and `registry-1.docker.io` become `docker.io`.
 *
 * @param registry Host[:port].
 * @returns The canonical name.
 *
 * @example Usage
 * ```ts
 * import { normalizeRegistry } from "./reference.ts";
 * console.assert(normalizeRegistry("index.docker.io") === "docker.io");
 * ```
 */
export function normalizeRegistry(registry: string): string {
  const r = registry.toLowerCase();
  if (r === "index.docker.io" || r === "registry-1.docker.io" || r === "docker.io") return DOCKER_HUB;
  return r;
}

/**
 * The host to contact for a registry name (`docker.io` → `registry-1.docker.io`).
 *
 * @param registry Canonical registry name.
 * @returns Host[:port].
 *
 * @example Usage
 * ```ts
 * import { registryHost } from "./reference.ts";
 * console.assert(registryHost("docker.io") === "registry-1.docker.io");
 * ```
 */
export function registryHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_HOST : registry;
}

/**
 * Formats a reference: `registry/repository[:tag][@digest]`.
 *
 * @param ref The reference.
 * @returns The text.
 *
 * @example Usage
 * ```ts
 * import { formatReference } from "./reference.ts";
 * console.assert(formatReference({ registry: "r", repository: "a", tag: "1" }) === "r/a:1");
 * ```
 */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${
    ref.digest ? `@${ref.digest}` : ""
  }`;
}

/**
 * The identifier used in manifest URLs: the digest if any, else the tag.
 *
 * @param ref The reference.
 * @returns Digest or tag.
 *
 * @example Usage
 * ```ts
 * import { referenceIdentifier } from "./reference.ts";
 * console.assert(referenceIdentifier({ registry: "r", repository: "a", tag: "1" }) === "1");
 * ```
 */
export function referenceIdentifier(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}
