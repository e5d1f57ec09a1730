/**
 * Private: the HTTP client isomorphic-git uses, over node:http/node:https so that `insecure-skip-tls` and
 * cancellation work the same everywhere.
 *
 * @module
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/** The request shape isomorphic-git sends (its `GitHttpRequest`). */
export interface GitHttpRequest {
  url: string;
  method?: string | undefined;
  headers?: Record<string, string> | undefined;
  body?: AsyncIterableIterator<Uint8Array> | undefined;
}

/** The response shape isomorphic-git expects (its `GitHttpResponse`). */
export interface GitHttpResponse {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: AsyncIterableIterator<Uint8Array>;
  statusCode: number;
  statusMessage: string;
}

/** Options for {@linkcode gitHttpClient}. */
export interface GitHttpClientOptions {
  /** Skip TLS certificate verification. */
  insecureSkipTls?: boolean;
  /** Cancels requests. */
  signal?: AbortSignal;
  /** Called with the byte count of each response chunk. */
  onBytes?: (n: number) => void;
}

/**
 * Creates an isomorphic-git HTTP client.
 *
 * @param options TLS, cancellation and byte counting.
 * @returns An object with `request`.
 */
export function gitHttpClient(
  options: GitHttpClientOptions = {},
): { request(req: GitHttpRequest): Promise<GitHttpResponse> } {
  async function once(req: GitHttpRequest, url: URL, redirects: number): Promise<GitHttpResponse> {
    const chunks: Uint8Array[] = [];
    if (req.body) { for await (const c of req.body) chunks.push(c); }
    const body = chunks.length ? Buffer.concat(chunks) : undefined;
    const method = req.method ?? "GET";
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const res = await new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
      const r = send(url, {
        method,
        headers: { ...req.headers, ...(body ? { "content-length": String(body.length) } : {}) },
        rejectUnauthorized: !options.insecureSkipTls,
        ...(options.signal ? { signal: options.signal } : {}),
      }, resolve);
      r.on("error", reject);
      r.end(body);
    });
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && res.headers.location && redirects < 5) {
      res.resume();
      const next = new URL(res.headers.location, url);
      const headers = { ...req.headers };
      // never send credentials to another host
      if (next.host !== url.host) {
        for (const k of Object.keys(headers)) if (k.toLowerCase() === "authorization") delete headers[k];
      }
      const again = { ...req, headers, ...(chunks.length ? { body: iter(chunks) } : {}) };
      return once(again, next, redirects + 1);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
    }
    const onBytes = options.onBytes;
    async function* stream(): AsyncGenerator<Uint8Array> {
      for await (const c of res) {
        const u8 = c as Uint8Array;
        onBytes?.(u8.byteLength);
        yield u8;
      }
    }
    return {
      url: url.href,
      method,
      headers,
      body: stream(),
      statusCode: status,
      statusMessage: res.statusMessage ?? "",
    };
  }
  return { request: (req) => once(req, new URL(req.url), 0) };
}

async function* iter(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
}
