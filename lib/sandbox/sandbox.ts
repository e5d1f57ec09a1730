/**
 * createSandbox(): runs RUN steps chrooted into a rootfs in fresh namespaces, or in place on `/`.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants as fsConstants, readFileSync } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, readFile, rm, rmdir, stat, unlink, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { relative } from "node:path";
import { AbortedError, cleanPath, type Logger, nullLogger } from "../util/mod.ts";
import { resolveInRoot } from "./_root_path.ts";
import { detectContainer } from "./container.ts";
import { SandboxError } from "./errors.ts";
import { ignorePathsFromMountInfo } from "./ignore.ts";
import type { MountSpec, RunResult, RunStep, Sandbox, SandboxOptions } from "./types.ts";

/** Docker's PATH for a step whose env has none. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Where `npm install` (native/helper/build.sh) puts the kiln-run helper in a checkout. */
export const DEFAULT_HELPER_PATH: string = fileURLToPath(
  new URL("../../native/helper/build/kiln-run", import.meta.url),
);

/** The helper's exit status for a setup failure (its reason is on the status pipe). */
const STATUS_SETUP = 125;

interface Created {
  imagePath: string;
  hostPath: string;
  dir: boolean;
}

interface ParentTimes {
  hostPath: string;
  atimeNs: bigint;
  mtimeNs: bigint;
  touchedNs?: bigint;
  afterNs?: bigint;
}

interface PreparedMount {
  flag: string;
  source?: string;
  hostTarget: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function envToObject(env: readonly string[], home: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of env) {
    const i = kv.indexOf("=");
    if (i <= 0) throw new SandboxError(`Cannot run step: invalid environment entry "${kv}" (expected K=V)`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  if (out.PATH === undefined) out.PATH = DEFAULT_PATH;
  if (out.HOME === undefined) out.HOME = home;
  return out;
}

function lineSplitter(sink: (line: string) => void): { push(chunk: Uint8Array): void; end(): void } {
  const decoder = new TextDecoder();
  let buf = "";
  return {
    push(chunk) {
      buf += decoder.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        sink(buf.slice(0, i).replace(/\r$/, ""));
        buf = buf.slice(i + 1);
      }
    },
    end() {
      buf += decoder.decode();
      if (buf !== "") sink(buf);
      buf = "";
    },
  };
}

function checkAbsolute(path: string, what: string): void {
  if (!path.startsWith("/")) throw new SandboxError(`Cannot run step: ${what} "${path}" is not an absolute path`);
}

/**
 * Creates a sandbox for one rootfs. In `sandbox` mode (default) every step runs through the kiln-run helper:
 * new mount, PID, UTS and IPC namespaces (and a net namespace for `network: "none"`), chroot into `rootDir`,
 * /proc, a minimal /dev, read-only /sys, private copies of the host's /etc/resolv.conf and /etc/hosts, the step's
 * mounts; then chdir, setgroups/setgid/setuid and exec. Every process of the step dies when it ends. Mount points
 * that had to be created in `rootDir` are removed afterwards and their parent directory's times restored, so a
 * snapshot sees only what the command did. Needs root, or an unprivileged user namespace (then only root steps).
 *
 * In `in-place` mode (`rootDir` must be `/`), steps run directly, in a new session whose process group is killed
 * when the step ends; it refuses to start outside a container unless `force`.
 *
 * @param options Mode, rootfs, scratch dir, logger, helper path.
 * @returns The sandbox; call close() when the build is done.
 *
 * @example Usage
 * ```ts ignore
 * import { createSandbox, resolveUser } from "./mod.ts";
 * const sb = await createSandbox({ rootDir: "/tmp/rootfs", workDir: "/tmp/kiln-work" });
 * try {
 *   const user = await resolveUser("/tmp/rootfs", "app");
 *   const { exitCode } = await sb.run({
 *     argv: ["/bin/sh", "-c", "id > /tmp/id.txt"],
 *     env: ["PATH=/bin"],
 *     cwd: "/",
 *     user,
 *     stdout: (line) => console.log(line),
 *   });
 *   console.log(exitCode);
 * } finally {
 *   await sb.close();
 * }
 * ```
 */
export async function createSandbox(options: SandboxOptions): Promise<Sandbox> {
  const mode = options.mode ?? "sandbox";
  const log: Logger = options.logger ?? nullLogger;
  const helper = options.helperPath ?? DEFAULT_HELPER_PATH;
  const hostname = options.hostname ?? "kiln";
  const rootDir = options.rootDir.replace(/(.)\/+$/, "$1");
  checkAbsolute(rootDir, "rootDir");
  const hasHelper = isExecutable(helper);

  if (mode === "in-place") {
    if (rootDir !== "/") throw new SandboxError(`Cannot run in place: rootDir must be "/", got ${rootDir}`);
    if (!options.force) {
      const d = detectContainer(options.detect ?? {});
      if (!d.inContainer) {
        throw new SandboxError(
          "Refusing to build in place outside a container: it would overwrite this machine's / (use the sandbox mode, or --force if you really mean it)",
        );
      }
      log.debug("in-place mode: container detected", { reason: d.reason });
    }
    if (!hasHelper) log.debug("kiln-run helper not found; in-place steps cannot set supplementary groups", { helper });
    let ignorePaths: string[] = [];
    try {
      ignorePaths = ignorePathsFromMountInfo(readFileSync("/proc/self/mountinfo", "utf8"));
    } catch (e) {
      log.warn("cannot read /proc/self/mountinfo", { error: (e as Error).message });
    }
    return makeSandbox({ mode, rootDir, helper, hasHelper, log, ignorePaths, scratch: undefined, hostname, options });
  }

  if (!hasHelper) {
    throw new SandboxError(
      `Cannot create a sandbox: the kiln-run helper is missing at ${helper} (build it with \`npm run build:helper\`, which needs a C compiler)`,
    );
  }
  let st;
  try {
    st = await stat(rootDir);
  } catch (e) {
    throw new SandboxError(`Cannot create a sandbox: rootfs ${rootDir} does not exist`, { cause: e });
  }
  if (!st.isDirectory()) throw new SandboxError(`Cannot create a sandbox: rootfs ${rootDir} is not a directory`);
  if ((st.mode & 0o055) !== 0o055) {
    // A rootfs made with mkdtemp is 0700; images' "/" is 0755 (as in Docker), or a USER step cannot even exec.
    log.debug("making the rootfs directory traversable (0755)", { rootDir, mode: (st.mode & 0o7777).toString(8) });
    await chmod(rootDir, (st.mode & 0o7777) | 0o755);
  }
  const probe = await probeHelper(helper);
  if (probe !== "") {
    throw new SandboxError(probe.startsWith("cannot ") ? `Cannot ${probe.slice(7)}` : probe);
  }
  await mkdir(options.workDir, { recursive: true });
  const scratch = await mkdtemp(`${options.workDir.replace(/\/+$/, "")}/sandbox-`);
  return makeSandbox({ mode, rootDir, helper, hasHelper, log, ignorePaths: [], scratch, hostname, options });
}

/** Runs `kiln-run --probe`; returns "" if namespaces can be created, else the reason. */
function probeHelper(helper: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(helper, ["--probe"], { stdio: ["ignore", "ignore", "pipe", "pipe"] });
    let text = "";
    const add = (c: Uint8Array | string) => text += typeof c === "string" ? c : new TextDecoder().decode(c);
    (child.stdio[3] as NodeJS.ReadableStream | null)?.on("data", add);
    child.stderr?.on("data", add);
    child.on("error", (e) => resolve(`cannot run ${helper}: ${e.message}`));
    child.on("close", (code, signal) => {
      const first = text.trim().split("\n")[0] ?? "";
      resolve(code === 0 ? "" : first || `${helper} --probe exited with ${code ?? signal}`);
    });
  });
}

interface SandboxState {
  mode: "sandbox" | "in-place";
  rootDir: string;
  helper: string;
  hasHelper: boolean;
  log: Logger;
  ignorePaths: string[];
  scratch: string | undefined;
  hostname: string;
  options: SandboxOptions;
}

function makeSandbox(s: SandboxState): Sandbox {
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  return {
    mode: s.mode,
    rootDir: s.rootDir,
    ignorePaths: Object.freeze([...s.ignorePaths]),
    run(step) {
      if (closed) return Promise.reject(new SandboxError("Cannot run step: the sandbox is closed"));
      const p = queue.then(() => s.mode === "sandbox" ? runSandboxed(s, step) : runInPlace(s, step));
      queue = p.catch(() => {});
      return p;
    },
    setTimes: (hostPath, atimeNs, mtimeNs) => setTimes(s, hostPath, atimeNs, mtimeNs),
    getTimes: (hostPath) => getTimes(s, hostPath),
    async close() {
      closed = true;
      await queue;
      if (s.scratch !== undefined) await rm(s.scratch, { recursive: true, force: true });
    },
  };
}

async function writeNetworkFiles(s: SandboxState): Promise<{ resolv: string; hosts: string }> {
  const resolv = `${s.scratch}/resolv.conf`;
  const hosts = `${s.scratch}/hosts`;
  let resolvText = "";
  try {
    resolvText = await readFile(s.options.hostResolvConf ?? "/etc/resolv.conf", "utf8");
  } catch (e) {
    s.log.warn("cannot read the host's resolv.conf; the step gets an empty one", { error: (e as Error).message });
  }
  let hostsText = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  try {
    hostsText = await readFile(s.options.hostHosts ?? "/etc/hosts", "utf8");
    if (!hostsText.endsWith("\n") && hostsText !== "") hostsText += "\n";
  } catch {
    // keep the generated one
  }
  hostsText += `127.0.1.1\t${s.hostname}\n`;
  await writeFile(resolv, resolvText, { mode: 0o644 });
  await writeFile(hosts, hostsText, { mode: 0o644 });
  return { resolv, hosts };
}

/** Makes `target` exist in the rootfs as a directory or file, recording what had to be created. */
async function prepareTarget(
  s: SandboxState,
  target: string,
  dir: boolean,
  created: Created[],
  parents: ParentTimes[],
): Promise<string> {
  checkAbsolute(target, "mount target");
  const r = await resolveInRoot(s.rootDir, target);
  if (r.exists) {
    const st = await stat(r.hostPath);
    if (dir && !st.isDirectory()) {
      throw new SandboxError(`Cannot mount on ${target}: it is not a directory in the image`);
    }
    if (!dir && st.isDirectory()) {
      throw new SandboxError(`Cannot mount a file on ${target}: it is a directory in the image`);
    }
    return r.hostPath;
  }
  const comps = r.imagePath.split("/").filter((c) => c !== "");
  const firstDepth = (r.firstMissing ?? r.imagePath).split("/").filter((c) => c !== "").length;
  const parentHost = firstDepth <= 1 ? s.rootDir : `${s.rootDir}/${comps.slice(0, firstDepth - 1).join("/")}`;
  const pst = await lstat(parentHost);
  if (!pst.isDirectory()) {
    throw new SandboxError(
      `Cannot mount on ${target}: /${comps.slice(0, firstDepth - 1).join("/")} is not a directory`,
    );
  }
  if (!parents.some((p) => p.hostPath === parentHost)) {
    // Exact times from the helper: Deno's node:fs stats carry milliseconds only, and a restore to a rounded
    // mtime would itself be a change of the directory (an `etc/` layer for a no-op RUN).
    const t = await getTimes(s, parentHost);
    if (t) parents.push({ hostPath: parentHost, atimeNs: t.atimeNs, mtimeNs: t.mtimeNs });
  }
  for (let d = firstDepth; d <= comps.length; d++) {
    const imagePath = "/" + comps.slice(0, d).join("/");
    const hostPath = `${s.rootDir}${imagePath}`;
    const isDir = d < comps.length || dir;
    if (isDir) await mkdir(hostPath, { mode: 0o755 });
    else await writeFile(hostPath, "", { mode: 0o644, flag: "wx" });
    created.push({ imagePath, hostPath, dir: isDir });
  }
  return r.hostPath;
}

async function prepareMounts(
  s: SandboxState,
  step: RunStep,
  created: Created[],
  parents: ParentTimes[],
): Promise<PreparedMount[]> {
  const net = await writeNetworkFiles(s);
  const out: PreparedMount[] = [];
  out.push({ flag: "--proc", hostTarget: await prepareTarget(s, "/proc", true, created, parents) });
  out.push({ flag: "--dev", hostTarget: await prepareTarget(s, "/dev", true, created, parents) });
  out.push({ flag: "--sys", hostTarget: await prepareTarget(s, "/sys", true, created, parents) });
  out.push({
    flag: "--bind",
    source: net.resolv,
    hostTarget: await prepareTarget(s, "/etc/resolv.conf", false, created, parents),
  });
  out.push({
    flag: "--bind",
    source: net.hosts,
    hostTarget: await prepareTarget(s, "/etc/hosts", false, created, parents),
  });
  for (const m of step.mounts ?? []) out.push(await prepareUserMount(s, m, created, parents));
  return out;
}

async function prepareUserMount(
  s: SandboxState,
  m: MountSpec,
  created: Created[],
  parents: ParentTimes[],
): Promise<PreparedMount> {
  checkAbsolute(m.target, "mount target");
  // Below /dev the target lives in the sandbox's own /dev tmpfs: the helper creates it there.
  const target = cleanPath(m.target);
  const devHost = target.startsWith("/dev/")
    ? (await resolveInRoot(s.rootDir, "/dev")).hostPath + target.slice(4)
    : undefined;
  if (m.type === "tmpfs") {
    return { flag: "--tmpfs", hostTarget: devHost ?? await prepareTarget(s, target, true, created, parents) };
  }
  checkAbsolute(m.source, "mount source");
  let st;
  try {
    st = await stat(m.source);
  } catch (e) {
    throw new SandboxError(`Cannot mount ${m.source} on ${m.target}: the source does not exist`, { cause: e });
  }
  return {
    flag: m.readonly ? "--bind-ro" : "--bind",
    source: m.source,
    hostTarget: devHost ?? await prepareTarget(s, target, st.isDirectory(), created, parents),
  };
}

/** `hostPath`'s access and modification times to the nanosecond, from the helper; undefined when that failed. */
function getTimes(s: SandboxState, hostPath: string): Promise<{ atimeNs: bigint; mtimeNs: bigint } | undefined> {
  return new Promise((resolve) => {
    let out = "";
    const c = spawn(s.helper, ["--get-times", hostPath], { stdio: ["ignore", "pipe", "ignore"] });
    c.stdout.on("data", (d) => out += d);
    c.on("error", () => resolve(undefined));
    c.on("close", (code) => {
      const m = /^(\d+) (\d+)\n$/.exec(out);
      resolve(code === 0 && m ? { atimeNs: BigInt(m[1]!), mtimeNs: BigInt(m[2]!) } : undefined);
    });
  });
}

/** Sets `hostPath`'s times exactly with the helper; false when that failed. */
function setTimes(s: SandboxState, hostPath: string, atimeNs: bigint, mtimeNs: bigint): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const c = spawn(s.helper, ["--set-times", hostPath, String(atimeNs), String(mtimeNs)], { stdio: "ignore" });
    c.on("error", () => resolve(false));
    c.on("close", (code) => resolve(code === 0));
  });
}

/** Removes what prepareTarget created (if the step left it empty) and restores parent times. */
async function cleanup(
  s: SandboxState,
  created: Created[],
  parents: ParentTimes[],
): Promise<{ leftovers: string[]; restoredDirs: string[] }> {
  const leftovers: string[] = [];
  const restoredDirs: string[] = [];
  for (const p of parents) {
    try {
      p.afterNs = (await lstat(p.hostPath, { bigint: true })).mtimeNs;
    } catch {
      // gone: nothing to restore
    }
  }
  for (const c of [...created].reverse()) {
    try {
      if (c.dir) await rmdir(c.hostPath);
      else {
        const st = await lstat(c.hostPath);
        if (!st.isFile() || st.size !== 0) throw new Error("not empty");
        await unlink(c.hostPath);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      leftovers.push(c.imagePath);
      s.log.debug("kept a path kiln created for a mount: the step put something there", { path: c.imagePath });
    }
  }
  for (const p of parents) {
    // Restore only if the step itself did not change the directory (then its new mtime is real).
    if (p.afterNs === undefined || p.afterNs !== p.touchedNs) continue;
    // A parent kiln itself created for a mount (e.g. /etc of a scratch rootfs) is gone again: nothing to restore.
    if (!(await lstat(p.hostPath).catch(() => undefined))) continue;
    const ok = await setTimes(s, p.hostPath, p.atimeNs, p.mtimeNs);
    // The image path, never the host path of kiln's work dir.
    const shown = "/" + relative(s.rootDir, p.hostPath);
    if (!ok) s.log.warn("cannot restore directory times", { path: shown });
    else if (shown !== "/") restoredDirs.push(shown.slice(1));
  }
  return { leftovers, restoredDirs };
}

interface Spawned {
  child: ChildProcess;
  status: Promise<{ code: number; setupError: string }>;
}

function spawnStep(s: SandboxState, cmd: string, args: string[], env: Record<string, string>, step: RunStep): Spawned {
  const out = lineSplitter(step.stdout ?? ((line) => s.log.info(line, { stream: "stdout" })));
  const err = lineSplitter(step.stderr ?? ((line) => s.log.info(line, { stream: "stderr" })));
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe", "pipe"], detached: s.mode === "in-place" });
  let statusText = "";
  child.stdout!.on("data", (c: Uint8Array) => out.push(c));
  child.stderr!.on("data", (c: Uint8Array) => err.push(c));
  const statusPipe = child.stdio[3] as NodeJS.ReadableStream | null;
  statusPipe?.on(
    "data",
    (c: Uint8Array | string) => statusText += typeof c === "string" ? c : new TextDecoder().decode(c),
  );
  const status = new Promise<{ code: number; setupError: string }>((resolve, reject) => {
    child.on("error", (e) => reject(new SandboxError(`Cannot start ${cmd}: ${e.message}`, { cause: e })));
    child.on("close", (code, signal) => {
      out.end();
      err.end();
      const c = code ?? (signal ? 128 + (signalNumber(signal) ?? 9) : STATUS_SETUP);
      resolve({ code: c, setupError: c === STATUS_SETUP ? statusText.trim() : "" });
    });
  });
  return { child, status };
}

function signalNumber(name: string): number | undefined {
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };
  return table[name];
}

async function waitStep(sp: Spawned, step: RunStep, onAbort: () => void): Promise<number> {
  const abort = () => onAbort();
  step.signal?.addEventListener("abort", abort, { once: true });
  if (step.signal?.aborted) onAbort();
  try {
    const { code, setupError } = await sp.status;
    if (step.signal?.aborted) throw new AbortedError("RUN step aborted");
    if (setupError !== "") {
      const line = setupError.split("\n")[0]!;
      throw new SandboxError(line.charAt(0).toUpperCase() + line.slice(1));
    }
    return code;
  } finally {
    step.signal?.removeEventListener("abort", abort);
  }
}

function validateStep(step: RunStep): void {
  if (step.argv.length === 0) throw new SandboxError("Cannot run step: the command is empty");
  checkAbsolute(step.cwd, "working directory");
  for (const id of [step.user.uid, step.user.gid, ...step.user.groups]) {
    if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) throw new SandboxError(`Cannot run step: invalid id ${id}`);
  }
}

async function runSandboxed(s: SandboxState, step: RunStep): Promise<RunResult> {
  validateStep(step);
  if (step.signal?.aborted) throw new AbortedError("RUN step aborted");
  const cwd = await resolveInRoot(s.rootDir, step.cwd);
  if (!cwd.exists) {
    throw new SandboxError(`Cannot run step: working directory ${step.cwd} does not exist in the image`);
  }
  if (!(await stat(cwd.hostPath)).isDirectory()) {
    throw new SandboxError(`Cannot run step: working directory ${step.cwd} is not a directory in the image`);
  }
  const env = envToObject(step.env, step.user.home ?? "/");
  const created: Created[] = [];
  const parents: ParentTimes[] = [];
  try {
    const mounts = await prepareMounts(s, step, created, parents);
    for (const p of parents) p.touchedNs = (await lstat(p.hostPath, { bigint: true })).mtimeNs;
    const args = [
      "--root",
      s.rootDir,
      "--cwd",
      step.cwd,
      "--uid",
      String(step.user.uid),
      "--gid",
      String(step.user.gid),
      "--groups",
      step.user.groups.join(","),
      "--hostname",
      s.hostname,
    ];
    if (step.network === "none") args.push("--net-none");
    if (step.security === "insecure") args.push("--insecure");
    for (const m of mounts) {
      args.push(m.flag);
      if (m.source !== undefined) args.push(m.source);
      args.push(m.hostTarget);
    }
    args.push("--", ...step.argv);
    s.log.debug("run", { argv: step.argv.join(" "), cwd: step.cwd, uid: step.user.uid, gid: step.user.gid });
    const sp = spawnStep(s, s.helper, args, env, step);
    const exitCode = await waitStep(sp, step, () => sp.child.kill("SIGTERM"));
    const { leftovers, restoredDirs } = await cleanup(s, created, parents);
    created.length = 0;
    return { exitCode, leftovers, ...(restoredDirs.length ? { restoredDirs } : {}) };
  } finally {
    if (created.length > 0) await cleanup(s, created, parents);
  }
}

async function runInPlace(s: SandboxState, step: RunStep): Promise<RunResult> {
  validateStep(step);
  if (step.signal?.aborted) throw new AbortedError("RUN step aborted");
  const st = await stat(step.cwd).catch(() => undefined);
  if (st === undefined || !st.isDirectory()) {
    throw new SandboxError(`Cannot run step: working directory ${step.cwd} does not exist`);
  }
  const env = envToObject(step.env, step.user.home ?? "/");
  let sp: Spawned;
  if (s.hasHelper) {
    const args = ["--in-place", "--cwd", step.cwd, "--uid", String(step.user.uid), "--gid", String(step.user.gid)];
    if (step.security === "insecure") args.push("--insecure");
    args.push("--groups", step.user.groups.join(","), "--", ...step.argv);
    sp = spawnStep(s, s.helper, args, env, step);
  } else {
    const extra = step.user.groups.filter((g) => g !== step.user.gid);
    if (extra.length > 0) {
      throw new SandboxError(
        `Cannot run step as ${step.user.uid}:${step.user.gid} with supplementary groups ${
          extra.join(",")
        }: the kiln-run helper is missing at ${s.helper}`,
      );
    }
    sp = spawnInPlaceDirect(s, step, env);
  }
  const killGroup = () => {
    if (sp.child.pid === undefined) return;
    try {
      process.kill(-sp.child.pid, "SIGKILL");
    } catch {
      // the group is gone
    }
  };
  // Leftover background processes hold the output pipes open: kill the group as soon as the command exits.
  sp.child.on("exit", killGroup);
  try {
    const exitCode = await waitStep(sp, step, killGroup);
    return { exitCode, leftovers: [] };
  } finally {
    killGroup();
  }
}

function spawnInPlaceDirect(s: SandboxState, step: RunStep, env: Record<string, string>): Spawned {
  const out = lineSplitter(step.stdout ?? ((line) => s.log.info(line, { stream: "stdout" })));
  const err = lineSplitter(step.stderr ?? ((line) => s.log.info(line, { stream: "stderr" })));
  const child = spawn(step.argv[0]!, step.argv.slice(1), {
    env,
    cwd: step.cwd,
    uid: step.user.uid,
    gid: step.user.gid,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (c: Uint8Array) => out.push(c));
  child.stderr!.on("data", (c: Uint8Array) => err.push(c));
  const status = new Promise<{ code: number; setupError: string }>((resolve) => {
    child.on("error", (e) => resolve({ code: STATUS_SETUP, setupError: e.message }));
    child.on("close", (code, signal) => {
      out.end();
      err.end();
      resolve({ code: code ?? 128 + (signal ? signalNumber(signal) ?? 9 : 0), setupError: "" });
    });
  });
  return { child, status };
}
