/**
 * The HTTP transport behind the registry client: one small interface ({@linkcode HttpTransport}) so the
 * client runs on web `fetch` (Deno, Bun, Node) and uses a runtime-specific path only for TLS settings:
 * `Deno.createHttpClient` for custom CAs and client certificates, `node:https` for skip-verify (and for any
 * TLS setting on runtimes without `Deno.createHttpClient`).
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";
import { Readable } from "node:stream";
import { createReadStream } from "node:fs";
import { readFileStream } from "../util/mod.ts";

/** One HTTP request. Redirects are not followed by transports (the client does it, dropping auth across hosts). */
export interface TransportRequest {
  /** Method. */
  method: string;
  /** Absolute URL. */
  url: string;
  /** Headers. */
  headers: Headers;
  /** Body: bytes, a stream, or a file's bytes (sent with the Content-Length header when set). */
  body?: Uint8Array | ReadableStream<Uint8Array> | FileBody;
  /** Abort signal. */
  signal?: AbortSignal;
}

/**
 * A request body read from a file: `length` bytes from `start`, to the end of the file. Transports hand it to the
 * runtime's HTTP client as a file (Deno: a file-backed stream the runtime reads itself; Bun: `Bun.file`), so the
 * bytes never pass through JavaScript.
 */
export interface FileBody {
  /** The file. */
  file: string;
  /** First byte. */
  start: number;
  /** Bytes to send: the rest of the file. */
  length: number;
}

/** Whether a request body is a {@linkcode FileBody}. */
export function isFileBody(b: unknown): b is FileBody {
  return typeof b === "object" && b !== null && typeof (b as FileBody).file === "string";
}

interface DenoFiles {
  open(
    path: string,
  ): Promise<{ seek(n: number, whence: number): Promise<number>; readable: ReadableStream<Uint8Array> }>;
}
interface BunFiles {
  file(path: string): Blob;
}

/** A FileBody as something fetch sends without JavaScript in the loop, where the runtime has such a thing. */
async function fetchableFile(b: FileBody): Promise<BodyInit> {
  const g = globalThis as { Bun?: BunFiles; Deno?: DenoFiles };
  if (g.Bun) return g.Bun.file(b.file).slice(b.start, b.start + b.length);
  if (g.Deno) {
    const f = await g.Deno.open(b.file);
    if (b.start) await f.seek(b.start, 0); // SeekMode.Start
    return f.readable; // a file-backed stream: Deno's fetch reads the file itself
  }
  return readFileStream(b.file, { start: b.start, end: b.start + b.length });
}

/** TLS settings for one registry host. */
export interface TlsSettings {
  /** Extra CA certificates (PEM). */
  caCerts?: string[];
  /** Client certificate (PEM). */
  cert?: string;
  /** Client key (PEM). */
  key?: string;
  /** Skip server certificate verification. */
  insecureSkipVerify?: boolean;
}

/** Sends requests; returns web Responses (status, headers, streamed body). */
export interface HttpTransport {
  /** Sends one request without following redirects. */
  send(req: TransportRequest): Promise<Response>;
  /** Releases connections. */
  close(): void;
}

/** Creates a transport for a host's TLS settings. */
export type TransportFactory = (tls: TlsSettings) => HttpTransport;

interface DenoLike {
  createHttpClient(opts: { caCerts?: string[]; cert?: string; key?: string }): { close(): void };
}

function fetchTransport(client?: { close(): void }): HttpTransport {
  return {
    send(req) {
      const init: RequestInit & { client?: unknown; duplex?: string } = {
        method: req.method,
        headers: req.headers,
        redirect: "manual",
      };
      if (req.signal) init.signal = req.signal;
      if (client) init.client = client;
      if (isFileBody(req.body)) {
        return fetchableFile(req.body).then((body) => {
          init.body = body;
          if (body instanceof ReadableStream) init.duplex = "half";
          return fetch(req.url, init);
        });
      }
      if (req.body) {
        init.body = req.body as BodyInit;
        if (req.body instanceof ReadableStream) init.duplex = "half";
      }
      return fetch(req.url, init);
    },
    close() {
      client?.close();
    },
  };
}

function nodeTransport(tls: TlsSettings): HttpTransport {
  const agentOpts: https.AgentOptions = { keepAlive: true, maxSockets: 16 };
  // `ca` replaces node's roots: keep them, as Deno's caCerts (and Docker) add to the system's.
  if (tls.caCerts?.length) agentOpts.ca = [...rootCertificates, ...tls.caCerts];
  if (tls.cert) agentOpts.cert = tls.cert;
  if (tls.key) agentOpts.key = tls.key;
  if (tls.insecureSkipVerify) agentOpts.rejectUnauthorized = false;
  const httpsAgent = new https.Agent(agentOpts);
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  return {
    send(req) {
      return new Promise<Response>((resolve, reject) => {
        const u = new URL(req.url);
        const headers: Record<string, string> = {};
        req.headers.forEach((v, k) => headers[k] = v);
        const mod = u.protocol === "https:" ? https : http;
        const r = mod.request(u, {
          method: req.method,
          headers,
          agent: u.protocol === "https:" ? httpsAgent : httpAgent,
          ...(req.signal ? { signal: req.signal } : {}),
        }, (res) => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
            else if (v !== undefined) h.set(k, v);
          }
          const status = res.statusCode ?? 0;
          const noBody = req.method === "HEAD" || status === 204 || status === 304;
          if (noBody) res.resume();
          const body = noBody ? null : Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>;
          resolve(new Response(body, { status, headers: h }));
        });
        r.on("error", reject);
        if (!req.body) r.end();
        else if (req.body instanceof Uint8Array) r.end(req.body);
        else if (isFileBody(req.body)) {
          const b = req.body;
          if (b.length === 0) r.end();
          else {
            createReadStream(b.file, { start: b.start, end: b.start + b.length - 1 }).on("error", (e) => r.destroy(e))
              .pipe(r);
          }
        } else {
          Readable.fromWeb(req.body as import("node:stream/web").ReadableStream).on("error", (e) => r.destroy(e)).pipe(
            r,
          );
        }
      });
    },
    close() {
      httpsAgent.destroy();
      httpAgent.destroy();
    },
  };
}

/**
 * The default transport factory: web fetch when no TLS setting is needed, `Deno.createHttpClient` for CAs and
 * client certificates under Deno, and `node:https` otherwise (skip-verify, or Bun/Node).
 *
 * @param tls The host's TLS settings.
 * @returns A transport.
 *
 * @example Usage
 * ```ts
 * import { defaultTransport } from "./transport.ts";
 * const t = defaultTransport({});
 * t.close();
 * ```
 */
export function defaultTransport(tls: TlsSettings): HttpTransport {
  return withBadPorts(fetchFirst(tls), tls);
}

/**
 * The ports the fetch standard blocks ("bad ports", refused by Deno's and browsers' fetch): a registry may well
 * listen on one (6000, 6666, 10080 …), so requests to them go through node:http instead.
 */
const BAD_PORTS = new Set([
  1,
  7,
  9,
  11,
  13,
  15,
  17,
  19,
  20,
  21,
  22,
  23,
  25,
  37,
  42,
  43,
  53,
  69,
  77,
  79,
  87,
  95,
  101,
  102,
  103,
  104,
  109,
  110,
  111,
  113,
  115,
  117,
  119,
  123,
  135,
  137,
  139,
  143,
  161,
  179,
  389,
  427,
  465,
  512,
  513,
  514,
  515,
  526,
  530,
  531,
  532,
  540,
  548,
  554,
  556,
  563,
  587,
  601,
  636,
  989,
  990,
  993,
  995,
  1719,
  1720,
  1723,
  2049,
  3659,
  4045,
  4190,
  5060,
  5061,
  6000,
  6566,
  6665,
  6666,
  6667,
  6668,
  6669,
  6679,
  6697,
  10080,
]);

/** `t`, except that requests to a fetch-blocked port use a node:http transport (made on first need). */
function withBadPorts(t: HttpTransport, tls: TlsSettings): HttpTransport {
  let node: HttpTransport | undefined;
  return {
    send(req) {
      const port = Number(new URL(req.url).port);
      if (!BAD_PORTS.has(port)) return t.send(req);
      node ??= nodeTransport(tls);
      return node.send(req);
    },
    close() {
      t.close();
      node?.close();
    },
  };
}

function fetchFirst(tls: TlsSettings): HttpTransport {
  const custom = tls.caCerts?.length || tls.cert || tls.key;
  if (!custom && !tls.insecureSkipVerify) return fetchTransport();
  const deno = (globalThis as { Deno?: DenoLike }).Deno;
  if (!tls.insecureSkipVerify && deno?.createHttpClient) {
    const opts: { caCerts?: string[]; cert?: string; key?: string } = {};
    if (tls.caCerts?.length) opts.caCerts = tls.caCerts;
    if (tls.cert) opts.cert = tls.cert;
    if (tls.key) opts.key = tls.key;
    return fetchTransport(deno.createHttpClient(opts));
  }
  return nodeTransport(tls);
}

/**
 * A transport over `node:http`/`node:https` (any runtime with Node compatibility).
 *
 * @param tls TLS settings.
 * @returns A transport.
 *
 * @example Usage
 * ```ts
 * import { nodeHttpTransport } from "./transport.ts";
 * nodeHttpTransport({ insecureSkipVerify: true }).close();
 * ```
 */
export function nodeHttpTransport(tls: TlsSettings): HttpTransport {
  return nodeTransport(tls);
}
