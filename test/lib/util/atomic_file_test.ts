import { chmodSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertEquals, assertRejects } from "../../assert.ts";
import { OutputWriteError, writeFileAtomic, writeStreamAtomic } from "../../../lib/util/atomic_file.ts";
import { tempDir } from "../../fixtures/temp.ts";

Deno.test("writeFileAtomic() replaces a file whole, keeps its mode, writes through symlinks", async () => {
  const dir = tempDir("kiln-atomic-");
  try {
    const f = join(dir, "sub/out");
    await writeFileAtomic(f, "one");
    assertEquals(readFileSync(f, "utf8"), "one");
    chmodSync(f, 0o600);
    await writeFileAtomic(f, "two");
    assertEquals([readFileSync(f, "utf8"), statSync(f).mode & 0o777], ["two", 0o600]);
    symlinkSync(f, join(dir, "link"));
    await writeFileAtomic(join(dir, "link"), "three");
    assertEquals(readFileSync(f, "utf8"), "three");
    // A non-regular file is written directly.
    await writeFileAtomic("/dev/null", "x");
    assertEquals(readdirSync(join(dir, "sub")), ["out"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("writeStreamAtomic() leaves the old file and no temp file when the source or the disk fails", async () => {
  const dir = tempDir("kiln-atomic-");
  try {
    const f = join(dir, "out");
    writeFileSync(f, "old");
    const failing = new ReadableStream<Uint8Array>({
      pull(ctl) {
        ctl.enqueue(new Uint8Array(1024));
        ctl.error(new Error("source broke"));
      },
    });
    await assertRejects(() => writeStreamAtomic(f, failing, { what: "docker archive" }), Error, "source broke");
    const ac = new AbortController();
    ac.abort();
    await assertRejects(
      () => writeFileAtomic(f, "new", { what: "docker archive", signal: ac.signal }),
      Error,
      `Writing docker archive ${f} was aborted`,
    );
    assertEquals([readFileSync(f, "utf8"), readdirSync(dir)], ["old", ["out"]]);
    // A destination error names the output, never the temp file.
    const e = await assertRejects(
      () => writeFileAtomic(join(f, "x/y"), "new", { what: "--digest-file" }),
      OutputWriteError,
    );
    assertEquals(e.message, `Cannot write --digest-file ${join(f, "x/y")}: a parent is not a directory`);
    const d = await assertRejects(() => writeFileAtomic(dir, "new"), OutputWriteError);
    assertEquals(d.message, `Cannot write file ${dir}: is a directory`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
