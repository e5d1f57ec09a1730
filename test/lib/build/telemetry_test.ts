/**
 * OpenTelemetry traces (issue 18 §3): a loopback OTLP/HTTP receiver (it speaks the OTLP JSON protocol; no collector
 * runs here) gets one trace per build with spans for the stages, steps, base extraction, snapshot, compression and
 * the push; no build-arg value, secret or RUN output is in it. And the CLI takes the endpoint from the environment.
 */
import http from "node:http";
import { join } from "node:path";
import { build } from "../../../lib/build/build.ts";
import { REPO_ROOT, skipUnless } from "../../fixtures/tools.ts";
import { startBusyboxRegistry } from "../../fixtures/busybox_image.ts";
import { assert, assertEquals } from "../../assert.ts";
import { makeContext } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("telemetry tests", "busybox", "docker-registry", "umoci", "skopeo", "root");

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status: { code: number };
}

async function receiver(): Promise<
  { url: string; bodies: { path: string; body: string; type: string }[]; stop(): Promise<void> }
> {
  const bodies: { path: string; body: string; type: string }[] = [];
  const srv = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => body += c);
    req.on("end", () => {
      bodies.push({ path: req.url ?? "", body, type: String(req.headers["content-type"]) });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  return { url, bodies, stop: () => new Promise<void>((r) => srv.close(() => r())) };
}

Deno.test({
  name: "build() sends one OTLP trace: stages, steps, base, snapshot, compression, push; no secret or arg value",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await startBusyboxRegistry();
    const rx = await receiver();
    try {
      const ctx = makeContext({
        "f": "file\n",
        "Dockerfile": `FROM ${b.ref} AS base\nARG TOKEN=default-arg-value\nRUN --mount=type=secret,id=tok ` +
          `cat /run/secrets/tok > /dev/null && echo "$TOKEN" > /t && printf 'run-%s-line\\n' output\nCOPY f /f\n`,
      });
      await build({
        context: ctx,
        buildArgs: { TOKEN: "s3cr3t-build-arg" },
        secrets: [{ id: "tok", env: "TOK" }],
        secretEnv: { TOK: "the-secret-value" },
        workDir: join(tempDir("kiln-otel-"), "w"),
        registry: { insecureRegistries: [b.registry.host] },
        outputs: { destinations: [`${b.registry.host}/otel/app:1`] },
      }, { telemetry: { endpoint: `${rx.url}/v1/traces`, headers: { "x-api-key": "k" } } });
      assertEquals(rx.bodies.length, 1);
      const { path, body, type } = rx.bodies[0]!;
      assertEquals([path, type], ["/v1/traces", "application/json"]);
      for (const secret of ["s3cr3t-build-arg", "default-arg-value", "the-secret-value", "run-output-line"]) {
        assert(!body.includes(secret), `${secret} was exported`);
      }
      const req = JSON.parse(body);
      const rs = req.resourceSpans[0];
      assertEquals(rs.resource.attributes[0], { key: "service.name", value: { stringValue: "kiln" } });
      const spans: OtlpSpan[] = rs.scopeSpans[0].spans;
      assertEquals(new Set(spans.map((s) => s.traceId)).size, 1, "one trace");
      assert(/^[0-9a-f]{32}$/.test(spans[0]!.traceId) && spans.every((s) => /^[0-9a-f]{16}$/.test(s.spanId)));
      const byId = new Map(spans.map((s) => [s.spanId, s]));
      const root = spans.filter((s) => !s.parentSpanId);
      assertEquals(root.map((s) => s.name), ["kiln build"]);
      for (const s of spans) {
        if (s.parentSpanId) assert(byId.has(s.parentSpanId), `${s.name}: unknown parent`);
        assert(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano), `${s.name} ends before it starts`);
        assertEquals(s.status.code, 1);
      }
      const names = spans.map((s) => s.name);
      for (
        const n of [
          "stage base",
          "step 1/3",
          "step 2/3",
          "step 3/3",
          "pull and extract base",
          "snapshot",
          "compress layer",
          "push",
        ]
      ) {
        assert(names.includes(n), `no span ${n}: ${names.join(", ")}`);
      }
      const attr = (s: OtlpSpan, k: string) => s.attributes.find((a) => a.key === k)?.value;
      const step1 = spans.find((s) => s.name === "step 1/3")!;
      assertEquals(attr(step1, "kiln.step.instruction"), { stringValue: "ARG TOKEN" });
      assertEquals(byId.get(step1.parentSpanId!)!.name, "stage base");
      const push = spans.find((s) => s.name === "push")!;
      assert(Number((attr(push, "kiln.push.uploaded_bytes") as { intValue: string }).intValue) > 0);
      const compress = spans.find((s) => s.name === "compress layer")!;
      assert(byId.get(compress.parentSpanId!)!.name.startsWith("step "), "compression is inside its step");
    } finally {
      await rx.stop();
      await b.stop();
    }
  },
});

Deno.test({
  name: "kiln build exports its trace to OTEL_EXPORTER_OTLP_ENDPOINT (or KANIKO_TELEMETRY_ENDPOINT); a dead one warns",
  ignore,
  sanitizeResources: false,
  async fn() {
    const rx = await receiver();
    try {
      const ctx = makeContext({ "Dockerfile": "FROM scratch\nENV A=1\n" });
      for (const env of [{ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url }, { KANIKO_TELEMETRY_ENDPOINT: `${rx.url}/` }]) {
        const r = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", join(REPO_ROOT, "cli/main.ts"), "build", "-c", ctx, "--no-push", "-v", "warn"],
          env: { ...env, OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20x" },
          stdout: "null",
          stderr: "piped",
        }).output();
        assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
      }
      assertEquals(rx.bodies.map((x) => x.path), ["/v1/traces", "/v1/traces"]);
      const dead = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(REPO_ROOT, "cli/main.ts"), "build", "-c", ctx, "--no-push", "-v", "warn"],
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" },
        stdout: "null",
        stderr: "piped",
      }).output();
      assertEquals(dead.code, 0, "a collector that is down does not fail the build");
      assert(new TextDecoder().decode(dead.stderr).includes("Cannot export the build's trace"));
    } finally {
      await rx.stop();
    }
  },
});

Deno.test("a trace of a build for several platforms keeps each platform's stages and steps apart", async () => {
  const { startBuildTrace } = await import("../../../lib/executor/_telemetry.ts");
  const { nullLogger } = await import("../../../lib/util/mod.ts");
  const rx = await receiver();
  try {
    const trace = startBuildTrace({ endpoint: `${rx.url}/v1/traces` }, nullLogger);
    for (const platform of ["linux/amd64", "linux/arm64"]) {
      trace.event({ type: "stage", stage: 0, base: "busybox", platform });
    }
    for (const platform of ["linux/amd64", "linux/arm64"]) {
      trace.event({ type: "step-start", stage: 0, step: 1, total: 1, instruction: "RUN make", line: 2, platform });
    }
    for (const platform of ["linux/arm64", "linux/amd64"]) {
      trace.event({ type: "step-done", stage: 0, step: 1, total: 1, instruction: "RUN make", durationMs: 5, platform });
    }
    await trace.finish();
    const spans: OtlpSpan[] = JSON.parse(rx.bodies[0]!.body).resourceSpans[0].scopeSpans[0].spans;
    const stages = spans.filter((s) => s.name.startsWith("stage "));
    assertEquals(stages.map((s) => s.name).sort(), ["stage 0 (linux/amd64)", "stage 0 (linux/arm64)"]);
    const steps = spans.filter((s) => s.name === "step 1/1");
    assertEquals(steps.length, 2);
    assertEquals(new Set(steps.map((s) => s.parentSpanId)), new Set(stages.map((s) => s.spanId)));
    for (const s of [...stages, ...steps]) assert(s.endTimeUnixNano !== "0" && s.endTimeUnixNano !== undefined);
  } finally {
    await rx.stop();
  }
});
