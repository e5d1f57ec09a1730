/**
 * `ENV k=v …`: sets variables in the image's `Env` (an existing name keeps its place) and in the stage's scope.
 *
 * @module
 */
import { KilnError } from "../../util/mod.ts";
import type { EnvInstruction } from "../../dockerfile/mod.ts";
import { containerConfig } from "./_config.ts";
import type { InstructionHandler, MetadataState } from "./types.ts";

/** The ENV handler. */
export const envHandler: InstructionHandler<"env"> = {
  kind: "env",
  changesFilesystem: false,
  execute(ins: EnvInstruction, ctx) {
    // In place, through an index: copying Env on every ENV made n ENV lines cost O(n²).
    const env = containerConfig(ctx.config).Env ??= [];
    const index = envIndexOf(ctx.meta, env);
    for (const { key, value } of ins.pairs) {
      if (key === "") throw new KilnError(`${ctx.where}: ENV names can not be blank`);
      const i = index.get(key);
      if (i === undefined) {
        index.set(key, env.length);
        env.push(`${key}=${value}`);
      } else env[i] = `${key}=${value}`;
    }
    ctx.scope.setEnv(ins.pairs);
  },
};

/** The name → position index of `env` (the first entry named so), rebuilt when `Env` was replaced. */
function envIndexOf(meta: MetadataState, env: string[]): Map<string, number> {
  if (meta.envIndex?.env === env) return meta.envIndex.at;
  const at = new Map<string, number>();
  env.forEach((e, i) => {
    const k = e.indexOf("=");
    const name = k < 0 ? e : e.slice(0, k);
    if (!at.has(name)) at.set(name, i);
  });
  meta.envIndex = { env, at };
  return at;
}
