/**
 * `WORKDIR path`: the working directory of later steps, created (owned by the current USER) when missing. The path
 * is cleaned lexically, relative paths resolve against the current WORKDIR.
 *
 * @module
 */
import type { WorkdirInstruction } from "../../dockerfile/mod.ts";
import { resolveUser } from "../../sandbox/user.ts";
import { ensureDir } from "./_fs.ts";
import type { InstructionHandler } from "./types.ts";

/** The WORKDIR handler. */
export const workdirHandler: InstructionHandler<"workdir"> = {
  kind: "workdir",
  changesFilesystem: true,
  async execute(ins: WorkdirInstruction, ctx) {
    const { dir } = await ctx.services.rootfs();
    const cfg = ctx.config.config ??= {};
    const current = cfg.WorkingDir || "/";
    const path = ins.path.startsWith("/") ? ins.path : `${current.replace(/\/$/, "")}/${ins.path}`;
    const clean = "/" + path.split("/").filter((c) => c !== "" && c !== ".").join("/");
    cfg.WorkingDir = clean;
    const user = await resolveUser(dir, cfg.User ?? "");
    await ensureDir(dir, clean, { uid: user.uid, gid: user.gid });
  },
};
