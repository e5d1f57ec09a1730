/**
 * `VOLUME path …`: adds `Volumes`, and — as Docker's classic builder, buildah and kaniko, which kaniko users' Dockerfiles
 * rely on — makes each directory exist for the later steps (`VOLUME /data` then `RUN echo x > /data/x` works) and drops
 * from later RUN layers what they write below a volume (COPY/ADD into it are kept, as the classic builder does).
 * BuildKit only records the volume (see DIVERGENCES.md).
 *
 * @module
 */
import { cleanPath, KilnError } from "../../util/mod.ts";
import type { VolumeInstruction } from "../../dockerfile/mod.ts";
import { containerConfig } from "./_config.ts";
import type { InstructionHandler } from "./types.ts";

/** The VOLUME handler. */
export const volumeHandler: InstructionHandler<"volume"> = {
  kind: "volume",
  changesFilesystem: false,
  execute(ins: VolumeInstruction, ctx) {
    for (const p of ins.paths) {
      if (p.trim() === "") throw new KilnError(`${ctx.where}: VOLUME specified can not be an empty string`);
    }
    const vols = containerConfig(ctx.config).Volumes ??= {};
    const cwd = ctx.config.config?.WorkingDir || "/";
    for (const p of ins.paths) {
      vols[p] = {};
      const abs = cleanPath(p.startsWith("/") ? p : `${cwd}/${p}`);
      if (abs !== "/" && !ctx.volumes.includes(abs)) ctx.volumes.push(abs);
    }
  },
};
