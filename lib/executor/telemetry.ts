/**
 * Where a build's OpenTelemetry trace goes, read from the environment the way OpenTelemetry SDKs read it (the trace
 * itself is made and sent by `build()`, see `BuildRunOptions.telemetry`).
 *
 * @module
 */
import type { TelemetryOptions } from "./types.ts";

/**
 * The OTLP traces endpoint from the environment, as OpenTelemetry SDKs read it: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * as is, else `OTEL_EXPORTER_OTLP_ENDPOINT` (or the kaniko fork's `KANIKO_TELEMETRY_ENDPOINT`) plus `/v1/traces`;
 * headers from `OTEL_EXPORTER_OTLP_TRACES_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`, URL-encoded).
 *
 * @param env The environment.
 * @returns The options, or undefined when no endpoint is set.
 *
 * @example Usage
 * ```ts
 * import { telemetryFromEnv } from "./telemetry.ts";
 * const t = telemetryFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_EXPORTER_OTLP_HEADERS: "a=1" });
 * console.assert(t?.endpoint === "http://127.0.0.1:4318/v1/traces" && t.headers?.a === "1");
 * ```
 */
export function telemetryFromEnv(env: Readonly<Record<string, string | undefined>>): TelemetryOptions | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || env.KANIKO_TELEMETRY_ENDPOINT;
  const endpoint = traces || (base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined);
  if (!endpoint) return undefined;
  const headers: Record<string, string> = {};
  for (const kv of (env.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? env.OTEL_EXPORTER_OTLP_HEADERS ?? "").split(",")) {
    const i = kv.indexOf("=");
    if (i > 0) headers[decodeURIComponent(kv.slice(0, i).trim())] = decodeURIComponent(kv.slice(i + 1).trim());
  }
  const serviceName = env.OTEL_SERVICE_NAME;
  return { endpoint, headers, ...(serviceName ? { serviceName } : {}) };
}
