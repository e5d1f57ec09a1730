/**
 * ADD of hostile local archives (symlink then a file below it, hardlinks to absolute or missing paths, symlink
 * loops) and COPY/ADD by an unprivileged user: confined results or one-line errors, never "internal error".
 */
import * as fs from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { addInto } from "../../../lib/copy/add.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { TarWriterStream } from "../../../lib/tar/writer.ts";
import type { TarEntry } from "../../../lib/tar/types.ts";
import { hasCommand, isRoot } from "../../fixtures/tools.ts";
import { kiln } from "../../cli/_helpers.ts";
import { tempDir as fixtureTempDir } from "../../fixtures/temp.ts";

type Entry = [path: string, type: "file" | "symlink" | "hardlink" | "dir", data?: string];

/** Writes a gzipped tar of `entries` (in that order) to `file`. */
async function writeTarGz(file: string, entries: Entry[]): Promise<void> {
  const list: TarEntry[] = entries.map(([path, type, x]) => {
    const data = type === "file" ? new TextEncoder().encode(x ?? "") : undefined;
    return {
      header: {
        path,
        type,
        mode: type === "dir" ? 0o755 : 0o644,
        uid: 0,
        gid: 0,
        mtime: 1000,
        size: data?.length ?? 0,
        ...(type === "symlink" || type === "hardlink" ? { linkname: x! } : {}),
      },
      ...(data ? { data } : {}),
    };
  });
  const tar = new Uint8Array(
    await new Response(ReadableStream.from(list).pipeThrough(new TarWriterStream())).arrayBuffer(),
  );
  fs.writeFileSync(file, gzipSync(tar));
}

function tempDir(): { dir: string; [Symbol.dispose](): void } {
  const dir = fixtureTempDir("kiln-add-archive-");
  return { dir, [Symbol.dispose]: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function addArchive(t: string, entries: Entry[], dest = "/app/"): Promise<string> {
  const ctx = join(t, "ctx");
  const root = join(t, "rootfs");
  fs.mkdirSync(ctx, { recursive: true });
  fs.mkdirSync(root, { recursive: true });
  await writeTarGz(join(ctx, "x.tar.gz"), entries);
  await addInto({
    srcRoot: ctx,
    sources: ["x.tar.gz"],
    dest,
    destRoot: root,
    instruction: "ADD",
    location: "Dockerfile:2",
  });
  return root;
}

Deno.test("addInto() follows a symlink then a file below it inside the destination, as Docker's untar", async () => {
  using t = tempDir();
  const root = await addArchive(t.dir, [["a", "symlink", "/etc"], ["a/passwd", "file", "root:x:0:0\n"]]);
  // The absolute target starts at the destination directory (a chrooted untar), never at the rootfs' or host's /.
  assertEquals(fs.readlinkSync(join(root, "app/a")), "/etc");
  assertEquals(fs.readFileSync(join(root, "app/etc/passwd"), "utf8"), "root:x:0:0\n");
  assert(!fs.existsSync(join(root, "etc")));
  // A dangling symlink to a deeper path: its directories are created, as base-layer extraction does.
  const root2 = await addArchive(join(t.dir, "2"), [["a", "symlink", "/no/such/dir"], ["a/f", "file", "f"]]);
  assertEquals(fs.readFileSync(join(root2, "app/no/such/dir/f"), "utf8"), "f");
});

Deno.test("addInto() fails in one line on hardlinks to absolute, missing or directory targets and symlink loops", async () => {
  using t = tempDir();
  const cases: [Entry[], string][] = [
    [
      [["f", "file", "x"], ["h", "hardlink", "/etc/passwd"]],
      `cannot extract "h": hardlink target "etc/passwd" does not exist`,
    ],
    [[["d", "dir"], ["h", "hardlink", "d"]], `cannot extract "h": hardlink target "d" is a directory`],
    [
      [["a", "symlink", "/a"], ["a/x", "file", "x"]],
      `cannot extract "a/x": cannot resolve a: too many levels of symbolic links`,
    ],
  ];
  for (const [i, [entries, why]] of cases.entries()) {
    const e = await assertRejects(() => addArchive(join(t.dir, String(i)), entries), KilnError);
    assertEquals(e.message, `Dockerfile:2: ADD: archive x.tar.gz: ${why}`);
    assert(!e.message.includes(t.dir), e.message);
  }
});

Deno.test("kiln build: ADD of an archive with a hardlink to an absolute path exits 1 with one line", async () => {
  using t = tempDir();
  const ctx = join(t.dir, "ctx");
  fs.mkdirSync(ctx);
  await writeTarGz(join(ctx, "local.tar.gz"), [["a", "symlink", "/etc"], ["a/passwd", "file", "x"], [
    "h",
    "hardlink",
    "/etc/shadow",
  ]]);
  fs.writeFileSync(join(ctx, "Dockerfile"), "FROM scratch\nADD local.tar.gz /\n");
  const work = join(t.dir, "work");
  const r = await kiln(["build", "--no-push", "--tar-path", join(t.dir, "i.tar"), "-c", ctx, "--work-dir", work]).done;
  assertEquals(r.code, 1, r.stderr);
  assertEquals(
    r.stderr.trimEnd().split("\n").at(-1),
    `Dockerfile:2: ADD: archive local.tar.gz: cannot extract "h": hardlink target "etc/shadow" does not exist`,
  );
  assert(!r.stderr.includes("internal error") && !r.stderr.includes(work) && !r.stderr.includes("    at "), r.stderr);
  assertEquals(fs.readdirSync(work), []);
});

const unprivileged = !isRoot() || !hasCommand("setpriv");
Deno.test({
  name: "kiln build as an unprivileged user: COPY, COPY --chown, WORKDIR and ADD work, with a warning about owners",
  ignore: unprivileged,
  async fn() {
    using t = tempDir();
    const ctx = join(t.dir, "ctx");
    fs.mkdirSync(ctx);
    fs.mkdirSync(join(t.dir, "home"));
    fs.mkdirSync(join(t.dir, "tmp"));
    fs.writeFileSync(join(ctx, "f"), "f\n");
    await writeTarGz(join(ctx, "x.tar.gz"), [["a", "symlink", "/etc"], ["a/passwd", "file", "x"]]);
    fs.writeFileSync(
      join(ctx, "Dockerfile"),
      "FROM scratch\nCOPY f /f\nCOPY --chown=1000:1000 f /g\nWORKDIR /app/w\nADD x.tar.gz /t/\n",
    );
    fs.chmodSync(t.dir, 0o755);
    for (const p of ["", "ctx", "ctx/f", "ctx/x.tar.gz", "ctx/Dockerfile", "home", "tmp"]) {
      fs.chownSync(join(t.dir, p), 65534, 65534);
    }
    const tar = join(t.dir, "i.tar");
    const r = await kiln(["build", "--no-push", "--tar-path", tar, "-c", ctx], {
      wrap: [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "env",
        `HOME=${t.dir}/home`,
        `TMPDIR=${t.dir}/tmp`,
      ],
    }).done;
    assertEquals(r.code, 0, r.stderr);
    assert(
      r.stderr.includes("kiln is not running as root (uid 65534): files in the image keep uid 65534 as their owner"),
      r.stderr,
    );
    assert(fs.statSync(tar).size > 0);
    assertEquals(fs.readdirSync(join(t.dir, "tmp")).filter((n) => n.startsWith("kiln-build-")), []);
  },
});
