/**
 * Bad multi-stage input through build() (issue 5 §5): an unknown `--from` (no such stage, and pulling it as an image
 * fails: both are said), forward and self references, a FROM naming a later stage, a bad stage index, a glob
 * matching nothing, an unsupported mount type. Each is one `Dockerfile:LINE:` line, and the build leaves nothing
 * behind: the work dir is empty, no output or digest file is written, the context is untouched.
 * Also: `--target` builds only the stages the target needs unless `--skip-unused-stages=false` (kaniko's default).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../../../lib/build/build.ts";
import type { BuildOptions } from "../../../lib/build/types.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { freePort } from "../../fixtures/registry.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../../assert.ts";
import { leftovers, makeContext } from "./_helpers.ts";

const ignore = skipUnless("multi-stage error builds", "root");

/** Dockerfile → the whole expected message (a RegExp where it quotes a registry error). */
const CASES: [string, string, string | RegExp][] = [
  [
    "unknown COPY --from",
    "FROM scratch AS a\nFROM scratch\nCOPY --from=nosuch /x /x\n",
    /^Dockerfile:3: --from=nosuch: no build stage is named "nosuch", and pulling it as an image failed: .*127\.0\.0\.1:\d+.*$/,
  ],
  [
    "unknown RUN --mount from=",
    "FROM scratch\nRUN --mount=type=bind,from=nosuch,target=/x true\n",
    /^Dockerfile:2: --from=nosuch: no build stage is named "nosuch", and pulling it as an image failed: .+$/,
  ],
  [
    "COPY --from a later stage (a cycle)",
    "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /x /x\n",
    "Dockerfile:2: --from=b refers to a later stage (b); it needs to be defined before stage a",
  ],
  [
    "COPY --from the current stage",
    "FROM scratch AS a\nCOPY --from=a /x /x\n",
    "Dockerfile:2: --from=a refers to the current stage (a); it needs to be defined before stage a",
  ],
  [
    "FROM a later stage (a cycle)",
    "FROM b AS a\nFROM a AS b\n",
    /^Dockerfile:1: FROM b: the stage "b" is defined later \(line 2\), and a FROM can only name an earlier stage; pulling it as an image failed: .+$/,
  ],
  [
    "stage index out of range",
    "FROM scratch\nCOPY --from=7 /x /x\n",
    "Dockerfile:2: invalid stage index 7 in --from=7",
  ],
  [
    "glob matching nothing",
    "FROM scratch AS a\nCOPY f /f\nFROM scratch\nCOPY --from=a /f /f\nCOPY nothing* /x\n",
    'Dockerfile:5: COPY: no source files match "nothing*" in the build context',
  ],
  [
    "glob matching nothing in a stage",
    "FROM scratch AS a\nCOPY f /f\nFROM scratch\nCOPY --from=a /nothing* /x\n",
    /^Dockerfile:4: COPY: no source files match "\/?nothing\*" in stage a$/,
  ],
  [
    "unsupported mount type",
    "FROM scratch\nRUN --mount=type=nfs,target=/x true\n",
    'Dockerfile:2: unsupported mount type "nfs"',
  ],
];

Deno.test({
  name: "build() rejects bad multi-stage input with one Dockerfile:LINE: line and writes nothing outside its work dir",
  ignore,
  sanitizeResources: false,
  async fn() {
    const root = mkdtempSync(join(tmpdir(), "kiln-mserr-"));
    try {
      // docker.io is mapped to a closed local port: an image pull fails at once, without the internet.
      const closed = `127.0.0.1:${await freePort()}`;
      const ctx = makeContext({ f: "f" });
      for (const [what, df, expected] of CASES) {
        const work = join(root, "work");
        const out = join(root, "out");
        const opts: BuildOptions = {
          context: ctx,
          dockerfileText: df,
          noPush: true,
          workDir: work,
          jobs: 2,
          ociLayoutPath: join(out, "layout"),
          tarPath: join(out, "image.tar"),
          digestFile: join(out, "digest"),
          registry: {
            registryMap: { "index.docker.io": [closed], "docker.io": [closed] },
            insecureRegistries: [closed],
            skipDefaultRegistryFallback: true,
            imageDownloadRetry: 0,
          },
        };
        const e = await assertRejects(() => build(opts), KilnError);
        if (typeof expected === "string") assertEquals(e.message, expected, what);
        else assertMatch(e.message, expected, what);
        assert(!e.message.includes("\n"), `${what}: one line`);
        assertEquals(leftovers(work), [], `${what}: work dir`);
        assert(!existsSync(out), `${what}: no outputs`);
        assertEquals(readdirSync(ctx), ["f"], `${what}: context`);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "build() with --target builds only what the target needs; --skip-unused-stages=false builds every stage",
  ignore,
  sanitizeResources: false,
  async fn() {
    const root = mkdtempSync(join(tmpdir(), "kiln-mserr-"));
    try {
      const ctx = makeContext({ f: "f" });
      const df = "FROM scratch AS broken\nCOPY missing /x\nFROM scratch AS final\nCOPY f /f\nFROM scratch AS last\n";
      const opts = { context: ctx, dockerfileText: df, noPush: true, workDir: join(root, "work"), target: "final" };
      const r = await build(opts);
      assertEquals(r.manifest.layers.length, 1);
      const e = await assertRejects(() => build({ ...opts, skipUnusedStages: false }), KilnError);
      assertEquals(e.message, 'Dockerfile:2: COPY: source "missing" not found in the build context');
      // Without --target, kaniko's default: every stage (the last is the target).
      const { target: _target, ...noTarget } = opts;
      await assertRejects(() => build(noTarget), KilnError, "missing");
      await build({ ...opts, target: "last", skipUnusedStages: true });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});
