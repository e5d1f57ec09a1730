/**
 * The registry HTTP client: scheme and TLS per host from the transport options, ping, Bearer-token and Basic
 * auth with a token cache per scope, manual redirects (no Authorization across hosts), and retries with
 * exponential backoff on 429 (honouring Retry-After), 5xx and network errors.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { KilnError, type Logger, nullLogger } from "../util/mod.ts";
import { VERSION } from "../version.ts";
import type { AuthConfig } from "./auth.ts";
import { type RegistryDiagnostic, RegistryError } from "./errors.ts";
import type { RegistryOptions } from "./options.ts";
import { registryHost } from "./reference.ts";
import {
  defaultTransport,
  type FileBody,
  type HttpTransport,
  isFileBody,
  type TlsSettings,
  type TransportRequest,
} from "./transport.ts";

/** Whether a client pulls or pushes (selects `--insecure` vs `--insecure-pull` etc.). */
export type ClientMode = "pull" | "push";

/** A request through {@linkcode RegistryClient.request}. */
export interface ClientRequest {
  /** HTTP method. */
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
  /** Path below the registry (`/v2/…`) or an absolute URL (upload locations). */
  path: string;
  /** Extra headers. */
  headers?: Record<string, string>;
  /**
   * Body, or a function returning a fresh body per attempt (retries need one): a stream, or a file's bytes
   * ({@linkcode FileBody}: sent by the runtime without passing through JavaScript).
   */
  body?: Uint8Array | (() => Promise<ReadableStream<Uint8Array> | FileBody>);
  /** Repository the request is about (for scope and errors). */
  repository?: string;
  /** Actions needed on `repository`, e.g. `["pull"]` or `["pull", "push"]`. */
  actions?: string[];
  /** Extra scopes, e.g. `repository:other:pull` for cross-repository mounts. */
  extraScopes?: string[];
  /** Statuses that count as success. */
  expect: number[];
  /** What we are doing, for messages: `pull manifest latest`. */
  action: string;
  /** Disable retries (non-idempotent requests whose body cannot be resent). */
  noRetry?: boolean;
  /** Give the failed response to the caller instead of throwing for these statuses. */
  passStatuses?: number[];
}

/** A client for one registry operation; holds connections, ping results and tokens. */
export interface RegistryClient {
  /** The mode (pull or push). */
  readonly mode: ClientMode;
  /** Sends a request to `registry`, authenticating and retrying as needed; throws RegistryError. */
  request(registry: string, req: ClientRequest): Promise<Response>;
  /** Base URL (`https://host`) of a registry after ping. */
  baseUrl(registry: string): Promise<string>;
  /** Waits `ms` (respects the signal); exposed for callers that resume transfers. */
  sleep(ms: number): Promise<void>;
  /** Retries allowed per request. */
  readonly retries: number;
  /** Backoff before retry number `attempt` (0-based). */
  backoff(attempt: number): number;
  /** The logger. */
  readonly log: Logger;
  /** Releases connections. */
  close(): void;
}

interface Challenge {
  scheme: "bearer" | "basic" | "none";
  realm?: string;
  service?: string;
  scope?: string;
}

interface HostState {
  base: string;
  transport: HttpTransport;
  challenge: Challenge;
}

/**
 * Parses a `WWW-Authenticate` header (first challenge).
 *
 * @param header Header value.
 * @returns Scheme and parameters.
 *
 * @example Usage
 * ```ts
 * import { parseChallenge } from "./client.ts";
 * const c = parseChallenge('Bearer realm="https://a/token",service="r",scope="repository:x:pull"');
 * console.assert(c.realm === "https://a/token" && c.scope === "repository:x:pull");
 * ```
 */
export function parseChallenge(
  header: string | null,
): { scheme: string; realm?: string; service?: string; scope?: string } {
  if (!header) return { scheme: "none" };
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return { scheme: "none" };
  const out: { scheme: string; realm?: string; service?: string; scope?: string } = { scheme: m[1]!.toLowerCase() };
  const re = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const p of m[2]!.matchAll(re)) {
    const k = p[1]!.toLowerCase();
    const v = (p[2] ?? p[3] ?? "").replace(/\\(.)/g, "$1");
    if (k === "realm" || k === "service" || k === "scope") out[k] = v;
  }
  return out;
}

function hostMatches(list: string[] | undefined, host: string, registry: string): boolean {
  return !!list?.some((h) => {
    const x = h.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "").toLowerCase();
    return x === host || x === registry;
  });
}

async function errorBody(res: Response): Promise<RegistryDiagnostic[]> {
  try {
    const text = await res.text();
    const j = JSON.parse(text.slice(0, 65536)) as { errors?: { code?: string; message?: string }[] };
    return (j.errors ?? []).filter((e) => e.code).map((e) => {
      const d: RegistryDiagnostic = { code: String(e.code) };
      if (e.message) d.message = String(e.message).slice(0, 200);
      return d;
    });
  } catch {
    return [];
  }
}

function retryAfterMs(res: Response): number | undefined {
  const h = res.headers.get("retry-after");
  if (!h) return undefined;
  if (/^\d+$/.test(h.trim())) return Number(h.trim()) * 1000;
  const t = Date.parse(h);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

function safeUrl(u: string): string {
  const i = u.indexOf("?");
  return i < 0 ? u : u.slice(0, i) + "?…";
}

/** A request that received nothing for `idleTimeoutMs`: the registry accepted it and then stalled. */
export class IdleTimeoutError extends Error {
  /**
   * Creates the error.
   *
   * @param ms The idle timeout.
   * @param request `METHOD path` of the stalled request.
   * @param phase What was awaited.
   */
  constructor(ms: number, request: string, phase: "response" | "body") {
    super(
      `the registry stalled: no data for ${formatMs(ms)} ${
        phase === "response" ? "waiting for the response to" : "in the middle of the response body of"
      } ${request}`,
    );
    this.name = "IdleTimeoutError";
  }
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${+(ms / 1000).toFixed(1)} s`;
}

/** The idle timer of one request: armed while kiln waits for the registry, aborting the request when it fires. */
interface IdleWatch {
  /** Aborted by the outer signal, or by the timer. */
  signal: AbortSignal;
  /** True once the timer fired. */
  readonly fired: boolean;
  /** (Re)starts the timer, with `extraMs` more this time. */
  arm(extraMs?: number): void;
  /** Stops the timer (kiln is busy, not waiting). */
  disarm(): void;
}

function idleWatch(ms: number, outer: AbortSignal | undefined, onFire: () => Error): IdleWatch {
  const ac = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fired = false;
  return {
    // AbortSignal.any holds its sources weakly: no listener left on the build's signal per request.
    signal: outer ? AbortSignal.any([outer, ac.signal]) : ac.signal,
    get fired() {
      return fired;
    },
    arm(extraMs = 0) {
      clearTimeout(timer);
      timer = setTimeout(() => {
        fired = true;
        ac.abort(onFire());
      }, ms + extraMs);
    },
    disarm() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** A request body that restarts the timer after each chunk the transport takes, and stops it while kiln reads. */
function watchedUpload(body: ReadableStream<Uint8Array>, w: IdleWatch): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      w.disarm();
      try {
        const r = await reader.read();
        if (r.done) ctl.close();
        else ctl.enqueue(r.value);
      } finally {
        w.arm();
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/**
 * The slowest upload a file body is given time for, in bytes per ms (64 KiB/s): its idle timer is the idle timeout
 * plus its length at this rate (a 64 MiB layer: 17 minutes more), since kiln cannot see the runtime send it.
 */
const FILE_UPLOAD_FLOOR_BYTES_PER_MS = 64;

/** Statuses whose responses have no body (a Response with one cannot be constructed). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * The response with a body whose every read must see a byte within the idle timeout; a stall errors the body with
 * `stalled()` (a KilnError: callers report it as is, or retry it as they retry a dropped connection).
 */
function watchedResponse(res: Response, w: IdleWatch, stalled: () => Error): Response {
  if (!res.body || NULL_BODY.has(res.status)) return res;
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      w.arm();
      try {
        const r = await reader.read();
        if (r.done) ctl.close();
        else ctl.enqueue(r.value);
      } catch (e) {
        ctl.error(w.fired ? stalled() : e);
      } finally {
        w.disarm();
      }
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? "")}` : String(err);
}

/** An HTTPS request answered in plain HTTP: rustls says InvalidContentType, OpenSSL "wrong version number". */
function answeredPlainHttp(err: unknown): boolean {
  return /InvalidContentType|wrong version number/i.test(errorText(err));
}

function describeNetworkError(err: unknown, host?: string, mode?: ClientMode): string {
  if (err instanceof IdleTimeoutError) return err.message;
  const msg = errorText(err);
  if (host && answeredPlainHttp(err)) {
    const all = mode === "push" ? "--insecure" : "--insecure-pull";
    return `the registry answers plain HTTP, not HTTPS: allow that with --insecure-registry ${host} (or ${all})`;
  }
  if (/certificate|self.signed|unknown ?issuer|UnknownIssuer|verify/i.test(msg)) {
    return "TLS certificate verification failed (use --registry-certificate or --skip-tls-verify)";
  }
  if (/ECONNREFUSED|refused/i.test(msg)) return "connection refused";
  if (/reset|ECONNRESET|closed|EPIPE|aborted/i.test(msg)) return "connection reset";
  if (/ENOTFOUND|dns|lookup/i.test(msg)) return "host not found";
  if (/timed? ?out/i.test(msg)) return "timed out";
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 200);
}

/**
 * Creates a registry client for pulls or pushes.
 *
 * @param mode `pull` or `push` (which insecure / skip-verify flags apply).
 * @param opts Transport options, keychain, logger.
 * @returns The client.
 *
 * @example Usage
 * ```ts ignore
 * const client = createRegistryClient("pull", { insecureRegistries: ["127.0.0.1:5000"] });
 * const res = await client.request("127.0.0.1:5000", { method: "GET", path: "/v2/", expect: [200], action: "ping" });
 * client.close();
 * ```
 */
export function createRegistryClient(mode: ClientMode, opts: RegistryOptions = {}): RegistryClient {
  const log = opts.logger ?? nullLogger;
  const hosts = new Map<string, Promise<HostState>>();
  const tokens = new Map<string, { token: Promise<string>; expires: number }>();
  const creds = new Map<string, Promise<AuthConfig | undefined>>();
  const retries = Math.max(0, mode === "push" ? opts.pushRetry ?? 3 : opts.imageDownloadRetry ?? 3);
  const base = opts.retryBaseDelayMs ?? 1000;
  const ua = opts.userAgent ?? `kiln/${VERSION}`;

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      const t = setTimeout(() => {
        opts.signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(opts.signal!.reason);
      };
      opts.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
  const backoff = (attempt: number) => Math.min(base * 2 ** attempt, 30_000);
  const idleMs = opts.idleTimeoutMs ?? 60_000;

  /**
   * One transport request under the idle timeout: throws {@linkcode IdleTimeoutError} (retried like a dropped
   * connection) when no response comes, and returns a response whose body errors with a temporary RegistryError
   * when it stalls.
   */
  async function send(
    transport: HttpTransport,
    req: Omit<TransportRequest, "signal">,
    what: { registry: string; repository?: string; action: string },
  ): Promise<Response> {
    const u = new URL(req.url);
    const name = `${req.method} ${u.pathname}`;
    const w = idleWatch(idleMs, opts.signal, () => new IdleTimeoutError(idleMs, name, "response"));
    const body = req.body instanceof ReadableStream ? watchedUpload(req.body, w) : req.body;
    // A file body goes out without kiln seeing its progress: the timer allows it the time of a slow link on top.
    w.arm(isFileBody(req.body) ? Math.ceil(req.body.length / FILE_UPLOAD_FLOOR_BYTES_PER_MS) : 0);
    let res: Response;
    try {
      res = await transport.send({ ...req, ...(body ? { body } : {}), signal: w.signal });
    } catch (e) {
      if (w.fired && !opts.signal?.aborted) throw new IdleTimeoutError(idleMs, name, "response");
      throw e;
    } finally {
      w.disarm();
    }
    return watchedResponse(res, w, () =>
      new RegistryError({
        registry: what.registry,
        ...(what.repository !== undefined ? { repository: what.repository } : {}),
        action: what.action,
        status: 0,
        detail: new IdleTimeoutError(idleMs, name, "body").message,
        temporary: true,
      }));
  }

  function credentials(registry: string): Promise<AuthConfig | undefined> {
    let p = creds.get(registry);
    if (!p) {
      p = opts.keychain ? opts.keychain.resolve(registry) : Promise.resolve(undefined);
      creds.set(registry, p);
    }
    return p;
  }

  /** For a 401/403: which credentials were used, or which sources had none (never a secret). */
  async function credentialNote(registry: string): Promise<string> {
    const a = await credentials(registry).catch(() => undefined);
    if (a) return a.source ? `credentials from ${a.source}` : "with the credentials given";
    const tried = opts.keychain?.describe?.() ?? [];
    return tried.length ? `no credentials for ${registry} in ${tried.join(", ")}` : `no credentials for ${registry}`;
  }

  function tlsFor(host: string, registry: string): TlsSettings {
    const tls: TlsSettings = {};
    const skip = (mode === "push" ? opts.skipTlsVerify : opts.skipTlsVerifyPull) ||
      hostMatches(opts.skipTlsVerifyRegistries, host, registry);
    if (skip) tls.insecureSkipVerify = true;
    const ca = Object.entries(opts.registryCertificates ?? {}).find(([h]) => hostMatches([h], host, registry))?.[1];
    if (ca) {
      try {
        tls.caCerts = [readFileSync(ca, "utf8")];
      } catch (err) {
        throw new KilnError(`Cannot read registry certificate ${ca} for ${host}`, { cause: err });
      }
    }
    if (opts.trustedCaCerts?.length) tls.caCerts = [...(tls.caCerts ?? []), ...opts.trustedCaCerts];
    const cc = Object.entries(opts.registryClientCerts ?? {}).find(([h]) => hostMatches([h], host, registry))?.[1];
    if (cc) {
      try {
        tls.cert = readFileSync(cc.cert, "utf8");
        tls.key = readFileSync(cc.key, "utf8");
      } catch (err) {
        throw new KilnError(`Cannot read registry client certificate ${cc.cert},${cc.key} for ${host}`, { cause: err });
      }
    }
    return tls;
  }

  async function ping(registry: string): Promise<HostState> {
    const host = registryHost(registry);
    const insecure = (mode === "push" ? opts.insecure : opts.insecurePull) ||
      hostMatches(opts.insecureRegistries, host, registry);
    const tls = tlsFor(host, registry);
    const schemes = insecure ? ["https", "http"] : ["https"];
    let lastErr: unknown;
    for (const scheme of schemes) {
      const transport = opts.transport
        ? opts.transport(insecure ? { ...tls, insecureSkipVerify: true } : tls)
        : defaultTransport(
          insecure && scheme === "https" ? { ...tls, insecureSkipVerify: true } : tls,
        );
      for (let attempt = 0;; attempt++) {
        try {
          const res = await send(transport, {
            method: "GET",
            url: `${scheme}://${host}/v2/`,
            headers: new Headers({ "user-agent": ua }),
          }, { registry: host, action: "reach the registry" });
          await res.body?.cancel();
          log.trace("registry ping", { registry: host, scheme, status: res.status });
          if (res.status === 200) return { base: `${scheme}://${host}`, transport, challenge: { scheme: "none" } };
          if (res.status === 401) {
            const c = parseChallenge(res.headers.get("www-authenticate"));
            const challenge: Challenge = {
              scheme: c.scheme === "bearer" ? "bearer" : c.scheme === "basic" ? "basic" : "none",
            };
            if (c.realm) challenge.realm = c.realm;
            if (c.service) challenge.service = c.service;
            return { base: `${scheme}://${host}`, transport, challenge };
          }
          if ((res.status === 429 || res.status >= 500) && attempt < retries) {
            await sleep(retryAfterMs(res) ?? backoff(attempt));
            continue;
          }
          // Some registries answer 404 on /v2/ but serve the API; continue without a challenge.
          return { base: `${scheme}://${host}`, transport, challenge: { scheme: "none" } };
        } catch (err) {
          if (opts.signal?.aborted) throw err;
          lastErr = err;
          const desc = describeNetworkError(err, host, mode);
          if (
            attempt < retries && !/TLS|refused/.test(desc) && !answeredPlainHttp(err) &&
            scheme === schemes[schemes.length - 1]
          ) {
            await sleep(backoff(attempt));
            continue;
          }
          break;
        }
      }
      transport.close();
    }
    throw new RegistryError({
      registry: host,
      action: "reach the registry",
      status: 0,
      detail: describeNetworkError(lastErr, host, mode),
      cause: lastErr,
    });
  }

  function hostState(registry: string): Promise<HostState> {
    let p = hosts.get(registry);
    if (!p) {
      p = ping(registry);
      hosts.set(registry, p);
      p.catch(() => hosts.delete(registry));
    }
    return p;
  }

  function fetchToken(registry: string, st: HostState, scopes: string[]): Promise<string> {
    const key = `${registry}|${scopes.join(" ")}`;
    const cached = tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.token;
    // One request per scope even when many transfers start at once.
    const p = requestToken(registry, st, scopes).then(({ token, ttl }) => {
      tokens.set(key, { token: Promise.resolve(token), expires: Date.now() + (ttl - 10) * 1000 });
      return token;
    });
    tokens.set(key, { token: p, expires: Infinity });
    p.catch(() => tokens.delete(key));
    return p;
  }

  async function requestToken(
    registry: string,
    st: HostState,
    scopes: string[],
  ): Promise<{ token: string; ttl: number }> {
    const auth = await credentials(registry);
    if (auth?.registryToken) return { token: auth.registryToken, ttl: 3600 };
    const realm = st.challenge.realm!;
    const host = registryHost(registry);
    let res: Response;
    const tokenTransport = st.transport;
    const url = new URL(realm);
    const sendToken = (init: { method: string; headers: Headers; body?: Uint8Array }) =>
      send(tokenTransport, { url: url.toString(), ...init }, {
        registry: host,
        action: `get a token from ${url.origin}`,
      });
    for (let attempt = 0;; attempt++) {
      try {
        if (auth?.identityToken) {
          const form = new URLSearchParams({
            grant_type: "refresh_token",
            refresh_token: auth.identityToken,
            client_id: "kiln",
            scope: scopes.join(" "),
          });
          if (st.challenge.service) form.set("service", st.challenge.service);
          res = await sendToken({
            method: "POST",
            headers: new Headers({ "content-type": "application/x-www-form-urlencoded", "user-agent": ua }),
            body: new TextEncoder().encode(form.toString()),
          });
        } else {
          if (st.challenge.service) url.searchParams.set("service", st.challenge.service);
          url.searchParams.delete("scope");
          for (const s of scopes) url.searchParams.append("scope", s);
          const headers = new Headers({ "user-agent": ua });
          if (auth?.username !== undefined) {
            headers.set("authorization", `Basic ${btoa(`${auth.username}:${auth.password ?? ""}`)}`);
          }
          res = await sendToken({ method: "GET", headers });
        }
      } catch (err) {
        if (attempt < retries) {
          await sleep(backoff(attempt));
          continue;
        }
        throw new RegistryError({
          registry: host,
          action: "get a token from " + url.origin,
          status: 0,
          detail: describeNetworkError(err),
          cause: err,
        });
      }
      if (res.ok) break;
      const diags = await errorBody(res);
      if ((res.status === 429 || res.status >= 500) && attempt < retries) {
        await sleep(retryAfterMs(res) ?? backoff(attempt));
        continue;
      }
      throw new RegistryError({
        registry: host,
        action: `get a token from ${url.origin}${url.pathname}`,
        status: res.status,
        diagnostics: diags,
        detail: auth
          ? `authentication failed (${await credentialNote(registry)})`
          : `anonymous access refused (${await credentialNote(registry)})`,
      });
    }
    const j = await res.json().catch(() => ({})) as { token?: string; access_token?: string; expires_in?: number };
    const token = j.token ?? j.access_token;
    if (!token) {
      throw new RegistryError({
        registry: host,
        action: "get a token",
        status: res.status,
        detail: "no token in the response",
      });
    }
    const ttl = Math.max(60, j.expires_in ?? 60);
    log.trace("registry token obtained", { registry: host, scope: scopes.join(" ") });
    return { token, ttl };
  }

  async function authorization(registry: string, st: HostState, scopes: string[]): Promise<string | undefined> {
    if (st.challenge.scheme === "bearer") return `Bearer ${await fetchToken(registry, st, scopes)}`;
    if (st.challenge.scheme === "basic") {
      const a = await credentials(registry);
      if (a?.username !== undefined) return `Basic ${btoa(`${a.username}:${a.password ?? ""}`)}`;
      if (a?.registryToken) return `Bearer ${a.registryToken}`;
    }
    return undefined;
  }

  async function request(registry: string, req: ClientRequest): Promise<Response> {
    const host = registryHost(registry);
    const err = (status: number, extra: Partial<ConstructorParameters<typeof RegistryError>[0]> = {}) =>
      new RegistryError({
        registry: host,
        ...(req.repository !== undefined ? { repository: req.repository } : {}),
        action: req.action,
        status,
        ...extra,
      });
    let scopes = [
      ...(req.repository && req.actions?.length ? [`repository:${req.repository}:${req.actions.join(",")}`] : []),
      ...(req.extraScopes ?? []),
    ];
    let reauthed = false;
    for (let attempt = 0;; attempt++) {
      opts.signal?.throwIfAborted();
      const st = await hostState(registry);
      let res: Response;
      try {
        let url = /^https?:\/\//.test(req.path) ? req.path : `${st.base}${req.path}`;
        const authz = await authorization(registry, st, scopes);
        let method: string = req.method;
        let body = typeof req.body === "function" ? await req.body() : req.body;
        for (let hop = 0;; hop++) {
          const headers = new Headers({ "user-agent": ua, ...req.headers });
          const sameHost = new URL(url).host === new URL(st.base).host;
          if (authz && sameHost) headers.set("authorization", authz);
          log.trace("registry request", { method, url: safeUrl(url), attempt });
          res = await send(st.transport, { method, url, headers, ...(body ? { body } : {}) }, {
            registry: host,
            ...(req.repository !== undefined ? { repository: req.repository } : {}),
            action: req.action,
          });
          log.trace("registry response", { method, url: safeUrl(url), status: res.status });
          if (![301, 302, 303, 307, 308].includes(res.status) || !res.headers.get("location")) break;
          if (hop >= 10) throw err(res.status, { detail: "too many redirects" });
          await res.body?.cancel();
          url = new URL(res.headers.get("location")!, url).toString();
          if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
            method = "GET";
            body = undefined;
          }
        }
      } catch (e) {
        // Our own errors (a body that cannot be opened, a bad digest…) are not network errors: no retry.
        if (e instanceof KilnError) throw e;
        if (opts.signal?.aborted) throw opts.signal.reason;
        const detail = describeNetworkError(e, host, mode);
        // Plain HTTP where HTTPS was expected does not change by retrying.
        if (answeredPlainHttp(e)) throw err(0, { detail, cause: e });
        if (!req.noRetry && attempt < retries) {
          log.debug("registry request failed, retrying", { action: req.action, error: detail });
          await sleep(backoff(attempt));
          continue;
        }
        throw err(0, { detail, cause: e, temporary: true });
      }
      if (req.expect.includes(res.status)) return res;
      if (req.passStatuses?.includes(res.status)) return res;
      if (res.status === 401 && !reauthed) {
        const c = parseChallenge(res.headers.get("www-authenticate"));
        await res.body?.cancel();
        reauthed = true;
        if (c.scheme === "bearer" && c.realm) {
          st.challenge = { scheme: "bearer", realm: c.realm, ...(c.service ? { service: c.service } : {}) };
          if (c.scope && !scopes.includes(c.scope)) scopes = [...scopes, ...c.scope.split(" ")];
          for (const k of [...tokens.keys()]) if (k.startsWith(`${registry}|`)) tokens.delete(k);
          attempt--;
          continue;
        }
        if (c.scheme === "basic" && st.challenge.scheme !== "basic") {
          st.challenge = { scheme: "basic" };
          attempt--;
          continue;
        }
        throw err(401, {
          diagnostics: [{ code: "UNAUTHORIZED" }],
          detail: `authentication required (${await credentialNote(registry)})`,
        });
      }
      const diagnostics = req.method === "HEAD" ? [] : await errorBody(res);
      if (req.method === "HEAD") await res.body?.cancel();
      const temporary = res.status === 429 || res.status >= 500 ||
        diagnostics.some((d) => d.code === "TOOMANYREQUESTS");
      if (temporary && !req.noRetry && attempt < retries) {
        const ra = retryAfterMs(res);
        const wait = ra !== undefined ? Math.min(ra, opts.maxRetryAfterMs ?? 60_000) : backoff(attempt);
        log.debug("registry request failed, retrying", { action: req.action, status: res.status, waitMs: wait });
        await sleep(wait);
        continue;
      }
      const denied = res.status === 401 || res.status === 403;
      throw err(res.status, { diagnostics, temporary, ...(denied ? { detail: await credentialNote(registry) } : {}) });
    }
  }

  return {
    mode,
    retries,
    log,
    request,
    sleep,
    backoff,
    baseUrl: async (registry) => (await hostState(registry)).base,
    close() {
      for (const p of hosts.values()) p.then((s) => s.transport.close(), () => {});
      hosts.clear();
    },
  };
}
