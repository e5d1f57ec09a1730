/**
 * A tarball downloaded over HTTP(S): `https://host/path/context.tar.gz` (also `http://`, for local servers).
 *
 * @module
 */
import { extractArchive } from "./_archive.ts";
import { ContextError, describeError, redact } from "./errors.ts";
import type { ContextFetchOptions, ContextSource } from "./types.ts";

/** Options for {@linkcode httpTarballSource}. */
export interface HttpTarballOptions {
  /** The fetch implementation (default: the global `fetch`). */
  fetch?: typeof globalThis.fetch;
}

/**
 * Creates the source for a tar archive (plain, gzip or zstd) at an HTTP(S) URL. The response body is extracted
 * as it arrives; credentials in the URL are sent as Basic auth and never printed.
 *
 * @param url The archive URL.
 * @param options Fetch implementation.
 * @returns The source.
 *
 * @example Usage
 * ```ts
 * import { httpTarballSource } from "./https.ts";
 * const src = httpTarballSource("https://example.com/context.tar.gz");
 * console.assert(src.kind === "https");
 * ```
 */
export function httpTarballSource(url: string, options: HttpTarballOptions = {}): ContextSource {
  const description = redact(url);
  return {
    kind: "https",
    description,
    async fetch(destDir: string, fetchOptions: ContextFetchOptions = {}): Promise<void> {
      const res = await download(url, description, { ...options, ...fetchOptions });
      const len = Number(res.headers.get("content-length") ?? NaN);
      await extractArchive(res.body!, destDir, {
        ...fetchOptions,
        source: description,
        ...(Number.isFinite(len) ? { total: len } : {}),
      });
    },
  };
}

/**
 * GETs `url` and returns the response when its status is 2xx with a body; otherwise throws a
 * {@linkcode ContextError} saying why (not found, access denied, status).
 *
 * @param url URL, possibly with `user:password@`.
 * @param description Redacted spec for messages.
 * @param options Fetch implementation and abort signal.
 * @returns The successful response.
 */
export async function download(
  url: string,
  description: string,
  options: HttpTarballOptions & { signal?: AbortSignal } = {},
): Promise<Response> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const u = new URL(url);
  const headers = new Headers();
  if (u.username || u.password) {
    headers.set(
      "authorization",
      "Basic " + btoa(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`),
    );
    u.username = "";
    u.password = "";
  }
  let res: Response;
  let at = u;
  for (let hops = 0;; hops++) {
    try {
      res = await doFetch(at, { headers, redirect: "manual", ...(options.signal ? { signal: options.signal } : {}) });
    } catch (e) {
      if (options.signal?.aborted) throw e;
      throw new ContextError(description, `cannot connect: ${describeError(e)}`, { cause: e });
    }
    const location = res.headers.get("location");
    if (![301, 302, 303, 307, 308].includes(res.status) || !location) break;
    await res.body?.cancel().catch(() => {});
    if (hops >= 10) throw new ContextError(description, "too many redirects");
    const next = new URL(location, at);
    // never send credentials to another host
    if (next.host !== at.host) headers.delete("authorization");
    at = next;
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => {});
    const why = res.status === 404
      ? "not found (HTTP 404)"
      : res.status === 401 || res.status === 403
      ? `access denied (HTTP ${res.status})`
      : `HTTP ${res.status} ${res.statusText}`.trim();
    throw new ContextError(description, why);
  }
  return res;
}
