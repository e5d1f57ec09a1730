/**
 * RUN options: `--mount` (cache, bind, tmpfs, secret; ssh is rejected), `--network`, `--security`, and RUN
 * heredocs, producing what lib/sandbox's `run()` takes.
 *
 * ```ts ignore
 * import { heredocRunCommand, parseMountFlag, prepareMounts } from "./mod.ts";
 * const cmd = heredocRunCommand({ cmdLine: "<<EOF", heredocs });
 * const p = await prepareMounts(flags.map((f) => parseMountFlag(f)), ctx, { files: cmd.files });
 * try { await sandbox.run({ argv: cmd.argv, mounts: p.mounts, env: [...env, ...p.env], ... }); }
 * finally { await p.release(); }
 * ```
 *
 * @module
 */
export { checkSecurityFlag, parseMountFlag, parseNetworkFlag } from "./parse.ts";
export type { CacheSharing, RunMount } from "./parse.ts";
export { prepareMounts } from "./prepare.ts";
export type { MountContext, PreparedMounts } from "./prepare.ts";
export type { MountSpec } from "../../sandbox/types.ts";
export { chompTabs, DEFAULT_PIPES_DIR, heredocRunCommand, isSingleHeredoc } from "./heredoc_run.ts";
export type { HeredocRun, RunHeredoc, StepFile } from "./heredoc_run.ts";
