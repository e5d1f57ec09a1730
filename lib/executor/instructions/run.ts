/**
 * `RUN`: a command in the sandbox (lib/sandbox) as the image's USER, in WORKDIR, with the stage's ENV and declared
 * ARGs (plus proxy build args), its `--mount`s, `--network` and `--security`; heredocs as BuildKit runs them.
 *
 * @module
 */
import type { RunInstruction } from "../../dockerfile/mod.ts";
import { resolveUser } from "../../sandbox/mod.ts";
import { KilnError } from "../../util/mod.ts";
import { shellForm } from "../config.ts";
import { chompTabs, heredocRunCommand, type StepFile } from "../mounts/heredoc_run.ts";
import { type PreparedMounts, prepareMounts } from "../mounts/prepare.ts";
import { resolveMount } from "../mounts/resolve.ts";
import { ensureDir } from "./_fs.ts";
import { type PlacedMounts, placeMountsInPlace } from "../mounts/in_place.ts";
import { join } from "node:path";
import type { InstructionHandler, StepContext } from "./types.ts";

/** The command a RUN stands for: shell form (through SHELL) or exec form, and files it needs (a `#!` heredoc). */
interface RunCommand {
  shell: boolean;
  /** Shell form: one string; exec form: the argv. */
  words: string[];
  files: StepFile[];
}

/**
 * BuildKit's heredoc rules: a lone `RUN <<EOF` whose body starts with `#!` runs as a script file; a lone heredoc
 * that is the whole command runs its body through the shell; otherwise each body (and its delimiter) is appended to
 * the command line.
 */
function commandOf(ins: RunInstruction, where: string, pipesDir?: string): RunCommand {
  const plain: RunCommand = { shell: ins.prependShell, words: [...ins.command], files: [] };
  if (ins.heredocs.length === 0) return plain;
  const first = ins.heredocs[0]!;
  const body = (h: typeof first) => (h.chomp ? chompTabs(h.data) : h.data);
  if (ins.heredocs.length === 1 && ins.prependShell && body(first).startsWith("#!")) {
    const hr = heredocRunCommand({
      cmdLine: ins.command[0] ?? "",
      heredocs: [{ name: first.name, content: first.data, chomp: first.chomp }],
      ...(pipesDir ? { pipesDir } : {}),
    });
    if (hr.files.length > 0) return { shell: false, words: hr.argv, files: hr.files };
  }
  if (!ins.prependShell) throw new KilnError(`${where}: RUN heredocs need the shell form`);
  if (ins.heredocs.length === 1 && /^\s*<<-?\s*["']?[^\s"']+["']?\s*$/.test(ins.command[0] ?? "")) {
    return { shell: true, words: [body(first)], files: [] };
  }
  let c = ins.command[0] ?? "";
  for (const h of ins.heredocs) c += "\n" + body(h) + h.name;
  return { shell: true, words: [c], files: [] };
}

/** The step's environment: ENV and declared ARGs (last writer wins), then proxy build args the stage did not set. */
function runEnv(ctx: StepContext): string[] {
  const vars = ctx.scope.env();
  const proxy = Object.entries(ctx.services.proxyEnv ?? {}).filter(([k]) => !Object.hasOwn(vars, k));
  return [...Object.entries(vars), ...proxy].map(([k, v]) => `${k}=${v}`);
}

function oneLine(s: string): string {
  const t = s.replace(/\s*\\?\n\s*/g, " ");
  return t.length > 80 ? t.slice(0, 77) + "..." : t;
}

async function prepare(ins: RunInstruction, cmd: RunCommand, ctx: StepContext, workdir: string) {
  if (ins.mounts.length === 0 && cmd.files.length === 0) return undefined;
  const s = ctx.services;
  return await prepareMounts(ins.mounts.map((m) => resolveMount(m, workdir, ctx.where)), {
    contextDir: s.contextDir,
    ...(s.ignore ? { contextIgnore: s.ignore } : {}),
    resolveFrom: async (from) => (await s.copySource(from, ctx.where)).dir,
    cacheDir: s.runCacheDir ?? `${s.layerDir}/run-cache`,
    scratchDir: s.layerDir,
    ...(s.secrets ? { secrets: s.secrets } : {}),
    location: ctx.where,
    ...(s.signal ? { signal: s.signal } : {}),
  }, { files: cmd.files });
}

async function run(ins: RunInstruction, ctx: StepContext): Promise<{ createdBy: string }> {
  const s = ctx.services;
  const { dir } = await s.rootfs();
  const cfg = ctx.config.config ?? {};
  const workdir = cfg.WorkingDir || "/";
  const sb = await s.sandbox();
  // In place, /dev is the container's (often noexec): `#!` heredoc scripts go to kiln's work dir instead.
  const cmd = commandOf(ins, ctx.where, sb.mode === "in-place" ? join(s.layerDir, "pipes") : undefined);
  const argv = cmd.shell ? shellForm(cfg, cmd.words.join(" ")) : cmd.words;
  if (argv.length === 0) throw new KilnError(`${ctx.where}: RUN needs a command`);
  const resolved = await resolveUser(dir, cfg.User ?? "");
  // BuildKit (executor/oci ensureAdditionalGids) and runc list the primary gid among the groups too.
  const user = resolved.groups.includes(resolved.gid)
    ? resolved
    : { ...resolved, groups: [resolved.gid, ...resolved.groups] };
  const env = runEnv(ctx);
  await ensureDir(dir, workdir, { uid: 0, gid: 0 });
  const prepared: PreparedMounts | undefined = await prepare(ins, cmd, ctx, workdir);
  let placed: PlacedMounts | undefined;
  if (prepared && sb.mode === "in-place") {
    // In place there is no mounting: the sources are moved or copied to their targets and put back afterwards.
    ctx.snapshotIgnore.push(...prepared.snapshotIgnore);
    if (prepared.mounts.length > 0) {
      placed = await placeMountsInPlace(prepared.mounts, {
        root: sb.rootDir,
        stashDir: join(s.layerDir, `in-place-mounts-${ctx.stepNo}`),
        setTimes: (p, a, m) => sb.setTimes(p, a, m),
        getTimes: (p) => sb.getTimes(p),
        location: ctx.where,
        ...(s.signal ? { signal: s.signal } : {}),
      }).catch(async (e) => {
        await prepared.release();
        throw e;
      });
    }
  }
  const output = (stream: "stdout" | "stderr") => (line: string) => {
    s.progress({ type: "output", step: ctx.stepNo, stream, line });
    s.log.info(line, { "@stream": stream }); // in JSON logs: "stream":"stdout"|"stderr"
  };
  const res = await sb.run({
    argv,
    env: prepared?.env.length ? [...env, ...prepared.env] : env,
    ...(prepared?.mounts.length && !placed ? { mounts: prepared.mounts } : {}),
    cwd: workdir,
    user,
    ...(ins.network ? { network: ins.network } : {}),
    ...(ins.security === "insecure" ? { security: "insecure" as const } : {}),
    stdout: output("stdout"),
    stderr: output("stderr"),
    ...(s.signal ? { signal: s.signal } : {}),
  }).finally(async () => {
    try {
      if (placed) {
        await placed.restore();
        ctx.snapshotCtimeOnly.push(...placed.restoredDirs);
      }
    } finally {
      await prepared?.release();
    }
  });
  s.log.debug("run finished", { exitCode: res.exitCode });
  if (res.restoredDirs?.length) ctx.snapshotCtimeOnly.push(...res.restoredDirs);
  if (res.exitCode !== 0) {
    throw new RunStepError(
      `${ctx.where}: step ${ctx.stepNo}/${ctx.total} "${oneLine(ins.original)}" failed: exit code ${res.exitCode}`,
      res.exitCode,
      { location: ctx.where },
    );
  }
  return { createdBy: `RUN ${argv.join(" ")}` };
}

/**
 * A RUN step's command exited with a non-zero status. The CLI exits with that status (kaniko's behaviour, which CI
 * scripts test), so `RUN exit 3` makes `kiln build` exit 3.
 *
 * @example Usage
 * ```ts
 * import { RunStepError } from "./run.ts";
 * const e = new RunStepError("Dockerfile:3: step 2/4 \"RUN exit 3\" failed: exit code 3", 3);
 * console.assert(e.exitCode === 3 && e.stepExitCode === 3);
 * ```
 */
export class RunStepError extends KilnError {
  /** The step's exit status. */
  readonly stepExitCode: number;
  /**
   * Creates the error.
   *
   * @param message `Dockerfile:LINE: step N/M "RUN …" failed: exit code X`.
   * @param stepExitCode The status the command exited with.
   * @param options Location, cause.
   */
  constructor(message: string, stepExitCode: number, options: { location?: string; cause?: unknown } = {}) {
    super(message, { ...options, exitCode: stepExitCode });
    this.name = "RunStepError";
    this.stepExitCode = stepExitCode;
  }
}

/** The RUN handler. */
export const runHandler: InstructionHandler<"run"> = {
  kind: "run",
  changesFilesystem: true,
  execute: run,
};
