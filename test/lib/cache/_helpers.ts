/**
 * Helpers for the layer-cache store tests: a logger that records what it is told, a registry transport that records
 * every request kiln sends, and small layers.
 *
 * @module
 */
import type { LogFields, Logger, LogLevel } from "../../../lib/util/mod.ts";
import { defaultTransport, type TransportFactory } from "../../../lib/registry/mod.ts";
import { compressedLayer, type Layer, MediaTypes } from "../../../lib/image/mod.ts";
import { sha256 } from "../../../lib/util/mod.ts";

/** One recorded log line. */
export interface LogLine {
  /** Level. */
  level: LogLevel;
  /** Message. */
  msg: string;
  /** Fields. */
  fields?: LogFields;
}

/** A logger recording every line (all levels), with the warnings at hand. */
export function recordingLogger(): Logger & { lines: LogLine[]; warnings(): string[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLevel) => (msg: string, fields?: LogFields) => {
    lines.push({ level, msg, ...(fields ? { fields } : {}) });
  };
  const logger: Logger & { lines: LogLine[]; warnings(): string[] } = {
    lines,
    warnings: () => lines.filter((l) => l.level === "warn").map((l) => l.msg),
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    enabled: () => true,
    with: () => logger,
  };
  return logger;
}

/** A transport factory that records `METHOD /path` of every request sent through it. */
export function countingTransport(): { transport: TransportFactory; requests: string[] } {
  const requests: string[] = [];
  const transport: TransportFactory = (tls) => {
    const t = defaultTransport(tls);
    return {
      send(req) {
        requests.push(`${req.method} ${new URL(req.url).pathname}`);
        return t.send(req);
      },
      close: () => t.close(),
    };
  };
  return { transport, requests };
}

/** An uncompressed layer over `bytes` (digest = diff ID), opened from memory. */
export function bytesLayer(bytes: Uint8Array): Layer {
  return compressedLayer({
    mediaType: MediaTypes.OCI_LAYER,
    digest: sha256(bytes),
    size: bytes.byteLength,
    diffId: sha256(bytes),
    open: () => Promise.resolve(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()),
  });
}

/** All bytes of a stream. */
export async function readBytes(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** A random 64-hex cache key. */
export function randomKey(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");
}
