import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { AbortedError, KilnError } from "../../../lib/util/errors.ts";
import { loadAddon } from "../../../lib/fs/_addon.ts";
import { createTsHasher, sha256FileSync } from "../../../lib/fs/hasher_ts.ts";
import { createNativeHasher } from "../../../lib/fs/walker_native.ts";
import { loadHasher } from "../../../lib/fs/walker.ts";
import type { FileHasher } from "../../../lib/fs/types.ts";
import { tempDir } from "../../fixtures/temp.ts";

const addon = loadAddon();
const hashers: FileHasher[] = [createTsHasher()];
if (addon.ok) {
  hashers.push(createNativeHasher(addon.addon));
  hashers.push({ ...createNativeHasher(addon.addon, { threads: 1 }), name: "native(1 thread)" });
}

const SIZES = [0, 1, 55, 56, 63, 64, 65, 4096, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 17];

function makeFiles(): { dir: string; paths: string[] } {
  const dir = tempDir("kiln-hash-");
  const paths = SIZES.map((n, i) => {
    const p = `${dir}/f${i}`;
    writeFileSync(p, randomBytes(n));
    return p;
  });
  return { dir, paths };
}

for (const h of hashers) {
  Deno.test(
    `${h.name} hasher: hashFiles() matches sha256sum, in order`,
    { ignore: skipUnless(h.name, "sha256sum") },
    async () => {
      const { dir, paths } = makeFiles();
      try {
        const many = [...paths, ...paths.slice().reverse()];
        const got = await h.hashFiles(many);
        const out = spawnSync("sha256sum", many).stdout.toString().trim().split("\n").map((l) => l.slice(0, 64));
        assertEquals(got, out);
        assertEquals(await h.hashFiles([]), []);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  Deno.test(`${h.name} hasher: a missing file is a KilnError naming it`, async () => {
    const { dir, paths } = makeFiles();
    try {
      const e = await assertRejects(() => h.hashFiles([...paths, `${dir}/missing`]), KilnError);
      assertStringIncludes(e.message, `${dir}/missing`);
      assertStringIncludes(e.message, "ENOENT");
      const e2 = await assertRejects(() => h.hashFiles([dir]), KilnError);
      assertStringIncludes(e2.message, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  Deno.test(`${h.name} hasher: an aborted signal rejects`, async () => {
    const ac = new AbortController();
    ac.abort();
    await assertRejects(() => h.hashFiles(["/etc/hostname"], { signal: ac.signal }), AbortedError);
  });
}

if (addon.ok) {
  Deno.test("native portable sha256 (used without libcrypto) matches node:crypto", () => {
    const a = addon.addon as unknown as { sha256Portable(b: Uint8Array): string; sha256Backend: string };
    assert(a.sha256Backend === "openssl" || a.sha256Backend === "portable");
    assertEquals(
      a.sha256Portable(new TextEncoder().encode("abc")),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    for (let n = 0; n < 300; n++) {
      const b = randomBytes(n);
      assertEquals(a.sha256Portable(b), createHash("sha256").update(b).digest("hex"), `length ${n}`);
    }
    const big = randomBytes(1_000_003);
    assertEquals(a.sha256Portable(big), createHash("sha256").update(big).digest("hex"));
  });
}

Deno.test("sha256FileSync() and loadHasher()", async () => {
  const { dir, paths } = makeFiles();
  try {
    const ref = await createTsHasher().hashFiles(paths);
    assertEquals(paths.map((p) => sha256FileSync(p)), ref);
    assertEquals(await loadHasher().hashFiles(paths), ref);
    assertEquals(loadHasher({ prefer: "ts" }).name, "ts");
    if (addon.ok) assertEquals(loadHasher().name, "native");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
