/**
 * RUN `--mount`s (cache, bind, tmpfs, secret; ssh is rejected) and RUN heredocs, producing what lib/sandbox's
 * `run()` takes. The mounts come parsed from lib/dockerfile (`RunInstruction.mounts`, the one parser);
 * {@linkcode resolveMount} adds WORKDIR and the file defaults.
 *
 * ```ts ignore
 * import { heredocRunCommand, prepareMounts, resolveMount } from "./mod.ts";
 * const cmd = heredocRunCommand({ cmdLine: "<<EOF", heredocs });
 * const p = await prepareMounts(run.mounts.map((m) => resolveMount(m, workdir, where)), ctx, { files: cmd.files });
 * try { await sandbox.run({ argv: cmd.argv, mounts: p.mounts, env: [...env, ...p.env], ... }); }
 * finally { await p.release(); }
 * ```
 *
 * @module
 */
export { resolveMount } from "./resolve.ts";
export type { CacheSharing, RunMount } from "./resolve.ts";
export { prepareMounts } from "./prepare.ts";
export type { MountContext, PreparedMounts } from "./prepare.ts";
export type { MountSpec } from "../../sandbox/mod.ts";
export { chompTabs, DEFAULT_PIPES_DIR, heredocRunCommand, isSingleHeredoc } from "./heredoc_run.ts";
export type { HeredocRun, RunHeredoc, StepFile } from "./heredoc_run.ts";
