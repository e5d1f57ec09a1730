import { mkdirSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { defaultIgnoreList, detectContainer, ignorePathsFromMountInfo } from "../../../lib/sandbox/mod.ts";
import { assertEquals } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";

const MOUNTINFO = [
  "22 27 0:21 / /proc rw,relatime - proc proc rw",
  "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw",
  "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
  "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw",
  "40 27 0:40 / /workspace/with\\040space rw - tmpfs tmpfs rw",
  "41 27 0:41 /etc/hosts /etc/hosts rw - ext4 /dev/vda rw",
  "42 27 0:42 / /srv/build/rootfs/proc rw - proc proc rw",
  "43 27 0:43 / /srv/build/rootfs rw - tmpfs tmpfs rw",
  "44 27 0:21 / /proc rw,relatime - proc proc rw",
  "",
].join("\n");

Deno.test("ignorePathsFromMountInfo() lists mount points, unescaped, sorted, without /", () => {
  assertEquals(ignorePathsFromMountInfo(MOUNTINFO), [
    "/dev/shm",
    "/etc/hosts",
    "/proc",
    "/srv/build/rootfs",
    "/srv/build/rootfs/proc",
    "/sys",
    "/workspace/with space",
  ]);
});

Deno.test("ignorePathsFromMountInfo() makes paths relative to a rootDir", () => {
  assertEquals(ignorePathsFromMountInfo(MOUNTINFO, { rootDir: "/srv/build/rootfs/" }), ["/proc"]);
  assertEquals(ignorePathsFromMountInfo(MOUNTINFO, { rootDir: "/srv/build/root" }), []);
});

Deno.test("ignorePathsFromMountInfo() reads this process's real mountinfo", () => {
  const text = Deno.readTextFileSync("/proc/self/mountinfo");
  const paths = ignorePathsFromMountInfo(text);
  assertEquals(paths.includes("/proc"), true);
  assertEquals(paths.includes("/"), false);
});

Deno.test("defaultIgnoreList() builds kaniko's in-place list and only user paths in sandbox mode", () => {
  assertEquals(
    defaultIgnoreList({
      mode: "in-place",
      mountInfo: MOUNTINFO,
      kilnDir: "/kiln/",
      ignorePaths: ["/cache/", "/x/../y"],
    }),
    [
      "/busybox",
      "/cache",
      "/dev/shm",
      "/etc/hosts",
      "/etc/mtab",
      "/kaniko",
      "/kiln",
      "/proc",
      "/srv/build/rootfs",
      "/srv/build/rootfs/proc",
      "/sys",
      "/var/run",
      "/workspace/with space",
      "/y",
    ],
  );
  assertEquals(defaultIgnoreList({ mode: "in-place", kilnDir: "/kiln", ignoreVarRun: false }), [
    "/busybox",
    "/etc/mtab",
    "/kaniko",
    "/kiln",
  ]);
  assertEquals(
    defaultIgnoreList({ mode: "sandbox", mountInfo: MOUNTINFO, kilnDir: "/kiln", ignorePaths: ["/cache", "/"] }),
    ["/cache"],
  );
});

Deno.test("detectContainer() finds runtime markers, the container variable and cgroup names", async () => {
  const root = tempDir("kiln-detect-test-");
  try {
    assertEquals(detectContainer({ root, env: {} }), { inContainer: false });
    assertEquals(detectContainer({ root, env: { container: "" } }), { inContainer: false });
    assertEquals(detectContainer({ root, env: { container: "oci" } }), { inContainer: true, reason: "container=oci" });
    mkdirSync(`${root}/proc/1`, { recursive: true });
    writeFileSync(`${root}/proc/1/cgroup`, "0::/\n");
    assertEquals(detectContainer({ root }).inContainer, false);
    writeFileSync(`${root}/proc/1/cgroup`, "12:pids:/kubepods/besteffort/pod1/abc\n");
    assertEquals(detectContainer({ root }), { inContainer: true, reason: "/proc/1/cgroup mentions kubepods" });
    mkdirSync(`${root}/run`);
    writeFileSync(`${root}/run/.containerenv`, "");
    assertEquals(detectContainer({ root }), { inContainer: true, reason: "/run/.containerenv exists" });
    writeFileSync(`${root}/.dockerenv`, "");
    assertEquals(detectContainer({ root }), { inContainer: true, reason: "/.dockerenv exists" });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
