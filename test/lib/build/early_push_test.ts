/**
 * Pipelined push (`--push-early`): the pushed image's layers go up to the registry while later steps run, the final
 * push uploads only what is left, a failed build pushes no manifest, and `pushEarly: false` waits for the end.
 * Checked against a real docker-registry (HEAD polls, skopeo).
 */
import { join } from "node:path";
import { build } from "../../../lib/build/build.ts";
import type { BuildProgressEvent } from "../../../lib/build/types.ts";
import { createLogger } from "../../../lib/util/logger.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { startBusyboxRegistry } from "../../fixtures/busybox_image.ts";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { makeContext, sh } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("early push tests", "skopeo", "busybox", "docker-registry", "root");

const DOCKERFILE = `
ARG BASE
FROM \${BASE}
RUN head -c 3000000 /dev/urandom > /big
COPY f /f
RUN sleep 3
`;

/** Whether `digest` is in `repo` now. */
async function has(url: string, repo: string, digest: string): Promise<boolean> {
  const r = await fetch(`${url}/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
  await r.body?.cancel();
  return r.status === 200;
}

/** The layer digests of a pushed image (skopeo). */
function layersOf(host: string, ref: string): string[] {
  const m = JSON.parse(sh("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${host}/${ref}`]));
  return m.layers.map((l: { digest: string }) => l.digest);
}

/**
 * Builds DOCKERFILE to `repos` and records, at the end of the last step, which of the image's new layers the
 * registry already had in each repo.
 */
async function buildWatching(
  host: string,
  url: string,
  base: string,
  repos: string[],
  pushEarly?: boolean,
): Promise<{ seenBeforeEnd: Map<string, string[]>; layers: string[]; log: string[] }> {
  const work = tempDir("kiln-early-");
  const digests: string[] = [];
  const seenBeforeEnd = new Map<string, string[]>();
  let polls: Promise<void> = Promise.resolve();
  const log: string[] = [];
  const onProgress = (e: BuildProgressEvent) => {
    if (e.type === "step-done" && e.layerDigest) digests.push(e.layerDigest);
    if (e.type === "step-start" && e.instruction.startsWith("RUN sleep")) {
      // While the last step runs: wait up to 2.5 s for the earlier layers to appear.
      const known = [...digests];
      polls = (async () => {
        const deadline = Date.now() + 2500;
        for (const repo of repos) {
          const seen: string[] = [];
          for (const d of known) {
            while (!(await has(url, repo, d)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
            if (await has(url, repo, d)) seen.push(d);
          }
          seenBeforeEnd.set(repo, seen);
        }
      })();
    }
  };
  await build({
    context: makeContext({ f: "a file\n" }),
    dockerfileText: DOCKERFILE,
    buildArgs: { BASE: base },
    workDir: join(work, "w"),
    registry: { insecureRegistries: [host] },
    outputs: { destinations: repos.map((r) => `${host}/${r}:1`), ...(pushEarly === undefined ? {} : { pushEarly }) },
  }, { onProgress, logger: createLogger({ level: "debug", write: (l) => log.push(l) }) });
  await polls;
  return { seenBeforeEnd, layers: digests, log };
}

Deno.test({
  name: "build() uploads each layer while later steps run (to every destination); the push only adds what is left",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await startBusyboxRegistry();
    try {
      const { host, url } = b.registry;
      const repos = ["early/a", "early/b"];
      const r = await buildWatching(host, url, b.ref, repos);
      assertEquals(r.layers.length, 2, "RUN head and COPY made layers");
      for (const repo of repos) {
        assertEquals(r.seenBeforeEnd.get(repo), r.layers, `${repo}: layers present while the last step ran`);
        // The pushed image is complete: every layer (base included) is in the repo, skopeo copies it whole.
        const layers = layersOf(host, `${repo}:1`);
        assertEquals(layers.slice(-2), r.layers);
        for (const d of layers) assert(await has(url, repo, d), `${repo} lacks ${d}`);
        const out = tempDir("kiln-early-copy-");
        sh("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${host}/${repo}:1`, `oci:${out}:x`]);
      }
      // Each blob went up once per repository: the final push found them uploaded (no second HEAD/upload).
      const pushedLines = r.log.filter((l) => l.includes("blob pushed"));
      const perRepo = new Map<string, number>();
      for (const l of pushedLines) {
        for (const repo of repos) {
          if (l.includes(`repository=${repo} `)) perRepo.set(repo, (perRepo.get(repo) ?? 0) + 1);
        }
      }
      // base layer + 2 new layers + config, per repo
      for (const repo of repos) assertEquals(perRepo.get(repo), 4, `${repo}: ${pushedLines.join("\n")}`);

      // pushEarly: false — nothing of the new layers is there before the end.
      const late = await buildWatching(host, url, b.ref, ["late/a"], false);
      assertEquals(late.seenBeforeEnd.get("late/a"), [], "with pushEarly false no layer is uploaded before the end");
      assertEquals(layersOf(host, "late/a:1").slice(-2), late.layers);
    } finally {
      await b.stop();
    }
  },
});

Deno.test({
  name: "build() with early uploads that then fails pushes no manifest and leaves nothing running",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await startBusyboxRegistry();
    try {
      const { host, url } = b.registry;
      const work = tempDir("kiln-early-fail-");
      let layer = "";
      await assertRejects(
        () =>
          build({
            context: makeContext({}),
            dockerfileText: `FROM ${b.ref}\nRUN head -c 2000000 /dev/urandom > /big\nRUN sleep 1 && exit 7\n`,
            workDir: join(work, "w"),
            registry: { insecureRegistries: [host] },
            outputs: { destinations: [`${host}/failed/app:1`] },
          }, {
            onProgress: (e) => {
              if (e.type === "step-done" && e.layerDigest) layer = e.layerDigest;
            },
          }),
        Error,
        "exit",
      );
      assert(layer !== "");
      const tags = await fetch(`${url}/v2/failed/app/manifests/1`, { method: "HEAD" });
      await tags.body?.cancel();
      assertEquals(tags.status, 404, "no manifest for a failed build");
    } finally {
      await b.stop();
    }
  },
});

Deno.test({
  name: "concurrent builds uploading early into one repository both land complete images",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await startBusyboxRegistry();
    try {
      const { host, url } = b.registry;
      const run = (tag: string, n: number) =>
        build({
          context: makeContext({ f: `file ${n}\n` }),
          // The same first layer in both (a blob both upload at once), then a different one each.
          dockerfileText: `FROM ${b.ref}\nRUN echo shared > /s\nCOPY f /f\nRUN echo ${n} > /n\n`,
          workDir: join(tempDir("kiln-early-conc-"), "w"),
          registry: { insecureRegistries: [host] },
          outputs: { destinations: [`${host}/conc/app:${tag}`] },
          layers: { reproducible: true },
        });
      const [x, y] = await Promise.all([run("x", 1), run("y", 2)]);
      for (const [tag, r] of [["x", x], ["y", y]] as const) {
        const layers = layersOf(host, `conc/app:${tag}`);
        assertEquals(layers.length, 4);
        for (const d of layers) assert(await has(url, "conc/app", d), `${tag} lacks ${d}`);
        assertEquals(
          JSON.parse(sh("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${host}/conc/app:${tag}`]))
            .config.digest,
          r.configDigest,
        );
      }
      assertEquals(layersOf(host, "conc/app:x")[1], layersOf(host, "conc/app:y")[1], "the shared layer is one blob");
    } finally {
      await b.stop();
    }
  },
});
