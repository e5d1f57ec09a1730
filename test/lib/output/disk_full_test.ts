/**
 * Outputs on a full (1 MiB tmpfs) or read-only disk: the previous output stays intact, the error is one line
 * naming the output, and no temp file is left (issue 11, defect 3). Needs root (mount); skipped otherwise.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { build } from "../../../lib/build/build.ts";
import type { BuildOptions, BuildOutputOptions } from "../../../lib/executor/mod.ts";
import { dockerArchiveImage, layoutImage } from "../../../lib/image/mod.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { REPO_ROOT } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";

/** Mounts a 1 MiB tmpfs at a fresh dir; undefined (with the reason printed) when that is not possible. */
function mountTmpfs(base: string): string | undefined {
  const dir = join(base, "small");
  mkdirSync(dir);
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`SKIP disk-full outputs: cannot mount a tmpfs (${(r.stderr || r.error?.message || "").trim()})`);
    return undefined;
  }
  return dir;
}

function unmount(dir: string): void {
  if (spawnSync("umount", [dir]).status !== 0) spawnSync("umount", ["-l", dir]);
}

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
/** Names of temp or lock files below `dir`. */
const debris = (dir: string) =>
  readdirSync(dir, { recursive: true }).map(String).filter((p) => /kiln-tmp|\.tmp-|\.lock/.test(p));

Deno.test("build() outputs on a full disk keep the previous ones and fail cleanly", async () => {
  const base = tempDir("kiln-disk-full-");
  const small = mountTmpfs(base);
  try {
    if (!small) return;
    const ctx = join(base, "ctx");
    mkdirSync(ctx);
    Deno.writeFileSync(join(ctx, "small"), new TextEncoder().encode("small\n"));
    Deno.writeFileSync(join(ctx, "big"), new Uint8Array(randomBytes(1536 * 1024))); // incompressible, > the disk
    const opts = (file: string) => ({
      context: ctx,
      dockerfileText: `FROM scratch\nCOPY ${file} /${file}\n`,
      workDir: join(base, "work"),
    });
    const out = { noPush: true, destinations: ["example.com/app:v1"] };
    const withOut = (file: string, o: BuildOutputOptions, more: Partial<BuildOptions> = {}): BuildOptions => ({
      ...opts(file),
      ...more,
      outputs: { ...out, ...o },
    });
    // docker archive: a valid previous tarball survives a build that does not fit.
    const tar = join(small, "image.tar");
    const first = await build(withOut("small", { tarPath: tar }));
    const before = sha(tar);
    let e = await assertRejects(() => build(withOut("big", { tarPath: tar })), KilnError);
    assertEquals(e.message, `Cannot write docker archive ${tar}: no space left on device`);
    assertEquals(sha(tar), before);
    assertEquals((await (await dockerArchiveImage(tar)).config()).rootfs, first.config.rootfs);
    assertEquals(readdirSync(small), ["image.tar"]);
    // OCI layout: an existing one keeps its index and gets no temp blob; a new one is not made at all.
    const layout = join(small, "layout");
    const inLayout = await build(withOut("small", { ociLayoutPath: layout }));
    const index = readFileSync(join(layout, "index.json"), "utf8");
    e = await assertRejects(() => build(withOut("big", { ociLayoutPath: layout })), KilnError);
    assertEquals(e.message, `Cannot write OCI layout ${layout}: no space left on device`);
    assertEquals(readFileSync(join(layout, "index.json"), "utf8"), index);
    assertEquals(await (await layoutImage(layout, { tag: "v1" })).digest(), inLayout.digest);
    const fresh = join(small, "fresh");
    e = await assertRejects(() => build(withOut("big", { ociLayoutPath: fresh })), KilnError);
    assertEquals(e.message, `Cannot write OCI layout ${fresh}: no space left on device`);
    assert(!existsSync(fresh));
    assertEquals(debris(small), []);
    // Digest files: fill the disk, then write them over the previous ones.
    const digestFile = join(small, "digest");
    const nameFile = join(small, "name");
    await build(withOut("small", { digestFile, imageNameWithDigestFile: nameFile }));
    const fd = openSync(join(small, "filler"), "w");
    try {
      for (;;) writeSync(fd, new Uint8Array(64 * 1024));
    } catch (err) {
      assertEquals((err as { code?: string }).code, "ENOSPC");
    } finally {
      closeSync(fd);
    }
    for (
      const [flag, o] of [
        ["--digest-file", { digestFile }],
        ["--image-name-with-digest-file", { imageNameWithDigestFile: nameFile }],
      ] as const
    ) {
      const path = flag === "--digest-file" ? digestFile : nameFile;
      const old = readFileSync(path, "utf8");
      e = await assertRejects(() => build(withOut("small", o, { layers: { reproducible: true } })), KilnError);
      assertEquals(e.message, `Cannot write ${flag} ${path}: no space left on device`);
      assertEquals(readFileSync(path, "utf8"), old);
    }
    assertEquals(debris(small), []);
    assertEquals(readdirSync(join(base, "work")).filter((n) => n.startsWith("kiln-build-")), []);
  } finally {
    if (small) unmount(small);
    rmSync(base, { recursive: true, force: true });
  }
});

Deno.test("kiln build --tar-path on a full or read-only disk: one line, exit 1, old tarball intact", async () => {
  const base = tempDir("kiln-disk-full-cli-");
  const small = mountTmpfs(base);
  try {
    if (!small) return;
    const ctx = join(base, "ctx");
    mkdirSync(ctx);
    Deno.writeTextFileSync(join(ctx, "Dockerfile"), "FROM scratch\nCOPY . /\n");
    Deno.writeTextFileSync(join(ctx, "small"), "small\n");
    const tar = join(small, "image.tar");
    const kiln = () =>
      new Deno.Command(join(REPO_ROOT, "node_modules/.bin/deno"), {
        args: [
          "run",
          "-A",
          "--cached-only",
          join(REPO_ROOT, "cli/main.ts"),
          "build",
          `--context=${ctx}`,
          "--no-push",
          `--tar-path=${tar}`,
          `--work-dir=${join(base, "work")}`,
          "--log-format=text",
          "--verbosity=error",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    let r = await kiln();
    assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
    const before = sha(tar);
    Deno.writeFileSync(join(ctx, "big"), new Uint8Array(randomBytes(1536 * 1024)));
    r = await kiln();
    assertEquals([r.code, new TextDecoder().decode(r.stderr)], [
      1,
      `kiln: Cannot write docker archive ${tar}: no space left on device\n`,
    ]);
    assertEquals(sha(tar), before);
    rmSync(join(ctx, "big"));
    spawnSync("mount", ["-o", "remount,ro", small]);
    r = await kiln();
    assertEquals([r.code, new TextDecoder().decode(r.stderr)], [
      1,
      `kiln: Cannot write docker archive ${tar}: read-only file system\n`,
    ]);
    assertEquals(sha(tar), before);
    assertEquals(readdirSync(small), ["image.tar"]);
  } finally {
    if (small) unmount(small);
    rmSync(base, { recursive: true, force: true });
  }
});
