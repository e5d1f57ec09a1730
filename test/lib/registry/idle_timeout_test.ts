/**
 * The registry client's idle timeout against real loopback TCP servers that stall: one that accepts connections
 * and never answers, one that answers the ping but not the manifest, one that sends headers and part of a body
 * and then nothing. Stalls are retried like dropped connections and fail naming the registry and the request.
 */
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import {
  createRegistryClient,
  fetchManifest,
  openBlob,
  parseReference,
  type RegistryOptions,
} from "../../../lib/registry/mod.ts";
import { RegistryError } from "../../../lib/registry/errors.ts";
import { sha256 } from "../../../lib/util/digest.ts";

/** What the server does with one request: answer (optionally only part of the body, then stall), or stall. */
type Behaviour =
  | { kind: "answer"; status?: number; headers?: Record<string, string>; body: Uint8Array; sendOnly?: number }
  | { kind: "stall" };

interface StallServer {
  host: string;
  /** Requests seen, `METHOD path`. */
  log: string[];
  stop(): Promise<void>;
}

/**
 * A raw HTTP/1.1 server on 127.0.0.1 (Deno.listen): one request per connection, `route` decides each answer from
 * the request line and headers and how many times that path was asked for before.
 */
function startStallServer(
  route: (req: { method: string; path: string; headers: Record<string, string> }, n: number) => Behaviour,
): StallServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const log: string[] = [];
  const counts = new Map<string, number>();
  const handle = async (conn: Deno.Conn) => {
    conns.add(conn);
    try {
      let head = "";
      const buf = new Uint8Array(4096);
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) return;
        head += new TextDecoder().decode(buf.subarray(0, n));
        if (head.length > 65536) return; // not HTTP (e.g. a TLS hello): ignore it, never answer
      }
      const [requestLine, ...lines] = head.split("\r\n\r\n")[0]!.split("\r\n");
      const [method = "", path = ""] = requestLine!.split(" ");
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(":");
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const n = counts.get(path) ?? 0;
      counts.set(path, n + 1);
      log.push(`${method} ${path}`);
      const b = route({ method, path, headers }, n);
      if (b.kind === "stall") return await new Promise(() => {}); // the connection is closed by stop()
      const extra = Object.entries(b.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      await conn.write(
        new TextEncoder().encode(
          `HTTP/1.1 ${b.status ?? 200} X\r\ncontent-length: ${b.body.byteLength}\r\nconnection: close\r\n${extra}\r\n`,
        ),
      );
      await conn.write(b.body.subarray(0, b.sendOnly ?? b.body.byteLength));
      if (b.sendOnly !== undefined) return await new Promise(() => {});
    } catch {
      // closed by stop() or by the client giving up
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) void handle(conn);
  })().catch(() => {});
  const addr = listener.addr as Deno.NetAddr;
  return {
    host: `127.0.0.1:${addr.port}`,
    log,
    async stop() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await accepting;
    },
  };
}

const enc = (s: string) => new TextEncoder().encode(s);
const ok = (body: string | Uint8Array, headers: Record<string, string> = {}): Behaviour => ({
  kind: "answer",
  body: typeof body === "string" ? enc(body) : body,
  headers,
});
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${"0".repeat(64)}`, size: 2 },
  layers: [],
});
const MANIFEST_HEADERS = { "content-type": "application/vnd.oci.image.manifest.v1+json" };

function options(server: StallServer): RegistryOptions {
  // Short timeout and backoff; two retries (three attempts) for every request.
  return { insecureRegistries: [server.host], idleTimeoutMs: 300, imageDownloadRetry: 2, retryBaseDelayMs: 5 };
}

async function withServer(route: Parameters<typeof startStallServer>[0], fn: (s: StallServer) => Promise<void>) {
  const server = startStallServer(route);
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

Deno.test("fetchManifest() from a registry that never answers the manifest GET fails after the idle timeout", () =>
  withServer((req) => req.path === "/v2/" ? ok("{}") : { kind: "stall" }, async (server) => {
    const t0 = performance.now();
    const e = await assertRejects(() => fetchManifest(`${server.host}/t/app:latest`, options(server)), RegistryError);
    assertEquals(
      e.message,
      `Cannot pull manifest latest on ${server.host}/t/app: network error: the registry stalled: no data for 300 ms waiting for the response to GET /v2/t/app/manifests/latest`,
    );
    assert(e.temporary);
    // Retried like a dropped connection: three attempts.
    assertEquals(server.log.filter((l) => l.includes("/manifests/")).length, 3, server.log.join("\n"));
    // The defect was a hang: bound it generously (three 300 ms timeouts take ~1 s; the bound is 10 times that).
    assert(performance.now() - t0 < 10_000);
  }));

Deno.test("fetchManifest() from a server that accepts connections and never answers fails naming the registry", () =>
  withServer(() => ({ kind: "stall" }), async (server) => {
    const e = await assertRejects(() => fetchManifest(`${server.host}/t/app:latest`, options(server)), RegistryError);
    assertEquals(
      e.message,
      `Cannot reach the registry on ${server.host}: network error: the registry stalled: no data for 300 ms waiting for the response to GET /v2/`,
    );
  }));

Deno.test("fetchManifest() whose body stalls after the headers asks again, then fails naming the request", () =>
  withServer(
    (req) =>
      req.path === "/v2/" ? ok("{}") : { kind: "answer", body: enc(MANIFEST), headers: MANIFEST_HEADERS, sendOnly: 10 },
    async (server) => {
      const e = await assertRejects(
        () => fetchManifest(`${server.host}/t/app:latest`, options(server)),
        RegistryError,
      );
      assertEquals(
        e.message,
        `Cannot pull manifest latest on ${server.host}/t/app: network error: the registry stalled: no data for 300 ms in the middle of the response body of GET /v2/t/app/manifests/latest`,
      );
      assertEquals(server.log.filter((l) => l.includes("/manifests/")).length, 3, server.log.join("\n"));
    },
  ));

Deno.test("fetchManifest() whose body stalls once gets it on the next attempt", () =>
  withServer(
    (req, n) =>
      req.path === "/v2/"
        ? ok("{}")
        : { kind: "answer", body: enc(MANIFEST), headers: MANIFEST_HEADERS, ...(n === 0 ? { sendOnly: 10 } : {}) },
    async (server) => {
      const m = await fetchManifest(`${server.host}/t/app:latest`, options(server));
      assertEquals(new TextDecoder().decode(m.raw), MANIFEST);
    },
  ));

Deno.test("openBlob() resumes a blob download that stalls mid-body with a Range request", async () => {
  const blob = new Uint8Array(200_000).map((_, i) => (i * 7) % 251);
  const digest = sha256(blob);
  await withServer((req, n) => {
    if (req.path === "/v2/") return ok("{}");
    if (n === 0) return { kind: "answer", body: blob, sendOnly: 50_000 };
    const from = Number(/bytes=(\d+)-/.exec(req.headers["range"] ?? "")?.[1] ?? 0);
    return {
      kind: "answer",
      status: 206,
      body: blob.subarray(from),
      headers: { "content-range": `bytes ${from}-${blob.byteLength - 1}/${blob.byteLength}` },
    };
  }, async (server) => {
    const client = createRegistryClient("pull", options(server));
    try {
      const ref = parseReference(`${server.host}/t/app:latest`);
      const s = await openBlob(ref, { digest, size: blob.byteLength }, { client });
      const got = new Uint8Array(await new Response(s).arrayBuffer());
      assertEquals(got.byteLength, blob.byteLength);
      assertEquals(sha256(got), digest);
      assertEquals(server.log.filter((l) => l.includes("/blobs/")).length, 2, server.log.join("\n"));
    } finally {
      client.close();
    }
  });
});
