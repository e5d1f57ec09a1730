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
import { AbortedError } from "../../../lib/util/errors.ts";
import { createSandbox, DEFAULT_HELPER_PATH, resolveUser, SandboxError } from "../../../lib/sandbox/mod.ts";
import type { RunStep, Sandbox, StepUser } from "../../../lib/sandbox/mod.ts";
import { assert, assertEquals, assertMatch, assertRejects, assertStringIncludes } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { makeFixture, processesRootedAt, sandboxSkipReason, treeDiff, treeState } from "./_helpers.ts";
import type { Fixture } from "./_helpers.ts";

const skipReason = sandboxSkipReason();
if (skipReason) console.error(`SKIP sandbox tests: ${skipReason}`);
const ignore = skipReason !== undefined;

const ROOT_USER: StepUser = { uid: 0, gid: 0, groups: [], home: "/root" };

interface Captured {
  exitCode: number;
  out: string[];
  err: string[];
}

async function run(sb: Sandbox, script: string, step: Partial<RunStep> = {}): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const r = await sb.run({
    argv: ["/bin/sh", "-c", script],
    env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
    cwd: "/",
    user: ROOT_USER,
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    ...step,
  });
  assertEquals(r.leftovers, []);
  return { exitCode: r.exitCode, out, err };
}

async function withSandbox(fn: (sb: Sandbox, fx: Fixture) => Promise<void>): Promise<void> {
  const fx = await makeFixture();
  chmodSync(fx.root, 0o700);
  const sb = await createSandbox({ rootDir: fx.root, workDir: fx.work });
  try {
    await fn(sb, fx);
  } finally {
    await sb.close();
    await fx.dispose();
  }
}

Deno.test({
  name: "createSandbox() runs as the image's user with uid, gid, groups, HOME, cwd and env",
  ignore,
  fn: () =>
    withSandbox(async (sb, fx) => {
      const app = await resolveUser(fx.root, "app");
      // A 0700 rootfs directory (mkdtemp) was made traversable by createSandbox.
      assertEquals(statSync(fx.root).mode & 0o777, 0o755);
      const r = await run(sb, 'id; echo "HOME=$HOME"; pwd; echo "FOO=$FOO"; echo "PATH=$PATH"', {
        user: app,
        cwd: "/home/app",
        env: ["FOO=bar baz"],
      });
      assertEquals(r.exitCode, 0);
      assertEquals(r.out, [
        "uid=1000(app) gid=1000(app) groups=10(wheel),50(staff)",
        "HOME=/home/app",
        "/home/app",
        "FOO=bar baz",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      ]);
      // An explicit HOME wins; numeric users need no passwd entry; an explicit group drops supplementary ones.
      const n = await run(sb, 'id; echo "HOME=$HOME"', { user: await resolveUser(fx.root, "4242:50"), env: [] });
      assertEquals(n.out, ["uid=4242 gid=50(staff)", "HOME=/"]);
      const h = await run(sb, 'echo "HOME=$HOME"', { user: app, env: ["HOME=/srv"] });
      assertEquals(h.out, ["HOME=/srv"]);
      const root = await run(sb, "id -u; id -G; echo $HOME", { user: await resolveUser(fx.root, "root"), env: [] });
      assertEquals(root.out, ["0", "0 10", "/root"]);
    }),
});

Deno.test({
  name: "createSandbox() propagates exit codes and runs exec form without a shell",
  ignore,
  fn: () =>
    withSandbox(async (sb) => {
      assertEquals((await run(sb, "exit 7")).exitCode, 7);
      assertEquals((await run(sb, "kill -9 $$")).exitCode, 137);
      const out: string[] = [];
      const r = await sb.run({
        argv: ["echo", "a  b", "$HOME"],
        env: [],
        cwd: "/tmp",
        user: ROOT_USER,
        stdout: (l) => out.push(l),
      });
      assertEquals([r.exitCode, out], [0, ["a  b $HOME"]]);
      const e = await run(sb, "echo to-stderr >&2; printf 'no newline'");
      assertEquals([e.out, e.err], [["no newline"], ["to-stderr"]]);
    }),
});

Deno.test({
  name: "createSandbox() provides /proc, a minimal /dev, read-only /sys, resolv.conf, hosts and a hostname",
  ignore,
  fn: () =>
    withSandbox(async (sb) => {
      const r = await run(
        sb,
        [
          "test -r /proc/self/status && echo proc",
          "echo 1 > /dev/null && test -c /dev/zero && test -c /dev/full && echo dev",
          "test $(head -c 16 /dev/urandom | wc -c) = 16 && test -c /dev/random && test -c /dev/tty && echo rand",
          "test -d /dev/pts && test -d /dev/shm && echo x > /dev/shm/x && test -L /dev/ptmx && echo pts-shm",
          "test -d /sys/kernel && echo sys",
          "touch /sys/kernel/x 2>/dev/null || echo sys-ro",
          "test -f /etc/resolv.conf && echo resolv",
          "grep -q localhost /etc/hosts && echo hosts",
          "hostname",
          "echo $$",
        ].join("; "),
      );
      assertEquals(r.out, ["proc", "dev", "rand", "pts-shm", "sys", "sys-ro", "resolv", "hosts", "kiln", "2"]);
      assertEquals(r.err, []);
    }),
});

Deno.test({
  name: "createSandbox() leaves no mount points in the rootfs and keeps directory times",
  ignore,
  fn: () =>
    withSandbox(async (sb, fx) => {
      const before = treeState(fx.root);
      assertEquals((await run(sb, "true")).exitCode, 0);
      assertEquals(treeDiff(before, treeState(fx.root)), []);
      // Only what the command wrote changes.
      await run(sb, "echo hi > /tmp/new; mkdir -p /opt/x; echo y >> /etc/hosts; echo z > /etc/resolv.conf");
      assertEquals(treeDiff(before, treeState(fx.root)), ["/", "/opt", "/opt/x", "/tmp", "/tmp/new"]);
      assertEquals(readFileSync(`${fx.root}/tmp/new`, "utf8"), "hi\n");
      for (const p of ["proc", "dev", "sys", "etc/hosts", "etc/resolv.conf"]) assert(!existsSync(`${fx.root}/${p}`), p);
    }),
});

Deno.test({
  name: "createSandbox() creates and removes /etc in a rootfs that has none",
  ignore,
  fn: () =>
    withSandbox(async (sb, fx) => {
      await Deno.remove(`${fx.root}/etc`, { recursive: true });
      const before = treeState(fx.root);
      const r = await run(sb, "cat /etc/hosts | grep -c kiln; ls /etc");
      assertEquals(r.out, ["1", "hosts", "resolv.conf"]);
      assertEquals(treeDiff(before, treeState(fx.root)), []);
      assert(!existsSync(`${fx.root}/etc`));
      // A step writing into such a directory keeps it (and only what it wrote).
      const w = await sb.run({ argv: ["/bin/sh", "-c", "echo 1 > /etc/foo"], env: [], cwd: "/", user: ROOT_USER });
      assertEquals(w, { exitCode: 0, leftovers: ["/etc"] });
      assertEquals(readdirSync(`${fx.root}/etc`), ["foo"]);
    }),
});

Deno.test({
  name: "createSandbox() mounts over existing mount points without changing them, also through symlinks",
  ignore,
  fn: () =>
    withSandbox(async (sb, fx) => {
      for (const d of ["proc", "dev", "sys"]) mkdirSync(`${fx.root}/${d}`);
      writeFileSync(`${fx.root}/etc/hosts`, "10.0.0.1 image-host\n");
      mkdirSync(`${fx.root}/run`);
      spawnSync("ln", ["-s", "../run/resolv.conf", `${fx.root}/etc/resolv.conf`]);
      const before = treeState(fx.root);
      const r = await run(sb, "cat /etc/hosts; test -s /etc/resolv.conf && echo resolv; ls /run");
      assertEquals(r.out.includes("10.0.0.1 image-host"), false);
      assertEquals(r.out.at(-2), "resolv");
      assertEquals(r.out.at(-1), "resolv.conf");
      const after = treeState(fx.root);
      // The symlink's missing target was created for the step and removed again.
      assertEquals(treeDiff(before, after), []);
      assertEquals(readFileSync(`${fx.root}/etc/hosts`, "utf8"), "10.0.0.1 image-host\n");
    }),
});

Deno.test({
  name: "createSandbox() hides every host mount from the step (pivot_root)",
  ignore,
  fn: () =>
    withSandbox(async (sb) => {
      const r = await run(sb, "cut -d' ' -f5 /proc/self/mountinfo | sort -u");
      const allowed = ["/", "/dev", "/dev/pts", "/dev/shm", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys"];
      const devices = ["full", "null", "random", "tty", "urandom", "zero"].map((d) => `/dev/${d}`);
      // Docker's masked and read-only paths are mounts too (those this kernel has).
      const masked = ["acpi", "asound", "bus", "fs", "interrupts", "irq", "kcore", "keys", "latency_stats"]
        .concat(["sched_debug", "scsi", "sys", "sysrq-trigger", "timer_list", "timer_stats"]).map((d) => `/proc/${d}`)
        .concat(["/sys/firmware", "/sys/devices/virtual/powercap"]);
      const known = [...allowed, ...devices, ...masked];
      assertEquals(r.out.filter((p) => !known.includes(p)), []);
    }),
});

Deno.test({
  name: "createSandbox() writes the rootfs, never the host",
  ignore,
  fn: () =>
    withSandbox(async (sb, fx) => {
      const hostFiles = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/passwd"];
      const before = hostFiles.map((f) => existsSync(f) ? readFileSync(f, "utf8") : undefined);
      const r = await run(
        sb,
        "echo x > /etc/hostname; echo evil >> /etc/hosts; echo evil > /etc/resolv.conf; echo evil >> /etc/passwd; cd /..; cd ../..; echo y > escaped",
      );
      assertEquals(r.exitCode, 0);
      assertEquals(readFileSync(`${fx.root}/etc/hostname`, "utf8"), "x\n");
      assertEquals(readFileSync(`${fx.root}/escaped`, "utf8"), "y\n");
      assertStringIncludes(readFileSync(`${fx.root}/etc/passwd`, "utf8"), "evil");
      assertEquals(hostFiles.map((f) => existsSync(f) ? readFileSync(f, "utf8") : undefined), before);
      assert(!existsSync("/escaped"));
    }),
});

Deno.test({
  name: "createSandbox() kills background processes when the step ends",
  ignore,
  fn: () =>
    withSandbox(async (sb, fx) => {
      const r = await run(sb, "sleep 100 & (setsid sleep 101 &) ; echo started");
      assertEquals(r.out, ["started"]);
      assertEquals(processesRootedAt(fx.root), []);
    }),
});

Deno.test({
  name: 'createSandbox() gives network "none" only a loopback interface',
  ignore,
  fn: () =>
    withSandbox(async (sb) => {
      const none = await run(sb, "ls /sys/class/net; ip -o -4 addr show lo | grep -c 127.0.0.1", { network: "none" });
      assertEquals(none.out, ["lo", "1"]);
      const host = await run(sb, "ls /sys/class/net | wc -l; cat /proc/net/dev | wc -l");
      assertEquals(host.exitCode, 0);
    }),
});

Deno.test({
  name: "createSandbox() shows RUN --mount binds and tmpfs for one step only",
  ignore,
  fn: () =>
    withSandbox(async (sb, fx) => {
      const cache = `${fx.dir}/cache`;
      mkdirSync(cache);
      writeFileSync(`${fx.dir}/secret`, "s3cret\n");
      const before = treeState(fx.root);
      const r = await run(
        sb,
        "echo c >> /var/cache/k/log; cat /run/secrets/s; echo t > /tmpfs/x; echo w > /run/secrets/s || echo ro",
        {
          mounts: [
            { type: "bind", source: cache, target: "/var/cache/k" },
            { type: "bind", source: `${fx.dir}/secret`, target: "/run/secrets/s", readonly: true },
            { type: "tmpfs", target: "/tmpfs" },
          ],
        },
      );
      assertEquals(r.out, ["s3cret", "ro"]);
      // Below /dev (BuildKit's /dev/pipes) the target is made in the sandbox's /dev.
      const p = await run(sb, "cat /dev/pipes/s; ls -d /dev/pipes/t", {
        mounts: [
          { type: "bind", source: `${fx.dir}/secret`, target: "/dev/pipes/s", readonly: true },
          { type: "tmpfs", target: "/dev/pipes/t" },
        ],
      });
      assertEquals(p.out, ["s3cret", "/dev/pipes/t"]);
      assertEquals(readFileSync(`${cache}/log`, "utf8"), "c\n");
      assertEquals(treeDiff(before, treeState(fx.root)), []);
    }),
});

Deno.test({
  name: "createSandbox() runs two builds in parallel",
  ignore,
  fn: async () => {
    const [a, b] = [await makeFixture(), await makeFixture()];
    const sa = await createSandbox({ rootDir: a.root, workDir: a.work });
    const sbx = await createSandbox({ rootDir: b.root, workDir: b.work });
    try {
      // A handshake, not a stopwatch: each step marks that it started and waits for /tmp/go, which is written only
      // once both have started, so the steps finish only if they ran at the same time. Run one after the other, the
      // first would give up waiting (exit 7, after 30 s: the defect would be a hang).
      const step = (who: string) =>
        "touch /tmp/started; i=0; until [ -e /tmp/go ]; do i=$((i+1)); [ $i -gt 600 ] && exit 7; sleep 0.05; done; " +
        `echo ${who} > /tmp/who; cat /tmp/who`;
      let settled = 0;
      const count = (p: Promise<Captured>) => p.finally(() => settled++);
      const steps = [count(run(sa, step("A"))), count(run(sbx, step("B")))] as const;
      const started = (f: Fixture) => existsSync(`${f.root}/tmp/started`);
      while (!(started(a) && started(b)) && settled === 0) await new Promise((r) => setTimeout(r, 20));
      for (const f of [a, b]) writeFileSync(`${f.root}/tmp/go`, "");
      const [ra, rb] = await Promise.all(steps);
      assertEquals([ra.exitCode, rb.exitCode], [0, 0], "both steps ran at once");
      assertEquals([ra.out, rb.out], [["A"], ["B"]]);
      assertEquals(readFileSync(`${a.root}/tmp/who`, "utf8"), "A\n");
      assertEquals(readFileSync(`${b.root}/tmp/who`, "utf8"), "B\n");
    } finally {
      await sa.close();
      await sbx.close();
      await a.dispose();
      await b.dispose();
    }
  },
});

Deno.test({
  name: "createSandbox() aborts a step through its signal and kills every process",
  ignore,
  fn: () =>
    withSandbox(async (sb, fx) => {
      const ac = new AbortController();
      const t0 = performance.now();
      setTimeout(() => ac.abort(), 300);
      await assertRejects(() => run(sb, "sleep 100 & sleep 100", { signal: ac.signal }), AbortedError);
      // The defect would be a hang (a step that ignores its signal runs its sleep 100 to the end): a generous bound,
      // over 20 times the ~1 s an abort takes here.
      assert(performance.now() - t0 < 30_000);
      assertEquals(processesRootedAt(fx.root), []);
      for (const p of ["proc", "dev", "sys"]) assert(!existsSync(`${fx.root}/${p}`), p);
      // The sandbox is still usable.
      assertEquals((await run(sb, "echo ok")).out, ["ok"]);
      await assertRejects(() => run(sb, "true", { signal: AbortSignal.abort() }), AbortedError);
    }),
});

Deno.test({
  name: "createSandbox() ends a step aborted in its first milliseconds (while the helper forks the step)",
  ignore,
  fn: () =>
    withSandbox(async (sb, fx) => {
      // kiln-run once consumed a SIGTERM that came between its fork() and knowing the child: the step then ran its
      // `sleep 100` to the end. Aborts at 0-19 ms after the start try that window; each must end the step.
      for (let ms = 0; ms < 20; ms++) {
        const ac = new AbortController();
        const t0 = performance.now();
        setTimeout(() => ac.abort(), ms);
        await assertRejects(() => run(sb, "sleep 100", { signal: ac.signal }), AbortedError);
        // The defect is a hang: a bound of over 20 times an abort's ~0.5 s.
        assert(performance.now() - t0 < 15_000, `the abort at ${ms} ms did not end the step`);
      }
      assertEquals(processesRootedAt(fx.root), []);
    }),
});

Deno.test({
  name: "createSandbox() fails clearly for a missing cwd, a missing command and a bad mount",
  ignore,
  fn: () =>
    withSandbox(async (sb) => {
      await assertRejects(
        () => run(sb, "true", { cwd: "/nope" }),
        SandboxError,
        "working directory /nope does not exist in the image",
      );
      await assertRejects(
        () => sb.run({ argv: ["no-such-cmd"], env: [], cwd: "/", user: ROOT_USER }),
        SandboxError,
        'Cannot run "no-such-cmd": executable file not found in $PATH',
      );
      await assertRejects(
        () => run(sb, "true", { mounts: [{ type: "bind", source: "/nonexistent-src", target: "/x" }] }),
        SandboxError,
        "/nonexistent-src",
      );
    }),
});

Deno.test({
  name: "createSandbox() says what is missing without root or user namespaces",
  ignore,
  fn: async () => {
    const fx = await makeFixture();
    try {
      // A chroot denies unprivileged user namespaces (unshare(2) EPERM): run the static helper there as nobody.
      const jail = `${fx.dir}/jail`;
      mkdirSync(jail);
      copyFileSync(DEFAULT_HELPER_PATH, `${jail}/kiln-run`);
      const wrapper = `${fx.dir}/kiln-run-as-nobody`;
      writeFileSync(wrapper, `#!/bin/sh\nexec chroot --userspec=65534:65534 ${jail} /kiln-run "$@"\n`, { mode: 0o755 });
      const e = await assertRejects(
        () => createSandbox({ rootDir: fx.root, workDir: fx.work, helperPath: wrapper }),
        SandboxError,
        "not running as root and an unprivileged user namespace is not allowed",
      );
      assertMatch(e.message, /^Cannot create a sandbox: /);
      await assertRejects(
        () => createSandbox({ rootDir: fx.root, workDir: fx.work, helperPath: `${fx.dir}/missing` }),
        SandboxError,
        "kiln-run helper is missing",
      );
      await assertRejects(
        () => createSandbox({ rootDir: `${fx.dir}/nope`, workDir: fx.work }),
        SandboxError,
        "does not exist",
      );
    } finally {
      await fx.dispose();
    }
  },
});

Deno.test({
  name: "createSandbox() in-place mode refuses outside a container unless forced, and runs on /",
  ignore,
  fn: async () => {
    const fx = await makeFixture();
    try {
      await assertRejects(
        () => createSandbox({ mode: "in-place", rootDir: "/", workDir: fx.work, detect: { root: fx.dir, env: {} } }),
        SandboxError,
        "Refusing to build in place outside a container",
      );
      await assertRejects(
        () => createSandbox({ mode: "in-place", rootDir: fx.root, workDir: fx.work, force: true }),
        SandboxError,
        'rootDir must be "/"',
      );
      const sb = await createSandbox({
        mode: "in-place",
        rootDir: "/",
        workDir: fx.work,
        detect: { root: fx.dir, env: { container: "podman" } },
      });
      assert(sb.ignorePaths.includes("/proc"));
      const out: string[] = [];
      const r = await sb.run({
        argv: ["/bin/sh", "-c", `id -u; id -G; pwd; echo $HOME; sleep 100 & echo $!`],
        env: [],
        cwd: fx.dir,
        user: { uid: 65534, gid: 65534, groups: [65534, 10] },
        stdout: (l) => out.push(l),
      });
      const bg = Number(out.pop());
      assertEquals([r.exitCode, out], [0, ["65534", "65534 10", fx.dir, "/"]]);
      await new Promise((res) => setTimeout(res, 50));
      assert(
        !existsSync(`/proc/${bg}/cmdline`) || readFileSync(`/proc/${bg}/stat`, "utf8").includes(") Z"),
        "bg killed",
      );
      await sb.close();
      const forced = await createSandbox({
        mode: "in-place",
        rootDir: "/",
        workDir: fx.work,
        force: true,
        detect: { root: fx.dir },
      });
      assertEquals((await forced.run({ argv: ["true"], env: [], cwd: "/", user: ROOT_USER })).exitCode, 0);
      await forced.close();
    } finally {
      await fx.dispose();
    }
  },
});

Deno.test({
  name: "createSandbox() runs root steps without root through a user namespace",
  ignore: ignore || skipUnless("rootless sandbox", "setpriv"),
  fn: async () => {
    const fx = await makeFixture();
    try {
      spawnSync("chown", ["-R", "65534:65534", fx.root]);
      mkdirSync(fx.work, { recursive: true });
      spawnSync("chown", ["65534:65534", fx.work, fx.dir]);
      const script = `${fx.work}/rootless.ts`;
      writeFileSync(
        script,
        `import { createSandbox } from ${JSON.stringify(new URL("../../../lib/sandbox/mod.ts", import.meta.url).href)};
const sb = await createSandbox({ rootDir: ${JSON.stringify(fx.root)}, workDir: ${JSON.stringify(fx.work)} });
const out: string[] = [];
const user = { uid: 0, gid: 0, groups: [] };
const r = await sb.run({ argv: ["/bin/sh", "-c", "id -u; echo x > /tmp/made; test -r /proc/self/status && echo proc"], env: [], cwd: "/", user, stdout: (l) => out.push(l) });
let err = "";
await sb.run({ argv: ["true"], env: [], cwd: "/", user: { uid: 1000, gid: 1000, groups: [10] } }).catch((e) => err = e.message);
console.log(JSON.stringify({ exitCode: r.exitCode, out, err }));
await sb.close();
`,
      );
      const res = spawnSync(
        "setpriv",
        ["--reuid=65534", "--regid=65534", "--clear-groups", Deno.execPath(), "run", "-A", "--no-lock", script],
        { encoding: "utf8", env: { PATH: "/usr/bin:/bin", HOME: fx.work, DENO_DIR: `${fx.work}/deno` } },
      );
      assertEquals(res.status, 0, res.stderr);
      const got = JSON.parse(res.stdout);
      assertEquals([got.exitCode, got.out], [0, ["0", "proc"]]);
      assertStringIncludes(got.err, "Cannot run as user 1000:1000 without root: the user namespace maps only root");
      assertEquals(readFileSync(`${fx.root}/tmp/made`, "utf8"), "x\n");
    } finally {
      await fx.dispose();
    }
  },
});
