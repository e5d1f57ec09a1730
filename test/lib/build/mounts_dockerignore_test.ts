/**
 * `RUN --mount=type=bind` of the context shows the context filtered by `.dockerignore`, as BuildKit mounts it
 * (issue 11, defect 2): a sandbox build of a real busybox image, checked by unpacking the result with umoci.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { build } from "../../../lib/build/build.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { buildBusyboxLayout } from "../../fixtures/busybox_image.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { sandboxSkipReason } from "../sandbox/_helpers.ts";
import { makeContext, unpackLayout } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const reason = sandboxSkipReason();
if (reason) console.error(`SKIP RUN --mount and .dockerignore: ${reason}`);
const ignore = reason !== undefined || skipUnless("RUN --mount and .dockerignore", "umoci");

Deno.test({
  name: "build(): RUN --mount=type=bind of the context hides what .dockerignore ignores",
  ignore,
  async fn() {
    const base = tempDir("kiln-mount-ignore-");
    const ctx = makeContext({
      ".dockerignore": "secret\n**/*.log\n!app/keep.log\nnode_modules\n",
      "secret/key": "TOPSECRET\n",
      "app/a.txt": "a\n",
      "app/x.log": "x\n",
      "app/keep.log": "keep\n",
      "app/sub/b.txt": "b\n",
      "node_modules/m/index.js": "m\n",
      "plain/c.txt": "c\n",
    });
    symlinkSync("../secret/key", join(ctx, "app/link"));
    const bundles: string[] = [];
    try {
      const busybox = buildBusyboxLayout(join(base, "busybox"));
      const opts = (n: number, dockerfileText: string) => ({
        context: ctx,
        dockerfileText,
        outputs: { noPush: true, ociLayoutPath: join(base, `out${n}`) },
        buildContexts: { busybox: `oci-layout://${busybox}:latest` },
        sandbox: { runCacheDir: join(base, "run-cache") },
        workDir: join(base, "work"),
      });
      await build(opts(
        1,
        "FROM busybox\n" +
          // the whole context, a subdirectory with an ignored file and a re-included one, one with nothing ignored
          "RUN --mount=type=bind,target=/ctx cd /ctx && find . | sort > /seen && (cat secret/key app/link > /leak || true)\n" +
          "RUN --mount=type=bind,source=app,target=/app cd /app && find . | sort > /app-seen && cat keep.log > /kept\n" +
          "RUN --mount=type=bind,source=plain,target=/p cat /p/c.txt > /plain\n" +
          "RUN --mount=type=bind,source=app,target=/w,rw cd /w && find . | sort > /rw-seen\n",
      ));
      const { rootfs } = unpackLayout(join(base, "out1"));
      bundles.push(join(rootfs, ".."));
      const lines = (p: string) => readFileSync(join(rootfs, p), "utf8").trim().split("\n");
      assertEquals(lines("seen"), [
        ".",
        "./.dockerignore",
        "./app",
        "./app/a.txt",
        "./app/keep.log",
        "./app/link",
        "./app/sub",
        "./app/sub/b.txt",
        "./plain",
        "./plain/c.txt",
      ]);
      assertEquals(readFileSync(join(rootfs, "leak"), "utf8"), "");
      const app = [".", "./a.txt", "./keep.log", "./link", "./sub", "./sub/b.txt"];
      assertEquals(lines("app-seen"), app);
      assertEquals(lines("rw-seen"), app);
      assertEquals(readFileSync(join(rootfs, "kept"), "utf8"), "keep\n");
      assertEquals(readFileSync(join(rootfs, "plain"), "utf8"), "c\n");
      // An ignored source is not in the (filtered) context, as with COPY.
      for (const source of ["secret", "secret/key", "app/x.log"]) {
        const e = await assertRejects(
          () => build(opts(2, `FROM busybox\nRUN --mount=type=bind,source=${source},target=/s true\n`)),
          KilnError,
        );
        assertEquals(e.message, `Dockerfile:2: RUN --mount: bind source "${source}" not found in the build context`);
      }
      // The context itself is untouched, and the views are gone with the build.
      assertEquals(readFileSync(join(ctx, "secret/key"), "utf8"), "TOPSECRET\n");
      assert(
        readdirSync(join(base, "work")).every((n) => n === "kiln-run-cache"),
        readdirSync(join(base, "work")).join(),
      );
    } finally {
      for (const b of bundles) rmSync(b, { recursive: true, force: true });
      rmSync(ctx, { recursive: true, force: true });
      rmSync(base, { recursive: true, force: true });
    }
  },
});

Deno.test("prepareMounts() filters the context by hardlinks, or binds it as is when nothing is ignored", async () => {
  const { prepareMounts, resolveMount } = await import("../../../lib/executor/mounts/mod.ts");
  const { parseMount } = await import("../../../lib/dockerfile/mod.ts");
  const parseMountFlag = (spec: string) => resolveMount(parseMount(spec), "/", "Dockerfile:1");
  const { statSync } = await import("node:fs");
  const base = tempDir("kiln-mount-view-");
  try {
    const ctx = join(base, "ctx");
    mkdirSync(join(ctx, "d/keep"), { recursive: true });
    mkdirSync(join(ctx, "clean"), { recursive: true });
    for (const f of ["d/keep/k", "d/drop", "clean/c"]) Deno.writeTextFileSync(join(ctx, f), f);
    const matcher = { matches: (p: string) => p === "d/drop" };
    const mc = { contextDir: ctx, contextIgnore: matcher, cacheDir: join(base, "cache"), scratchDir: join(base, "s") };
    const p = await prepareMounts(
      [parseMountFlag("target=/a,source=d"), parseMountFlag("target=/b,source=clean")],
      mc,
    );
    const [a, b] = p.mounts;
    assert(a?.type === "bind" && b?.type === "bind");
    assertEquals(b.source, join(ctx, "clean"));
    assert(a.source.startsWith(join(base, "s")));
    assertEquals(readdirSync(a.source).sort(), ["keep"]);
    assertEquals(statSync(join(a.source, "keep/k")).ino, statSync(join(ctx, "d/keep/k")).ino);
    assertEquals(statSync(a.source).mode, statSync(join(ctx, "d")).mode);
    await p.release();
    assertEquals(readdirSync(join(base, "s")), []);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
