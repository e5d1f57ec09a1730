import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { resolveUser, SandboxError } from "../../../lib/sandbox/mod.ts";
import { assertEquals, assertRejects } from "../../assert.ts";
import { GROUP, PASSWD } from "../../fixtures/busybox_rootfs.ts";
import { tempDir } from "../../fixtures/temp.ts";

async function withRoot(fn: (root: string) => Promise<void>, files: { passwd?: string; group?: string } = {}) {
  const root = tempDir("kiln-user-test-");
  try {
    mkdirSync(`${root}/etc`);
    if (files.passwd !== "") writeFileSync(`${root}/etc/passwd`, files.passwd ?? PASSWD);
    if (files.group !== "") writeFileSync(`${root}/etc/group`, files.group ?? GROUP);
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

Deno.test("resolveUser() resolves names with their supplementary groups and home", () =>
  withRoot(async (root) => {
    assertEquals(await resolveUser(root, "app"), { uid: 1000, gid: 1000, groups: [10, 50], home: "/home/app" });
    assertEquals(await resolveUser(root, "root"), { uid: 0, gid: 0, groups: [10], home: "/root" });
    assertEquals(await resolveUser(root, ""), { uid: 0, gid: 0, groups: [10], home: "/root" });
    assertEquals(await resolveUser(root, "nobody"), { uid: 65534, gid: 65534, groups: [], home: "/nonexistent" });
  }));

Deno.test("resolveUser() accepts numeric ids with or without entries", () =>
  withRoot(async (root) => {
    assertEquals(await resolveUser(root, "1000"), { uid: 1000, gid: 1000, groups: [10, 50], home: "/home/app" });
    assertEquals(await resolveUser(root, "4242"), { uid: 4242, gid: 0, groups: [], home: "/" });
    assertEquals(await resolveUser(root, "4242", { defaultHome: "/home/x" }), {
      uid: 4242,
      gid: 0,
      groups: [],
      home: "/home/x",
    });
    assertEquals(await resolveUser(root, "4242:4343"), { uid: 4242, gid: 4343, groups: [], home: "/" });
  }));

Deno.test("resolveUser() takes an explicit group by name or id, without supplementary groups", () =>
  withRoot(async (root) => {
    assertEquals(await resolveUser(root, "app:staff"), { uid: 1000, gid: 50, groups: [], home: "/home/app" });
    assertEquals(await resolveUser(root, "app:10"), { uid: 1000, gid: 10, groups: [], home: "/home/app" });
    assertEquals(await resolveUser(root, "1000:777"), { uid: 1000, gid: 777, groups: [], home: "/home/app" });
  }));

Deno.test("resolveUser() names the user or group and the file when a name is unknown", () =>
  withRoot(async (root) => {
    await assertRejects(
      () => resolveUser(root, "ghost"),
      SandboxError,
      'Cannot resolve USER "ghost": unable to find user ghost: no matching entries in /etc/passwd',
    );
    await assertRejects(
      () => resolveUser(root, "app:ghosts"),
      SandboxError,
      'Cannot resolve USER "app:ghosts": unable to find group ghosts: no matching entries in /etc/group',
    );
    await assertRejects(() => resolveUser(root, ":staff"), SandboxError, "the user part is empty");
  }));

Deno.test("resolveUser() works without /etc/passwd for numeric users and root (0:0, as Docker and kaniko)", () =>
  withRoot(async (root) => {
    assertEquals(await resolveUser(root, "10:20"), { uid: 10, gid: 20, groups: [], home: "/" });
    assertEquals(await resolveUser(root, "root"), { uid: 0, gid: 0, groups: [], home: "/" });
    assertEquals(await resolveUser(root, "root:root"), { uid: 0, gid: 0, groups: [], home: "/" });
    assertEquals(await resolveUser(root, "0"), { uid: 0, gid: 0, groups: [], home: "/" });
    await assertRejects(() => resolveUser(root, "app"), SandboxError, "the image has no /etc/passwd");
    await assertRejects(() => resolveUser(root, "root:staff"), SandboxError, "unable to find group staff");
  }, { passwd: "", group: "" }));

Deno.test("resolveUser() follows an /etc symlink inside the rootfs, never onto the host", async () => {
  const root = tempDir("kiln-user-test-");
  try {
    mkdirSync(`${root}/data/etc`, { recursive: true });
    writeFileSync(`${root}/data/etc/passwd`, "inside:x:7:7::/in:/bin/sh\n");
    symlinkSync("/data/etc", `${root}/etc`);
    assertEquals(await resolveUser(root, "inside"), { uid: 7, gid: 7, groups: [], home: "/in" });
    // ".." stops at the rootfs: a link climbing out lands inside it.
    await rm(`${root}/etc`);
    mkdirSync(`${root}/etc`);
    writeFileSync(`${root}/etc/pw-inside`, "inside2:x:8:8::/in2:/bin/sh\n");
    symlinkSync("../../../../../../../../etc/pw-inside", `${root}/etc/passwd`);
    assertEquals(await resolveUser(root, "inside2"), { uid: 8, gid: 8, groups: [], home: "/in2" });
    // An absolute link to /etc means the rootfs's own /etc: here a loop.
    await rm(`${root}/etc`, { recursive: true });
    symlinkSync("/etc", `${root}/etc`);
    await assertRejects(() => resolveUser(root, "root"), SandboxError, "too many symbolic links");
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
