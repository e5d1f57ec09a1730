/**
 * The layer cache through build(), against a real registry (behind a counting proxy) and a real OCI layout: every
 * key rule of the cache issue, checked by which steps ran and by the image digest — with `--reproducible`, a
 * cached build must give exactly the digest of an uncached build of the same inputs.
 */
import { chmodSync, chownSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BuildOptions, BuildProgressEvent } from "../../../lib/executor/mod.ts";
import { build } from "../../../lib/executor/mod.ts";
import { createLogger } from "../../../lib/util/logger.ts";
import { buildBusyboxLayout } from "../../fixtures/busybox_image.ts";
import { startRegistry, type TestRegistry } from "../../fixtures/registry.ts";
import { type FaultProxy, startFaultProxy } from "../../fixtures/fault_proxy.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { assert, assertEquals } from "../../assert.ts";
import { sandboxSkipReason } from "../sandbox/_helpers.ts";

const ignore = skipUnless("layer cache", "root", "umoci", "docker-registry", "busybox") ||
  sandboxSkipReason() !== undefined;

const DOCKERFILE = [
  "FROM base",
  "ARG A=1",
  "RUN mkdir -p /gen && for i in $(seq 1 200); do echo $i > /gen/f$i; done && echo $A > /gen/a",
  "COPY ctx/ /ctx/",
  "RUN cat /ctx/* > /all && echo $A > /a2",
  // B reaches only the last RUN (declared just before it): changing it misses there alone.
  "ARG B=1",
  "RUN echo $B > /b",
  "",
].join("\n");

interface Run {
  digest: string;
  /** The instructions that ran (not from the cache), in order. */
  ran: string[];
  /** The ones that came from the cache. */
  cached: string[];
  warnings: string[];
}

/** One build of `DOCKERFILE` in `ctx` with a fresh work dir; returns what ran and the digest. */
async function run(ctx: string, base: string, extra: Partial<BuildOptions> = {}): Promise<Run> {
  const ran: string[] = [];
  const cached: string[] = [];
  const warnings: string[] = [];
  const out = tempDir("kiln-cache-out-");
  const result = await build({
    context: ctx,
    dockerfileText: DOCKERFILE,
    outputs: { noPush: true, ociLayoutPath: join(out, "layout") },
    workDir: join(out, "work"),
    buildContexts: { base: `oci-layout://${base}:latest` },
    ...extra,
    layers: { reproducible: true, ...extra.layers },
  }, {
    logger: createLogger({ level: "warn", write: (l) => warnings.push(l) }),
    onProgress: (e: BuildProgressEvent) => {
      if (e.type !== "step-done") return;
      const head = e.instruction.split(" ")[0]!;
      if (head === "ARG") return;
      (e.cached ? cached : ran).push(e.instruction.startsWith("RUN echo $B") ? "RUN b" : e.instruction.slice(0, 12));
    },
  });
  return { digest: result.digest, ran, cached, warnings };
}

function makeCtx(): string {
  const ctx = tempDir("kiln-cache-ctx-");
  const d = join(ctx, "ctx");
  Deno.mkdirSync(d);
  writeFileSync(join(d, "one"), "one\n");
  writeFileSync(join(d, "two"), "two\n");
  return ctx;
}

let base: string | undefined;
function busybox(): string {
  base ??= buildBusyboxLayout(join(tempDir("kiln-cache-base-", { scope: "file" }), "layout"));
  return base;
}

Deno.test({
  name: "build() --cache with an oci: layout: a rebuild runs nothing and gives the uncached digest",
  ignore,
  async fn() {
    const ctx = makeCtx();
    const cacheDir = join(tempDir("kiln-cache-layout-"), "cache");
    const opts = { cache: { repo: `oci:${cacheDir}`, copyLayers: true } };
    const plain = await run(ctx, busybox());
    const first = await run(ctx, busybox(), opts);
    assertEquals(first.cached, []);
    assertEquals(first.digest, plain.digest);
    const second = await run(ctx, busybox(), opts);
    assertEquals(second.ran, []);
    assertEquals(second.cached.length, 4);
    assertEquals(second.digest, plain.digest);
  },
});

Deno.test({
  name: "build() --cache keys: content (same size and mtime), mode and name changes miss; owners and mtimes do not",
  ignore,
  async fn() {
    const ctx = makeCtx();
    const cacheDir = join(tempDir("kiln-cache-layout-"), "cache");
    const opts = { cache: { repo: `oci:${cacheDir}`, copyLayers: true } };
    await run(ctx, busybox(), opts);
    const f = join(ctx, "ctx", "one");
    // Owner and times only: everything hits.
    chownSync(f, 1234, 1234);
    utimesSync(f, new Date(5_000_000), new Date(5_000_000));
    const owners = await run(ctx, busybox(), opts);
    assertEquals(owners.ran, []);
    // Same size, same mtime, other content: the COPY and every later step run, the first RUN does not.
    const st = statSync(f);
    writeFileSync(f, "ONE\n");
    utimesSync(f, st.atime, st.mtime);
    const content = await run(ctx, busybox(), opts);
    assertEquals(content.cached, ["RUN mkdir -p"]);
    assertEquals(content.ran, ["COPY ctx/ /c", "RUN cat /ctx", "RUN b"]);
    const plain = await run(ctx, busybox());
    assertEquals(content.digest, plain.digest);
    // Mode.
    chmodSync(f, 0o600);
    const mode = await run(ctx, busybox(), opts);
    assertEquals(mode.ran[0], "COPY ctx/ /c");
    // Name (a rename with the same content).
    Deno.renameSync(f, join(ctx, "ctx", "uno"));
    const name = await run(ctx, busybox(), opts);
    assertEquals(name.ran[0], "COPY ctx/ /c");
    // A symlink's target (same length), then a type.
    Deno.symlinkSync("uno", join(ctx, "ctx", "l"));
    await run(ctx, busybox(), opts);
    Deno.removeSync(join(ctx, "ctx", "l"));
    Deno.symlinkSync("two", join(ctx, "ctx", "l"));
    const link = await run(ctx, busybox(), opts);
    assertEquals(link.ran[0], "COPY ctx/ /c");
    assertEquals((await run(ctx, busybox(), opts)).ran, [], "and the same again hits");
    Deno.removeSync(join(ctx, "ctx", "l"));
    await run(ctx, busybox(), opts);
    // The file `two` becomes a symlink to a file of the same content and size.
    writeFileSync(join(ctx, "ctx", "dos"), "two\n");
    await run(ctx, busybox(), opts);
    Deno.removeSync(join(ctx, "ctx", "two"));
    Deno.symlinkSync("dos", join(ctx, "ctx", "two"));
    const type = await run(ctx, busybox(), opts);
    assertEquals(type.ran[0], "COPY ctx/ /c");
  },
});

Deno.test({
  name: "build() --cache: a --build-arg change misses only at and after the steps it reaches",
  ignore,
  async fn() {
    const ctx = makeCtx();
    const cacheDir = join(tempDir("kiln-cache-layout-"), "cache");
    const opts = { cache: { repo: `oci:${cacheDir}`, copyLayers: true } };
    await run(ctx, busybox(), opts);
    const b = await run(ctx, busybox(), { ...opts, buildArgs: { B: "2" } });
    assertEquals(b.ran, ["RUN b"]);
    const plain = await run(ctx, busybox(), { buildArgs: { B: "2" } });
    assertEquals(b.digest, plain.digest);
    const a = await run(ctx, busybox(), { ...opts, buildArgs: { A: "2" } });
    assertEquals(a.cached, []);
  },
});

Deno.test({
  name: "build() --cache with a registry: a fully cached rebuild downloads no layer; a dead cache repo is a miss",
  ignore,
  sanitizeResources: false,
  async fn() {
    let registry: TestRegistry | undefined;
    let proxy: FaultProxy | undefined;
    try {
      registry = await startRegistry();
      proxy = await startFaultProxy(registry.host);
      const ctx = makeCtx();
      const opts: Partial<BuildOptions> = {
        cache: { repo: `${proxy.host}/kiln/cache`, copyLayers: true },
        registry: { insecureRegistries: [proxy.host] },
      };
      const first = await run(ctx, busybox(), opts);
      assertEquals(first.cached, []);
      proxy.log.length = 0;
      const second = await run(ctx, busybox(), opts);
      assertEquals(second.ran, []);
      assertEquals(second.digest, first.digest);
      // Only manifests and configs were read: no layer blob (the OCI layout output then streams them, so count GETs
      // before the output: the config blobs are small, layers are the ones over 1 KiB).
      const blobGets = proxy.log.filter((l) => /^GET \/v2\/kiln\/cache\/blobs\//.test(l));
      assert(blobGets.length <= 8, `blob GETs: ${blobGets.join(", ")}`);
      // A cache repo that is down: warnings, every step runs, the same image.
      await proxy.stop();
      proxy = undefined;
      const down = await run(ctx, busybox(), opts);
      assertEquals(down.cached, []);
      assertEquals(down.digest, first.digest);
      assert(down.warnings.some((w) => /cache/i.test(w)), down.warnings.join("\n"));
    } finally {
      await proxy?.stop();
      await registry?.stop();
    }
  },
});

Deno.test({
  name: "build() --cache: two builds sharing one cache at the same time both succeed with the right image",
  ignore,
  async fn() {
    const ctx = makeCtx();
    const cacheDir = join(tempDir("kiln-cache-layout-"), "cache");
    const opts = { cache: { repo: `oci:${cacheDir}`, copyLayers: true } };
    const [x, y] = await Promise.all([
      run(ctx, busybox(), opts),
      run(ctx, busybox(), { ...opts, buildArgs: { B: "3" } }),
    ]);
    assertEquals(x.digest, (await run(ctx, busybox())).digest);
    assertEquals(y.digest, (await run(ctx, busybox(), { buildArgs: { B: "3" } })).digest);
    const again = await run(ctx, busybox(), opts);
    assertEquals(again.ran, []);
  },
});

Deno.test({
  name:
    "build() --cache: a fully cached multi-stage rebuild pushed to a registry downloads no layer (COPY --from hits)",
  ignore,
  sanitizeResources: false,
  async fn() {
    const registry = await startRegistry();
    const proxy = await startFaultProxy(registry.host);
    try {
      const ctx = makeCtx();
      const once = async (tag: string) => {
        const ran: string[] = [];
        const out = tempDir("kiln-cache-ms-");
        const r = await build({
          context: ctx,
          dockerfileText: [
            "FROM base AS gen",
            "RUN mkdir /gen && head -c 300000 /dev/urandom > /gen/big && echo one > /gen/one",
            "FROM base",
            "COPY --from=gen /gen /gen",
            "RUN ls /gen > /list",
            "",
          ].join("\n"),
          outputs: { destinations: [`${proxy.host}/kiln/app:${tag}`] },
          workDir: join(out, "work"),
          buildContexts: { base: `oci-layout://${busybox()}:latest` },
          layers: { reproducible: true },
          cache: { repo: `${proxy.host}/kiln/cache`, copyLayers: true },
          registry: { insecureRegistries: [proxy.host] },
        }, {
          logger: createLogger({ level: "error", write: () => {} }),
          onProgress: (e: BuildProgressEvent) => {
            if (e.type === "step-done" && !e.cached) ran.push(e.instruction);
          },
        });
        return { digest: r.digest, ran };
      };
      const first = await once("1");
      assertEquals(first.ran.length, 3);
      proxy.bytes.length = 0;
      const second = await once("2");
      assertEquals(second.ran, []);
      assertEquals(second.digest, first.digest);
      const blobs = proxy.bytes.filter((b) => /^GET \/v2\/.*\/blobs\//.test(b.line));
      const total = blobs.reduce((a, b) => a + b.bytes, 0);
      // Configs only (a few hundred bytes each); the 300 kB layer of the first stage would show.
      assert(total < 16 * 1024, `downloaded ${total} bytes: ${blobs.map((b) => `${b.line} ${b.bytes}`).join(", ")}`);
    } finally {
      await proxy.stop();
      await registry.stop();
    }
  },
});

Deno.test({
  name:
    "build() --cache with zstd, --snapshot-mode=redo and jobs 2: a rebuild runs nothing and gives the uncached digest",
  ignore,
  async fn() {
    const ctx = makeCtx();
    const cacheDir = join(tempDir("kiln-cache-layout-"), "cache");
    const common: Partial<BuildOptions> = { layers: { compression: "zstd" }, snapshot: { mode: "redo" }, jobs: 2 };
    const plain = await run(ctx, busybox(), common);
    const opts = { ...common, cache: { repo: `oci:${cacheDir}`, copyLayers: true } };
    const first = await run(ctx, busybox(), opts);
    assertEquals(first.digest, plain.digest);
    const second = await run(ctx, busybox(), opts);
    assertEquals(second.ran, []);
    assertEquals(second.digest, plain.digest);
    // A gzip build must not take the zstd entries for its own: the compression is part of what the layer is.
    const gz = await run(ctx, busybox(), { ...opts, layers: { ...opts.layers, compression: "gzip" } });
    assertEquals(gz.ran.length, 4, "every step misses");
    assertEquals(
      gz.digest,
      (await run(ctx, busybox(), { ...common, layers: { ...common.layers, compression: "gzip" } })).digest,
    );
  },
});
