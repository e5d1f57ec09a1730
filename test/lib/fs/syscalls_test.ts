import { spawnSync } from "node:child_process";
import { rmSync, symlinkSync, writeFileSync } from "node:fs";
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../../assert.ts";
import { isRoot, skipUnless } from "../../fixtures/tools.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { loadAddon } from "../../../lib/fs/_addon.ts";
import {
  createSyscalls,
  lgetxattr,
  lgetxattrs,
  llistxattr,
  lsetxattr,
  makedev,
  mknod,
  S_IF,
  splitDev,
  type Syscalls,
  syscallsAvailable,
  trySyscalls,
} from "../../../lib/fs/syscalls.ts";
import { tempDir } from "../../fixtures/temp.ts";

const backends: Syscalls[] = [];
const ffi = trySyscalls({ prefer: "ffi" });
if (ffi) backends.push(ffi);
if (loadAddon().ok) backends.push(createSyscalls({ prefer: "native" }));

function tmp(): string {
  return tempDir("kiln-sys-");
}

Deno.test("syscalls: FFI backend exists under Deno with --allow-ffi", () => {
  assert(ffi !== undefined && ffi.backend === "ffi");
  assert(syscallsAvailable());
});

for (const sc of backends) {
  const b = sc.backend;

  Deno.test(`${b} lsetxattr()/lgetxattr()/llistxattr() are binary-safe`, () => {
    const d = tmp();
    try {
      const f = `${d}/f`;
      writeFileSync(f, "x");
      const bin = new Uint8Array(70000).map((_, i) => (i * 7) & 0xff);
      bin[0] = 0;
      sc.lsetxattr(f, "user.bin", bin.subarray(0, 4000));
      sc.lsetxattr(f, "user.nul", new Uint8Array([0, 0, 1, 0]));
      sc.lsetxattr(f, "user.empty", new Uint8Array());
      assertEquals(sc.lgetxattr(f, "user.bin"), bin.slice(0, 4000));
      assertEquals(sc.lgetxattr(f, "user.nul"), new Uint8Array([0, 0, 1, 0]));
      assertEquals(sc.lgetxattr(f, "user.empty"), new Uint8Array());
      assertEquals(sc.lgetxattr(f, "user.missing"), undefined);
      assertEquals(sc.llistxattr(f).sort(), ["user.bin", "user.empty", "user.nul"]);
      assertEquals(Object.keys(sc.lgetxattrs(f)).sort(), ["user.bin", "user.empty", "user.nul"]);
      // getfattr is the oracle where installed.
      const r = spawnSync("getfattr", ["--only-values", "-n", "user.nul", f]);
      if (r.status === 0) assertEquals(new Uint8Array(r.stdout), new Uint8Array([0, 0, 1, 0]));
      writeFileSync(`${d}/plain`, "");
      assertEquals(sc.llistxattr(`${d}/plain`), []);
      assertEquals(sc.lgetxattrs(`${d}/plain`), {});
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  Deno.test(`${b} xattr calls do not follow symlinks`, { ignore: skipUnless(b, "root") }, () => {
    const d = tmp();
    try {
      writeFileSync(`${d}/target`, "");
      symlinkSync("target", `${d}/link`);
      sc.lsetxattr(`${d}/link`, "trusted.l", new Uint8Array([1]));
      assertEquals(sc.lgetxattr(`${d}/link`, "trusted.l"), new Uint8Array([1]));
      assertEquals(sc.lgetxattr(`${d}/target`, "trusted.l"), undefined);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  Deno.test(`${b} errors are KilnErrors naming the path and errno`, () => {
    const e = assertThrows(() => sc.lsetxattr("/nonexistent/x", "user.a", new Uint8Array(1)), KilnError);
    assertStringIncludes(e.message, "/nonexistent/x");
    assertStringIncludes(e.message, "ENOENT");
    const e2 = assertThrows(() => sc.lgetxattr("/nonexistent/y", "user.a"), KilnError);
    assertStringIncludes(e2.message, "/nonexistent/y: ENOENT");
    const e3 = assertThrows(() => sc.llistxattr("/nonexistent/z"), KilnError);
    assertStringIncludes(e3.message, "/nonexistent/z: ENOENT");
  });

  Deno.test(`${b} mknod() creates fifos, and char/block devices as root`, () => {
    const d = tmp();
    try {
      sc.mknod(`${d}/fifo`, S_IF.fifo | 0o600, 0, 0);
      assertEquals(Deno.lstatSync(`${d}/fifo`).isFifo, true);
      if (isRoot()) {
        sc.mknod(`${d}/null`, S_IF.char | 0o666, 1, 3);
        sc.mknod(`${d}/big`, S_IF.block | 0o600, 4095, 300000);
        const out = spawnSync("stat", ["-c", "%F %Hr %Lr", `${d}/null`, `${d}/big`]).stdout.toString().trim().split(
          "\n",
        );
        assertEquals(out, ["character special file 1 3", "block special file 4095 300000"]);
        assertEquals(splitDev(Deno.lstatSync(`${d}/big`).rdev!), [4095, 300000]);
      }
      const e = assertThrows(() => sc.mknod(`${d}/fifo`, S_IF.fifo | 0o600, 0, 0), KilnError);
      assertStringIncludes(e.message, `${d}/fifo: EEXIST`);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
}

Deno.test("default-backend functions work and agree", () => {
  const d = tmp();
  try {
    writeFileSync(`${d}/f`, "");
    lsetxattr(`${d}/f`, "user.k", new Uint8Array([5, 0]));
    assertEquals(lgetxattr(`${d}/f`, "user.k"), new Uint8Array([5, 0]));
    assertEquals(llistxattr(`${d}/f`), ["user.k"]);
    assertEquals(lgetxattrs(`${d}/f`), { "user.k": new Uint8Array([5, 0]) });
    mknod(`${d}/p`, S_IF.fifo | 0o644, 0, 0);
    assert(Deno.lstatSync(`${d}/p`).isFifo);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

Deno.test("makedev()/splitDev() round-trip like glibc", () => {
  assertEquals(makedev(1, 3), 0x103n);
  assertEquals(makedev(8, 1), 0x801n);
  for (const [ma, mi] of [[0, 0], [1, 3], [259, 70000], [4095, 255], [4096, 256], [65535, 1048575]] as const) {
    assertEquals(splitDev(Number(makedev(ma, mi))), [ma, mi]);
  }
});

Deno.test("createSyscalls() says clearly when no backend is available", () => {
  const e = assertThrows(() => createSyscalls({ prefer: "native", addonPath: "/nonexistent.node" }), KilnError);
  assertStringIncludes(e.message, "xattrs not supported on this runtime");
});

Deno.test("syscalls: without --allow-ffi and without the addon there is no backend", () => {
  const d = tmp();
  try {
    const script = `${d}/probe.ts`;
    writeFileSync(
      script,
      `import { trySyscalls, createSyscalls } from "${new URL("../../../lib/fs/syscalls.ts", import.meta.url).href}";
console.log(String(trySyscalls({ prefer: "ffi" })));
try { createSyscalls({ prefer: "ffi" }); } catch (e) { console.log(e.message); }`,
    );
    const r = spawnSync(Deno.execPath(), ["run", "--no-prompt", "--allow-read", "--allow-env", script]);
    const out = r.stdout.toString() + r.stderr.toString();
    assertStringIncludes(out, "undefined\n");
    assertStringIncludes(out, "xattrs not supported on this runtime");
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

Deno.test({
  name: "native copyFiles(): content, owner, mode after chown (setuid kept), times; exclusive, no symlinks, cleans up",
  ignore: !loadAddon().ok || skipUnless("copyFiles owner checks", "root"),
  async fn() {
    const sc = createSyscalls({ prefer: "native" });
    assert(sc.copyFiles, "the addon has copyFiles");
    const d = tmp();
    const src = `${d}/src`;
    writeFileSync(src, "x".repeat(100_000));
    symlinkSync("/etc/kiln-must-not-exist", `${d}/link`);
    symlinkSync(src, `${d}/srclink`);
    writeFileSync(`${d}/exists`, "keep");
    const one = [0o4755, 1234, 567, 1_600_000_000_123.5, 1_500_000_000_987.25];
    const jobs: [string, string][] = [
      [src, `${d}/dst`], // copied
      [src, `${d}/exists`], // EEXIST: never overwritten
      [src, `${d}/link`], // a symlink at the target: never written through
      [`${d}/srclink`, `${d}/via`], // a symlink source: not followed
      [`${d}/missing`, `${d}/m`], // ENOENT
    ];
    const meta = new Float64Array(jobs.flatMap(() => one));
    const res = await sc.copyFiles(jobs.map((j) => j[0]), jobs.map((j) => j[1]), meta, false);
    assertEquals([...res], [0, -17, -17, -40, -2]); // EEXIST, EEXIST, ELOOP, ENOENT
    const st = Deno.lstatSync(`${d}/dst`);
    assertEquals([st.size, st.mode! & 0o7777, st.uid, st.gid], [100_000, 0o4755, 1234, 567]);
    assertEquals(st.mtime!.getTime(), 1_500_000_000_987);
    assertEquals(Deno.readTextFileSync(`${d}/dst`), "x".repeat(100_000));
    assertEquals(Deno.readTextFileSync(`${d}/exists`), "keep");
    assertThrows(() => Deno.lstatSync("/etc/kiln-must-not-exist"));
    assertThrows(() => Deno.lstatSync(`${d}/via`));
    assertThrows(() => Deno.lstatSync(`${d}/m`));
    // xattrs are reported, not copied (the caller filters the host's and sets them after the chown).
    let userXattrs = true;
    try {
      sc.lsetxattr(src, "user.k", new Uint8Array([49]));
    } catch {
      userXattrs = false; // a filesystem without user xattrs
    }
    if (userXattrs) assertEquals([...await sc.copyFiles([src], [`${d}/x`], new Float64Array(one), false)], [1]);
    rmSync(d, { recursive: true });
  },
});
