/**
 * Attacks on the sandbox: a RUN step (root, or the image's user) tries every way out that an attack on kiln found or
 * that Docker's default confinement closes — mknod + mount of the host's disk, remounting a read-only context bind
 * or /sys read-write, writing /proc/sys, device nodes in the rootfs, namespaces, keyrings, bpf, open_by_handle_at,
 * ptrace, chroot escapes, inherited fds, host paths in /proc/1/cmdline — with a real static attack program
 * (test/fixtures/attack/escape.c), and checks both that each call fails and that nothing outside the rootfs changed.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createSandbox, resolveUser } from "../../../lib/sandbox/mod.ts";
import type { RunStep, Sandbox, StepUser } from "../../../lib/sandbox/mod.ts";
import { assert, assertEquals, assertStringIncludes } from "../../assert.ts";
import { hasCommand, REPO_ROOT } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { makeFixture, sandboxSkipReason, treeDiff, treeState } from "./_helpers.ts";
import type { Fixture } from "./_helpers.ts";

const skipReason = sandboxSkipReason() ?? (hasCommand("cc") ? undefined : "no C compiler for the attack program");
if (skipReason) console.error(`SKIP sandbox attack tests: ${skipReason}`);
const ignore = skipReason !== undefined;

const ROOT_USER: StepUser = { uid: 0, gid: 0, groups: [], home: "/root" };

let compiled: string | undefined;

/** Puts the attack program, compiled statically once per file, at `dest`. */
function compileEscape(dest: string): void {
  if (compiled === undefined) {
    const out = `${tempDir("kiln-escape-bin-", { scope: "file" })}/escape`;
    const r = spawnSync("cc", ["-O2", "-static", "-o", out, `${REPO_ROOT}/test/fixtures/attack/escape.c`], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`cannot compile the attack program: ${r.stderr}`);
    compiled = out;
  }
  copyFileSync(compiled, dest);
  chmodSync(dest, 0o755);
}

/** Runs `escape ARGS` in the sandbox; returns "NAME RESULT" pairs as a map, and the exit code. */
async function attack(
  sb: Sandbox,
  args: string[],
  step: Partial<RunStep> = {},
): Promise<{ exitCode: number; results: Map<string, string>; out: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const r = await sb.run({
    argv: ["/bin/escape", ...args],
    env: ["PATH=/bin"],
    cwd: "/",
    user: ROOT_USER,
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    ...step,
  });
  const results = new Map<string, string>();
  for (const line of out) {
    const [name, result] = line.split(" ");
    if (name !== undefined && result !== undefined) results.set(name, result);
  }
  assertEquals(err, [], `stderr of escape ${args.join(" ")}`);
  return { exitCode: r.exitCode, results, out };
}

interface AttackFixture extends Fixture {
  sb: Sandbox;
  /** A host directory outside the rootfs (a build context, say) that must stay as it is. */
  outside: string;
}

async function withAttack(fn: (fx: AttackFixture) => Promise<void>): Promise<void> {
  const fx = await makeFixture();
  compileEscape(`${fx.root}/bin/escape`);
  const outside = `${fx.dir}/outside`;
  mkdirSync(outside);
  writeFileSync(`${outside}/keep.txt`, "original\n");
  chmodSync(fx.root, 0o755);
  const sb = await createSandbox({ rootDir: fx.root, workDir: fx.work });
  const hostRoot = readdirSync("/").sort();
  const before = treeState(outside);
  try {
    await fn({ ...fx, sb, outside });
  } finally {
    await sb.close();
    // Nothing outside the rootfs changed: the host's / and the directory beside the rootfs.
    assertEquals(readdirSync("/").sort(), hostRoot);
    assertEquals(treeDiff(before, treeState(outside)), []);
    assertEquals(readFileSync(`${outside}/keep.txt`, "utf8"), "original\n");
    await fx.dispose();
  }
}

/** What each attempt of `escape syscalls` must give: EPERM unless listed. */
const ALLOWED: Record<string, string> = {
  "clone-plain": "ok",
  "clone3": "ENOSYS", // so that the C library falls back to clone, whose flags the filter checks
  "personality-query": "ok",
  "socket-inet": "ok",
  "getpid": "ok",
  "i386-getpid": "ok",
};

Deno.test({
  name: "sandbox attack: namespaces, mounts, modules, keys, bpf, time, handles and 32-bit syscalls are refused",
  ignore,
  fn: () =>
    withAttack(async ({ sb }) => {
      const { exitCode, results } = await attack(sb, ["syscalls"]);
      assertEquals(exitCode, 0);
      assert(results.size >= 38, `only ${results.size} attempts reported`);
      const wrong: string[] = [];
      for (const [name, result] of results) {
        const want = ALLOWED[name] ?? "EPERM";
        if (result !== want) wrong.push(`${name}: ${result}, expected ${want}`);
      }
      assertEquals(wrong, []);
    }),
});

Deno.test({
  name: "sandbox attack: a root step has Docker's default capabilities, a USER step none",
  ignore,
  fn: () =>
    withAttack(async ({ sb, root }) => {
      const caps = async (user: StepUser) => {
        const lines: string[] = [];
        await sb.run({
          argv: ["/bin/sh", "-c", "grep ^Cap /proc/self/status"],
          env: [],
          cwd: "/",
          user,
          stdout: (l) => lines.push(l.replace(/\s+/, " ")),
        });
        return lines;
      };
      assertEquals(await caps(ROOT_USER), [
        "CapInh: 0000000000000000",
        "CapPrm: 00000000a80425fb",
        "CapEff: 00000000a80425fb",
        "CapBnd: 00000000a80425fb",
        "CapAmb: 0000000000000000",
      ]);
      const app = await resolveUser(root, "app");
      assertEquals(await caps(app), [
        "CapInh: 0000000000000000",
        "CapPrm: 0000000000000000",
        "CapEff: 0000000000000000",
        "CapBnd: 00000000a80425fb",
        "CapAmb: 0000000000000000",
      ]);
    }),
});

Deno.test({
  name: "sandbox attack: mknod of the host's disk and mounting it fail; the host's / is untouched",
  ignore,
  fn: () =>
    withAttack(async ({ sb }) => {
      const dev = BigInt(statSync("/", { bigint: true }).dev);
      const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
      const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
      const { results } = await attack(sb, ["blockdev", String(major), String(minor), "/mnt"]);
      // Docker's capabilities include MKNOD, but the rootfs is nodev: the node cannot be opened, and mount is refused.
      assertEquals(results.get("mknod"), "ok");
      assertEquals(results.get("open-blk"), "EACCES");
      for (const fs of ["ext4", "xfs", "btrfs"]) assertEquals(results.get(`mount-${fs}`), "EPERM");
      // The write went to the rootfs's /mnt, not to a mounted host disk.
      assertEquals(existsSync("/mnt/kiln-pwned"), false);
      assertEquals(existsSync("/kiln-pwned"), false);
    }),
});

Deno.test({
  name: "sandbox attack: device nodes in the rootfs (e.g. from a base layer) are unusable, for root and USER steps",
  ignore,
  fn: () =>
    withAttack(async ({ sb, root }) => {
      // What a base layer with `c 1,11` (/dev/kmsg) and `c 1,3` (/dev/null) nodes extracts to.
      for (const [name, minor] of [["kmsg", 11], ["null", 3]] as const) {
        const r = spawnSync("mknod", ["-m", "0666", `${root}/${name}`, "c", "1", String(minor)]);
        assertEquals(r.status, 0, `mknod ${name}`);
      }
      const app = await resolveUser(root, "app");
      for (const user of [ROOT_USER, app]) {
        for (const name of ["kmsg", "null"]) {
          const { results } = await attack(sb, ["opendev", `/${name}`], { user });
          assertEquals(results.get("open-dev"), "EACCES", `uid ${user.uid} opening /${name}`);
        }
      }
      // The minimal /dev kiln provides works.
      const { results } = await attack(sb, ["opendev", "/dev/null"], { user: app });
      assertEquals(results.get("open-dev"), "ok");
    }),
});

Deno.test({
  name: "sandbox attack: a read-only bind (the build context) cannot be remounted read-write",
  ignore,
  fn: () =>
    withAttack(async ({ sb, outside }) => {
      const { results } = await attack(sb, ["remount", "/ctx"], {
        mounts: [{ type: "bind", source: outside, target: "/ctx", readonly: true }],
      });
      assertEquals(results.get("remount-rw"), "EPERM");
      assertEquals(results.get("remount-rw-plain"), "EPERM");
      assertEquals(results.get("write-after-remount"), "EROFS");
      assertEquals(existsSync(`${outside}/pwned`), false);
    }),
});

Deno.test({
  name: "sandbox attack: /sys cannot be remounted read-write, /proc/sys and /proc/sysrq-trigger are read-only",
  ignore,
  fn: () =>
    withAttack(async ({ sb }) => {
      const hostname = readFileSync("/proc/sys/kernel/hostname", "utf8");
      const sys = await attack(sb, ["remount", "/sys"]);
      assertEquals(sys.results.get("remount-rw"), "EPERM");
      assertEquals(sys.results.get("write-after-remount"), "EROFS");
      const paths = ["/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"];
      for (const path of paths.filter((p) => existsSync(p))) {
        const { results } = await attack(sb, ["write", path]);
        assertEquals(results.get("write"), "EROFS", path);
      }
      assertEquals(readFileSync("/proc/sys/kernel/hostname", "utf8"), hostname);
      // Docker's masked paths show nothing.
      const out: string[] = [];
      await sb.run({
        argv: ["/bin/sh", "-c", "ls -A /proc/acpi /sys/firmware 2>/dev/null | grep -v : | grep -c . ; true"],
        env: [],
        cwd: "/",
        user: ROOT_USER,
        stdout: (l) => out.push(l),
      });
      assertEquals(out, ["0"]);
    }),
});

Deno.test({
  name: "sandbox attack: chroot escapes and /proc/self/root stay inside the rootfs",
  ignore,
  fn: () =>
    withAttack(async ({ sb, root }) => {
      // /tmp exists on the host and in the rootfs: where the file lands says whether the step got out.
      const marker = `/tmp/kiln-escaped-${crypto.randomUUID()}`;
      const { results } = await attack(sb, ["chroot-escape", marker]);
      assertEquals(results.get("write-marker"), "ok"); // it wrote, but inside the rootfs
      assertEquals(existsSync(marker), false);
      assert(existsSync(`${root}${marker}`), "the write landed in the rootfs");
      const { results: r2 } = await attack(sb, ["write", `/proc/self/root/../../../..${marker}2`]);
      assertEquals(r2.get("write"), "ok"); // /proc/self/root is the rootfs, and its parent is itself
      assertEquals(existsSync(`${marker}2`), false);
      assert(existsSync(`${root}${marker}2`), "the write landed in the rootfs");
    }),
});

Deno.test({
  name: "sandbox attack: no host process is visible or traceable; PID 1 cannot be traced",
  ignore,
  fn: () =>
    withAttack(async ({ sb }) => {
      const kiln = await attack(sb, ["ptrace", String(Deno.pid)]);
      assertEquals(kiln.results.get("ptrace-attach"), "ESRCH");
      const init = await attack(sb, ["ptrace", "1"]);
      assertEquals(init.results.get("ptrace-attach"), "EPERM");
      const out: string[] = [];
      await sb.run({
        argv: ["/bin/sh", "-c", "ls /proc | grep -E '^[0-9]+$' | wc -l"],
        env: [],
        cwd: "/",
        user: ROOT_USER,
        stdout: (l) => out.push(l.trim()),
      });
      // PID 1 (the helper), the shell, ls, grep, wc: no host process.
      assert(Number(out[0]) <= 5, `pids visible: ${out[0]}`);
    }),
});

Deno.test({
  name: "sandbox attack: the step inherits no fd but 0-2 and sees no host path in /proc/1/cmdline",
  ignore,
  fn: () =>
    withAttack(async ({ sb, dir, outside }) => {
      const { out } = await attack(sb, ["fds"], {
        mounts: [{ type: "bind", source: outside, target: "/ctx", readonly: true }],
      });
      assertEquals(out[0], "fds");
      assertStringIncludes(out[1] ?? "", "cmdline");
      assert(!(out[1] ?? "").includes(dir), `host path in /proc/1/cmdline: ${out[1]}`);
      assert(!(out[1] ?? "").includes("/"), `paths in /proc/1/cmdline: ${out[1]}`);
    }),
});

Deno.test({
  name: "sandbox attack: in-place steps (root, with the privileges to confine) get the same capabilities and filter",
  ignore,
  async fn() {
    const fx = await makeFixture();
    const sb = await createSandbox({ mode: "in-place", rootDir: "/", workDir: fx.work, force: true });
    try {
      const escape = `${fx.dir}/escape`;
      compileEscape(escape);
      const target = `${fx.dir}/mnt`;
      mkdirSync(target);
      const out: string[] = [];
      const r = await sb.run({
        argv: ["/bin/sh", "-c", `grep -E '^Cap(Eff|Bnd)' /proc/self/status; exec ${escape} safe ${target}`],
        env: [],
        cwd: "/",
        user: ROOT_USER,
        stdout: (l) => out.push(l.replace(/\s+/, " ")),
      });
      assertEquals(r.exitCode, 0);
      assertEquals(out.slice(0, 2), ["CapEff: 00000000a80425fb", "CapBnd: 00000000a80425fb"]);
      const results = new Map(out.slice(2).map((l) => l.split(" ") as [string, string]));
      for (const name of ["unshare-user", "clone-newuser", "mount-tmpfs", "keyctl", "bpf", "open_by_handle_at"]) {
        assertEquals(results.get(name), "EPERM", name);
      }
      assertEquals(results.get("clone3"), "ENOSYS");
      assertEquals(results.get("getpid"), "ok");
      assertEquals(readdirSync(target), []);
    } finally {
      await sb.close();
      await fx.dispose();
    }
  },
});
