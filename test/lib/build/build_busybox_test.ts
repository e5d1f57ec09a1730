/**
 * build() on the busybox base image from a test registry: RUN in the sandbox, deletes, type changes, hardlinks,
 * setuid files, xattrs, long paths, many files, users; outputs pushed to the registry, written as docker-archive
 * and digest files; every image checked with skopeo, umoci + python3 and podman run.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "../../../lib/build/build.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { createLogger } from "../../../lib/util/logger.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { type BusyboxRegistry, startBusyboxRegistry } from "../../fixtures/busybox_image.ts";
import { freePort } from "../../fixtures/registry.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../../assert.ts";
import { buildToLayout, leftovers, makeContext, podmanRun, podmanStorage, sh, unpackLayout } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("busybox build tests", "umoci", "skopeo", "python3", "busybox", "docker-registry", "root");
const podmanIgnore = ignore || skipUnless("podman run checks", "podman", "runc");

let bb: BusyboxRegistry | undefined;
async function busybox(): Promise<BusyboxRegistry> {
  return bb ??= await startBusyboxRegistry();
}
const registryOpts = (b: BusyboxRegistry) => ({ insecureRegistries: [b.registry.host] });

const FS_DOCKERFILE = `
ARG BASE
FROM \${BASE}
ARG COUNT=300
RUN mkdir -p /data/dir/sub /data/typechange /data/replaced && echo keep > /data/keep && echo del > /data/del \\
 && echo x > /data/dir/sub/f && ln -s /data/keep /data/link && echo t > /data/typechange/f \\
 && echo old > /data/replaced/old
RUN rm /data/del && rm -rf /data/dir && rm -rf /data/typechange && echo file > /data/typechange \\
 && mv /data/replaced /data/replaced.bak && mkdir /data/replaced && echo new > /data/replaced/new \\
 && rm -rf /data/replaced.bak && rm /data/link && mkdir /data/link
RUN echo shared > /data/h1 && ln /data/h1 /data/h2 && mkdir -p /data/other && ln /data/h1 /data/other/h3 \\
 && cp /bin/busybox /data/suid && chmod 4755 /data/suid && chmod 2750 /data/other && chown 1000:50 /data/other \\
 && mkfifo /data/fifo
RUN d=/data/long; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do d=$d/component-number-$i; done; mkdir -p $d \\
 && echo deep > $d/a-file-with-a-rather-long-name-to-go-past-the-ustar-limits.txt
RUN mkdir /data/many && cd /data/many && i=0; while [ $i -lt $COUNT ]; do echo $i > f$i; i=$((i+1)); done
COPY --chown=app:staff xattr.bin /data/xattr.bin
USER app
WORKDIR /home/app/w
RUN echo "$(id -u):$(id -g) $HOME $PWD" > /home/app/w/whoami && touch /tmp/as-app
`;

Deno.test({
  name: "build() on a registry base: RUN changes become correct layers (umoci + python3 file-by-file check)",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await busybox();
    const ctx = makeContext({ "xattr.bin": "has xattrs\n" });
    sh("python3", [
      "-c",
      "import os,sys; os.setxattr(sys.argv[1], 'user.kiln', b'yes'); " +
      "os.setxattr(sys.argv[1], 'security.capability', bytes.fromhex('0100000200100000000000000000000000000000'))",
      join(ctx, "xattr.bin"),
    ]);
    const built = await buildToLayout(ctx, FS_DOCKERFILE, {
      buildArgs: { BASE: b.ref },
      registry: registryOpts(b),
    });
    const { files } = unpackLayout(built.layout);
    // deletions
    assertEquals(files["/data/del"], undefined);
    assertEquals(files["/data/dir"], undefined);
    assertEquals(files["/data/replaced/old"], undefined);
    assertEquals(files["/data/replaced/new"]?.type, "f");
    // type changes
    assertEquals(files["/data/typechange"]?.type, "f");
    assertEquals(files["/data/typechange/f"], undefined);
    assertEquals(files["/data/link"]?.type, "d");
    // hardlinks
    const h1 = files["/data/h1"]!, h2 = files["/data/h2"]!, h3 = files["/data/other/h3"]!;
    assertEquals([h1.nlink, h1.ino === h2.ino, h1.ino === h3.ino], [3, true, true]);
    // setuid/setgid, ownership, fifo
    assertEquals(files["/data/suid"]?.mode, 0o4755);
    assertEquals([files["/data/other"]?.mode, files["/data/other"]?.uid, files["/data/other"]?.gid], [
      0o2750,
      1000,
      50,
    ]);
    assertEquals(files["/data/fifo"]?.type, "p");
    // long paths
    const deep = Object.keys(files).find((p) => p.endsWith("ustar-limits.txt"));
    assert(deep && deep.length > 256, `long path: ${deep}`);
    // many files
    assertEquals(Object.keys(files).filter((p) => p.startsWith("/data/many/")).length, 300);
    assertEquals(files["/data/many/f299"]?.size, 4);
    // xattrs and --chown by name
    const x = files["/data/xattr.bin"]!;
    assertEquals(x.xattrs["user.kiln"], "796573");
    assertEquals(x.xattrs["security.capability"], "0100000200100000000000000000000000000000");
    assertEquals([x.uid, x.gid], [1000, 50]);
    // USER + WORKDIR
    assertEquals([files["/home/app/w"]?.uid, files["/home/app/w"]?.gid], [1000, 1000]);
    assertEquals(
      readFileSync(join(unpackLayout(built.layout).rootfs, "home/app/w/whoami"), "utf8"),
      "1000:1000 /home/app /home/app/w\n",
    );
    // base content untouched; no sandbox mount points leaked into layers
    assertEquals(files["/bin/busybox"]?.type, "f");
    for (const p of ["/proc/self", "/dev/null", "/sys/kernel", "/etc/resolv.conf"]) {
      assertEquals(files[p], undefined, p);
    }
    rmSync(ctx, { recursive: true });
  },
});

Deno.test({
  name: "build() pushes to the registry, writes docker-archive and digest files; skopeo and podman agree",
  ignore: podmanIgnore,
  sanitizeResources: false,
  async fn() {
    const b = await busybox();
    const ctx = makeContext({ "msg.txt": "from the context\n" });
    const out = tempDir("kiln-out-");
    const dest = `${b.registry.host}/built/app:v1`;
    const result = await build({
      context: ctx,
      dockerfileText: [
        `FROM ${b.ref}`,
        "COPY msg.txt /msg.txt",
        "RUN echo built > /built.txt",
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["cat /msg.txt /built.txt"]',
      ].join("\n"),
      outputs: {
        destinations: [dest, `${b.registry.host}/built/app:latest`],
        tarPath: join(out, "image.tar"),
        digestFile: join(out, "digest"),
        imageNameWithDigestFile: join(out, "names"),
        imageNameTagWithDigestFile: join(out, "tags"),
      },
      registry: registryOpts(b),
      workDir: join(out, "work"),
    }, { logger: createLogger({ level: "warn" }) });
    assertEquals(readFileSync(join(out, "digest"), "utf8"), result.digest);
    assertEquals(
      readFileSync(join(out, "names"), "utf8"),
      `${b.registry.host}/built/app@${result.digest}\n${b.registry.host}/built/app@${result.digest}\n`,
    );
    assertMatch(readFileSync(join(out, "tags"), "utf8"), new RegExp(`/built/app:v1@${result.digest}\n`));
    const insp = JSON.parse(sh("skopeo", ["inspect", "--tls-verify=false", `docker://${dest}`]));
    assertEquals(insp.Digest, result.digest);
    const arch = JSON.parse(sh("skopeo", ["inspect", `docker-archive:${join(out, "image.tar")}`]));
    assertEquals(arch.Layers.length, result.manifest.layers.length);
    assertEquals(leftovers(join(out, "work")), []);
    const storage = podmanStorage();
    try {
      assertEquals(podmanRun(`docker://${dest}`, [], storage), "from the context\nbuilt\n");
    } finally {
      storage.reset();
    }
    rmSync(out, { recursive: true, force: true });
  },
});

Deno.test({
  name: "build() from an oci-layout build context needs no registry",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await busybox();
    const ctx = makeContext({});
    const built = await buildToLayout(ctx, "FROM base\nRUN echo ok > /ok\n", {
      buildContexts: { base: `oci-layout://${b.layoutDir}:latest` },
    });
    const { files } = unpackLayout(built.layout);
    assertEquals(files["/ok"]?.size, 3);
    assertEquals(files["/bin/busybox"]?.type, "f");
  },
});

Deno.test({
  name: "build() errors are one line: failing RUN, unknown base image, unreachable registry; nothing left behind",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await busybox();
    const ctx = makeContext({});
    const work = tempDir("kiln-work-");
    const common = { context: ctx, outputs: { noPush: true }, workDir: work, registry: registryOpts(b) };
    const e1 = await assertRejects(
      () => build({ ...common, dockerfileText: `FROM ${b.ref}\nRUN true\nRUN exit 3\n` }),
      KilnError,
    );
    assertEquals(e1.message, 'Dockerfile:3: step 2/2 "RUN exit 3" failed: exit code 3');
    const e2 = await assertRejects(
      () => build({ ...common, dockerfileText: `FROM ${b.registry.host}/no/such:image\n` }),
      KilnError,
    );
    assertMatch(e2.message, /^Dockerfile:1: FROM 127\.0\.0\.1:\d+\/no\/such:image: /);
    assert(!e2.message.includes("\n"));
    const port = await freePort();
    const e3 = await assertRejects(
      () =>
        build({
          ...common,
          dockerfileText: `FROM 127.0.0.1:${port}/busybox\n`,
          registry: { insecureRegistries: [`127.0.0.1:${port}`] },
        }),
      KilnError,
    );
    assertMatch(e3.message, /^Dockerfile:1: FROM 127\.0\.0\.1:\d+\/busybox: /);
    assertEquals(leftovers(work), []);
    const tags = sh("skopeo", ["list-tags", "--tls-verify=false", `docker://${b.registry.host}/busybox`]);
    assertEquals(JSON.parse(tags).Tags, ["latest"]);
    rmSync(ctx, { recursive: true });
  },
});

Deno.test({
  name: "build() runs several builds at once, each in its own sandbox and work dir",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await busybox();
    const ctx = makeContext({});
    const results = await Promise.all(
      [1, 2, 3].map((n) =>
        buildToLayout(ctx, `FROM base\nRUN echo build-${n} > /which && sleep 0.2\n`, {
          buildContexts: { base: `oci-layout://${b.layoutDir}:latest` },
        })
      ),
    );
    for (const [i, r] of results.entries()) {
      const { rootfs } = unpackLayout(r.layout);
      assertEquals(readFileSync(join(rootfs, "which"), "utf8"), `build-${i + 1}\n`);
    }
    assertEquals(new Set(results.map((r) => r.result.digest)).size, 3);
  },
});

Deno.test({
  name: "build() fails with one line when a --destination registry is unreachable, and writes no digest file",
  ignore,
  sanitizeResources: false,
  async fn() {
    const b = await busybox();
    const ctx = makeContext({});
    const out = tempDir("kiln-out-");
    const port = await freePort();
    const e = await assertRejects(
      () =>
        build({
          context: ctx,
          dockerfileText: "FROM base\nRUN echo x > /x\n",
          buildContexts: { base: `oci-layout://${b.layoutDir}:latest` },
          outputs: { destinations: [`127.0.0.1:${port}/app:1`], digestFile: join(out, "digest") },
          registry: { insecureRegistries: [`127.0.0.1:${port}`], pushRetry: 0 },
          workDir: join(out, "work"),
        }),
      KilnError,
    );
    assert(!e.message.includes("\n"), e.message);
    assertMatch(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert(!leftovers(out).includes("digest"), "no digest file");
    assertEquals(leftovers(join(out, "work")), []);
    rmSync(out, { recursive: true, force: true });
  },
});

Deno.test({
  name: "busybox fixture teardown",
  ignore,
  sanitizeResources: false,
  async fn() {
    await bb?.stop();
    bb = undefined;
  },
});
