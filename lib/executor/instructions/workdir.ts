/**
 * `WORKDIR path`: the working directory of later steps, created (owned by the current USER) when missing. The path
 * is cleaned lexically, relative paths resolve against the current WORKDIR.
 *
 * @module
 */
import type { WorkdirInstruction } from "../../dockerfile/mod.ts";
import { resolveUser } from "../../sandbox/mod.ts";
import { ensureDir } from "./_fs.ts";
import { cleanPath } from "../../util/mod.ts";
import type { InstructionHandler, StepContext } from "./types.ts";

/** Sets `WorkingDir` (relative paths against the current one, cleaned lexically) and returns it. */
function setWorkdir(ins: WorkdirInstruction, ctx: StepContext): string {
  const cfg = ctx.config.config ??= {};
  const current = cfg.WorkingDir || "/";
  const path = ins.path.startsWith("/") ? ins.path : `${current.replace(/\/$/, "")}/${ins.path}`;
  // Lexically, `..` included, as Docker (filepath.Clean): `/proc/self/root/../../tmp` is `/tmp`.
  const clean = cleanPath(path);
  cfg.WorkingDir = clean;
  return clean;
}

/** The WORKDIR handler. */
export const workdirHandler: InstructionHandler<"workdir"> = {
  kind: "workdir",
  changesFilesystem: true,
  async execute(ins: WorkdirInstruction, ctx) {
    const { dir } = await ctx.services.rootfs();
    const clean = setWorkdir(ins, ctx);
    const user = await resolveUser(dir, ctx.config.config?.User ?? "");
    await ensureDir(dir, clean, { uid: user.uid, gid: user.gid });
  },
  applyCached(ins, ctx) {
    setWorkdir(ins, ctx);
  },
};
