/**
 * clearTree(), what empties `/` between in-place stages, attacked on a temp tree: kept paths and the directories
 * leading to them survive with their contents, symlinks are removed as links (their targets outside untouched), and
 * a mount point nobody listed (a real tmpfs, as root) is neither entered nor removed.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { assert, assertEquals } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { isRoot } from "../../fixtures/tools.ts";
import { clearTree } from "../../../lib/fs/mod.ts";

Deno.test("clearTree() removes all but the kept paths; links are removed as links, never followed", async () => {
  const root = tempDir("kiln-clear-");
  const outside = tempDir("kiln-clear-outside-");
  writeFileSync(join(outside, "precious"), "keep me\n");
  for (const d of ["etc/ssl", "usr/local/one", "kaniko/lib", "workspace/src", "var/run"]) {
    mkdirSync(join(root, d), { recursive: true });
  }
  writeFileSync(join(root, "etc/hosts"), "127.0.0.1 x\n");
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0\n");
  writeFileSync(join(root, "etc/ssl/cert.pem"), "c\n");
  writeFileSync(join(root, "usr/local/one/f"), "stage one\n");
  writeFileSync(join(root, "kaniko/lib/ld.so"), "elf\n");
  writeFileSync(join(root, "workspace/src/main.c"), "int main;\n");
  symlinkSync(outside, join(root, "escape"));
  symlinkSync(join(outside, "precious"), join(root, "usr/local/link"));
  const r = await clearTree(root, { keep: ["/kaniko", "etc/hosts", "/workspace", "var/run"] });
  assert(r.removed >= 4, String(r.removed));
  assertEquals(readFileSync(join(root, "kaniko/lib/ld.so"), "utf8"), "elf\n");
  assertEquals(readFileSync(join(root, "etc/hosts"), "utf8"), "127.0.0.1 x\n");
  assertEquals(readFileSync(join(root, "workspace/src/main.c"), "utf8"), "int main;\n");
  assert(existsSync(join(root, "var/run")));
  for (const gone of ["etc/passwd", "etc/ssl", "usr", "escape"]) assert(!existsSync(join(root, gone)), gone);
  assert(lstatSync(join(root, "etc")).isDirectory(), "the way to a kept path stays");
  assertEquals(readFileSync(join(outside, "precious"), "utf8"), "keep me\n", "a link's target is never touched");
});

Deno.test({
  name: "clearTree() leaves an unlisted mount point (another filesystem) alone and reports it",
  ignore: !isRoot(),
  async fn() {
    const root = tempDir("kiln-clear-mnt-");
    mkdirSync(join(root, "data/mnt"), { recursive: true });
    writeFileSync(join(root, "data/sibling"), "x\n");
    assertEquals(spawnSync("mount", ["-t", "tmpfs", "tmpfs", join(root, "data/mnt")]).status, 0);
    try {
      writeFileSync(join(root, "data/mnt/inside"), "on the tmpfs\n");
      const r = await clearTree(root, { keep: [] });
      assertEquals(r.otherFilesystems, ["/data/mnt"]);
      assertEquals(readFileSync(join(root, "data/mnt/inside"), "utf8"), "on the tmpfs\n");
      assert(!existsSync(join(root, "data/sibling")), "the mount's siblings are removed");
    } finally {
      spawnSync("umount", [join(root, "data/mnt")]);
    }
  },
});
