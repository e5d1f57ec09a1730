/**
 * The escapes an attack on kiln found, as Dockerfiles through build(): a root RUN that mknods the host's disk and
 * mounts it, a RUN that remounts its read-only context bind read-write, and a `USER app` step writing through a 0666
 * `c 1,11` (/dev/kmsg) node that came in the base image. Each RUN checks that its attack failed (the build fails
 * otherwise), and the test checks the host's /, the context and kiln's work dir afterwards.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { buildBusyboxLayout } from "../../fixtures/busybox_image.ts";
import { REPO_ROOT, skipUnless } from "../../fixtures/tools.ts";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { treeDiff, treeState } from "../sandbox/_helpers.ts";
import { buildToLayout, leftovers, makeContext } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("sandbox attack through build()", "root", "umoci", "cc", "busybox", "mknod");

Deno.test({
  name: "build() sandbox attack: host disk mount, context remount and base-image device nodes all fail",
  ignore,
  async fn() {
    const dir = tempDir("kiln-attack-");
    try {
      // A base image whose layer has a world-writable /dev/kmsg node at /kmsg (made on the host, packed by umoci).
      const layout = buildBusyboxLayout(join(dir, "base"), {
        prepare(rootfs) {
          const r = spawnSync("mknod", ["-m", "0666", join(rootfs, "kmsg"), "c", "1", "11"]);
          if (r.status !== 0) throw new Error("mknod failed");
        },
      });
      const ctx = makeContext({ "keep.txt": "original\n" });
      const cc = spawnSync("cc", [
        "-O2",
        "-static",
        "-o",
        join(ctx, "escape"),
        `${REPO_ROOT}/test/fixtures/attack/escape.c`,
      ]);
      assertEquals(cc.status, 0, "compile the attack program");
      const dev = BigInt(statSync("/", { bigint: true }).dev);
      const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
      const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
      const marker = `kiln-pwned-${crypto.randomUUID()}`;
      const dockerfile = [
        "FROM base",
        "COPY escape /bin/escape",
        // The attack as reported: mknod the host's root disk, mount it, write a file on it.
        `RUN mknod /tmp/d b ${major} ${minor} && mount /tmp/d /mnt && touch /mnt/${marker}; test ! -e /mnt/${marker}`,
        `RUN /bin/escape blockdev ${major} ${minor} /mnt2 | tee /tmp/r && grep -qx 'open-blk EACCES' /tmp/r` +
        ` && grep -qx 'mount-ext4 EPERM' /tmp/r`,
        // A read-only context bind remounted read-write.
        "RUN --mount=type=bind,target=/b sh -c 'mount -o remount,rw,bind /b; echo pwn > /b/x'; test ! -e /b/x",
        "RUN --mount=type=bind,target=/b /bin/escape remount /b | grep -qx 'write-after-remount EROFS'",
        // /sys and /proc/sys.
        "RUN mount -o remount,rw /sys; ! touch /sys/kernel/kiln 2>/dev/null && ! sh -c 'echo 1 > /proc/sys/vm/drop_caches'",
        // The base image's device node, as a non-root user and as root.
        "USER app",
        "RUN /bin/escape opendev /kmsg | grep -qx 'open-dev EACCES' && ! sh -c 'echo pwn > /kmsg' 2>/dev/null",
        "USER root",
        "RUN /bin/escape opendev /kmsg | grep -qx 'open-dev EACCES'",
        "",
      ].join("\n");
      const hostRoot = readdirSync("/").sort();
      const before = treeState(ctx);
      const built = await buildToLayout(ctx, dockerfile, {
        buildContexts: { base: `oci-layout://${layout}:latest` },
      });
      assertEquals(readdirSync("/").sort(), hostRoot);
      assertEquals(existsSync(`/${marker}`), false);
      assertEquals(treeDiff(before, treeState(ctx)), []);
      assertEquals(leftovers(join(built.layout, "..", "work")), []);
      rmSync(join(built.layout, ".."), { recursive: true, force: true });
      rmSync(ctx, { recursive: true, force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "build() RUN --security=insecure needs --allow security.insecure, and then runs with every capability",
  ignore,
  async fn() {
    const dir = tempDir("kiln-insecure-");
    try {
      const layout = buildBusyboxLayout(join(dir, "base"));
      const ctx = makeContext({});
      const dockerfile = [
        "FROM base",
        // Confined: Docker's capabilities. Insecure: kiln's own (all, as root), and mount works.
        "RUN grep -qx 'CapEff:.00000000a80425fb' /proc/self/status",
        "RUN --security=insecure ! grep -qx 'CapEff:.00000000a80425fb' /proc/self/status && mkdir /m && mount -t tmpfs t /m",
        "",
      ].join("\n");
      const opts = { buildContexts: { base: `oci-layout://${layout}:latest` } };
      await assertRejects(() => buildToLayout(ctx, dockerfile, opts), KilnError, "--allow security.insecure");
      const built = await buildToLayout(ctx, dockerfile, { ...opts, allow: ["security.insecure"] });
      assert(built.result.digest.startsWith("sha256:"));
      rmSync(join(built.layout, ".."), { recursive: true, force: true });
      rmSync(ctx, { recursive: true, force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
