/**
 * Private: OpenTelemetry traces of a build over OTLP/HTTP JSON (`BuildRunOptions.telemetry`; the CLI sets it from
 * `OTEL_EXPORTER_OTLP_ENDPOINT` and the kaniko fork's `KANIKO_TELEMETRY_ENDPOINT`).
 *
 * One trace per build: a root span `kiln build`, a span per stage, per step, per base-image extraction, per
 * snapshot and layer compression, per output (registry push, tarball, layout), with sizes, layer digests and cache
 * hits as attributes. Spans are made from the build's progress events and sent in one request when the build ends;
 * a collector that is down or slow is a warning, never a failed build.
 *
 * What is never exported: build-arg values (an `ARG` step is exported as `ARG NAME…`, without defaults), secrets,
 * credentials, RUN output. Instructions are exported as written in the Dockerfile (unexpanded).
 *
 * Why not the OpenTelemetry JS SDK: kiln needs a few spans sent once; the OTLP/HTTP JSON encoding is a documented,
 * stable format (opentelemetry-proto's JSON mapping), and the SDK with its exporters would be several packages of
 * dependencies for it.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../util/mod.ts";
import { VERSION } from "../version.ts";
import type { BuildProgressEvent, TelemetryOptions } from "./types.ts";

type AttrValue = string | number | boolean;

interface Span {
  spanId: string;
  parentSpanId?: string;
  name: string;
  start: bigint;
  end?: bigint;
  attributes: Record<string, AttrValue>;
  error?: string;
}

/** Collects a build's spans from its progress events; `finish` sends them. */
export interface BuildTrace {
  event(e: BuildProgressEvent): void;
  /** Ends the root span (with the error, if the build failed) and sends the trace. */
  finish(error?: unknown): Promise<void>;
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

/** `ARG NAME=value …` without the values: build-arg values are never exported. */
function safeInstruction(text: string): string {
  const m = /^\s*ARG\s+(.*)$/is.exec(text);
  if (!m) return text;
  const names = m[1]!.split(/\s+/).filter(Boolean).map((a) => a.split("=")[0]);
  return `ARG ${names.join(" ")}`;
}

/**
 * Starts a trace.
 *
 * @param options Endpoint, headers, timeout and root-span attributes.
 * @param log Where export failures are reported (warn).
 * @returns The collector.
 */
export function startBuildTrace(options: TelemetryOptions, log: Logger): BuildTrace {
  const traceId = hex(16);
  // Nanoseconds since the epoch, as bigints (they do not fit a double), from the monotonic clock.
  const perfNs = () => BigInt(Math.round(performance.now() * 1e6));
  const origin = BigInt(Date.now()) * 1_000_000n - perfNs();
  const now = () => origin + perfNs();
  const root: Span = {
    spanId: hex(8),
    name: "kiln build",
    start: now(),
    attributes: { ...(options.attributes ?? {}) },
  };
  const spans: Span[] = [root];
  const stages = new Map<string, Span>(); // by platform and stage index
  const steps = new Map<string, Span>(); // the running step of each stage
  const pushed = { blobs: 0, uploaded: 0, bytes: 0 };
  const child = (parent: Span, name: string, start: bigint, attributes: Record<string, AttrValue> = {}): Span => {
    const s: Span = { spanId: hex(8), parentSpanId: parent.spanId, name, start, attributes };
    spans.push(s);
    return s;
  };
  const ms = (d: number) => BigInt(Math.round(d * 1e6));
  return {
    event(e) {
      const t = now();
      // Stages of a build for several platforms are told apart by their platform.
      const key = "stage" in e ? `${"platform" in e ? e.platform ?? "" : ""}|${e.stage}` : "";
      if (e.type === "stage") {
        stages.set(
          key,
          child(root, `stage ${e.name ?? e.stage}${e.platform ? ` (${e.platform})` : ""}`, t, {
            "kiln.stage": e.stage,
            "kiln.stage.base": e.base,
            ...(e.platform ? { "kiln.platform": e.platform } : {}),
          }),
        );
      } else if (e.type === "step-start") {
        const parent = stages.get(key) ?? root;
        steps.set(
          key,
          child(parent, `step ${e.step}/${e.total}`, t, {
            "kiln.step": e.step,
            "kiln.step.instruction": safeInstruction(e.instruction),
            "kiln.step.line": e.line,
          }),
        );
      } else if (e.type === "step-done") {
        const s = steps.get(key);
        if (s) {
          s.end = t;
          s.attributes["kiln.step.cached"] = e.cached ?? false;
          if (e.layerSize !== undefined) s.attributes["kiln.layer.size"] = e.layerSize;
          if (e.layerDigest) s.attributes["kiln.layer.digest"] = e.layerDigest;
          steps.delete(key);
        }
        const st = stages.get(key);
        if (st) st.end = t; // a stage ends with its last step
      } else if (e.type === "layer") {
        const parent = steps.get(key) ?? stages.get(key) ?? root;
        const writeStart = t - ms(e.writeMs);
        const snap = child(parent, "snapshot", writeStart - ms(e.snapshotMs), { "kiln.layer.entries": e.entries });
        snap.end = writeStart;
        const w = child(parent, "compress layer", writeStart, {
          "kiln.layer.size": e.size,
          "kiln.layer.uncompressed_size": e.uncompressedSize,
          "kiln.layer.digest": e.digest,
        });
        w.end = t;
      } else if (e.type === "base") {
        const parent = steps.get(key) ?? stages.get(key) ?? root;
        const s = child(parent, "pull and extract base", t - ms(e.durationMs), {
          "kiln.base.layers": e.layers,
          "kiln.base.size": e.bytes,
        });
        s.end = t;
      } else if (e.type === "blob") {
        pushed.blobs++;
        if (e.how === "uploaded") {
          pushed.uploaded++;
          pushed.bytes += e.size;
        }
      } else if (e.type === "output-written") {
        const s = child(root, e.kind === "registry" ? "push" : `write ${e.kind}`, t - ms(e.durationMs), {
          "kiln.output.kind": e.kind,
          "kiln.output.target": e.target,
        });
        s.end = t;
        if (e.kind === "registry") {
          s.attributes["kiln.push.blobs"] = pushed.blobs;
          s.attributes["kiln.push.uploaded_blobs"] = pushed.uploaded;
          s.attributes["kiln.push.uploaded_bytes"] = pushed.bytes;
        }
      }
    },
    async finish(error) {
      const end = now();
      root.end = end;
      if (error !== undefined) root.error = error instanceof Error ? error.message.split("\n")[0]! : String(error);
      for (const s of spans) s.end ??= end;
      const body = JSON.stringify({
        resourceSpans: [{
          resource: { attributes: otlpAttributes({ "service.name": options.serviceName ?? "kiln" }) },
          scopeSpans: [{
            scope: { name: "kiln", version: VERSION },
            spans: spans.map((s) => ({
              traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: 1, // SPAN_KIND_INTERNAL
              startTimeUnixNano: String(s.start),
              endTimeUnixNano: String(s.end),
              attributes: otlpAttributes(s.attributes),
              status: s.error === undefined ? { code: 1 } : { code: 2, message: s.error },
            })),
          }],
        }],
      });
      try {
        const res = await fetch(options.endpoint, {
          method: "POST",
          headers: { "content-type": "application/json", ...(options.headers ?? {}) },
          body,
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
        await res.body?.cancel();
        if (!res.ok) log.warn(`Cannot export the build's trace to ${options.endpoint}: HTTP ${res.status}`);
      } catch (e) {
        log.warn(`Cannot export the build's trace to ${options.endpoint}: ${(e as Error).message ?? e}`);
      }
    },
  };
}

function otlpAttributes(attrs: Record<string, AttrValue>): unknown[] {
  return Object.entries(attrs).map(([key, v]) => ({
    key,
    value: typeof v === "boolean"
      ? { boolValue: v }
      : typeof v === "number"
      ? (Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v })
      : { stringValue: v },
  }));
}
