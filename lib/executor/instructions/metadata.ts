/**
 * Metadata-only instructions: ENV, ARG, LABEL, USER, EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL,
 * HEALTHCHECK, MAINTAINER, ONBUILD. Each updates the stage's config (or its ARG scope) and never the filesystem.
 *
 * @module
 */
import type { ContainerConfig, ImageConfig } from "../../image/types.ts";
import { KilnError } from "../../util/errors.ts";
import { checkStopSignal, exposedPortKeys, healthConfig, shellForm } from "../config.ts";
import type { CommandForm, Step } from "../steps.ts";

/** The mutable per-stage state metadata instructions touch. */
export interface MetadataState {
  /** The image config being built (mutated in place). ARG/ENV variables live in the stage's scope (lib/executor/stage.ts). */
  config: ImageConfig;
  /** True once this stage set CMD (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /**
   * Position of each name in `config.config.Env`, kept by {@linkcode applyMetadata} so that an ENV costs O(1) however
   * many variables there are (rebuilt when `Env` is replaced by another array).
   */
  envIndex?: { env: string[]; at: Map<string, number> };
}

function cc(config: ImageConfig): ContainerConfig {
  return config.config ??= {};
}

function commandArgv(config: ContainerConfig, cmd: CommandForm): string[] {
  return cmd.shell ? shellForm(config, cmd.command) : [...cmd.argv];
}

/**
 * Applies a metadata step to the stage state. Returns false when `step` is not a metadata step.
 *
 * @param state The stage state (mutated).
 * @param step The expanded step.
 * @param where `Dockerfile:LINE` for messages.
 * @returns Whether the step was handled.
 *
 * @example Usage
 * ```ts
 * import { applyMetadata, type MetadataState } from "./metadata.ts";
 * const state: MetadataState = {
 *   config: { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } },
 *   cmdSet: false,
 * };
 * applyMetadata(state, { kind: "env", pairs: [["A", "1"]] }, "Dockerfile:2");
 * console.assert(state.config.config?.Env?.[0] === "A=1");
 * ```
 */
export function applyMetadata(state: MetadataState, step: Step, where: string): boolean {
  const config = state.config;
  switch (step.kind) {
    case "env": {
      // In place, through an index: copying Env on every ENV made n ENV lines cost O(n²).
      const env = cc(config).Env ??= [];
      const index = envIndexOf(state, env);
      for (const [k, v] of step.pairs) {
        if (k === "") throw new KilnError(`${where}: ENV names can not be blank`);
        const i = index.get(k);
        if (i === undefined) {
          index.set(k, env.length);
          env.push(`${k}=${v}`);
        } else env[i] = `${k}=${v}`;
      }
      return true;
    }
    case "arg":
      // ARG never touches the config: the stage's scope (lib/dockerfile createStageScope) declares it.
      return true;
    case "label": {
      // The stage owns its config (a copy of the base's): updated in place, so n LABELs cost O(n), not O(n²).
      const labels = cc(config).Labels ??= {};
      for (const [k, v] of step.pairs) labels[k] = v;
      return true;
    }
    case "user":
      cc(config).User = step.user;
      return true;
    case "expose": {
      const ports = cc(config).ExposedPorts ??= {};
      for (const w of step.ports) for (const k of exposedPortKeys(w, where)) ports[k] = {};
      return true;
    }
    case "volume": {
      for (const p of step.paths) {
        if (p.trim() === "") throw new KilnError(`${where}: VOLUME specified can not be an empty string`);
      }
      const vols = cc(config).Volumes ??= {};
      for (const p of step.paths) vols[p] = {};
      return true;
    }
    case "cmd":
      cc(config).Cmd = commandArgv(cc(config), step.cmd);
      state.cmdSet = true;
      return true;
    case "entrypoint":
      cc(config).Entrypoint = commandArgv(cc(config), step.cmd);
      if (!state.cmdSet) delete cc(config).Cmd;
      return true;
    case "shell":
      if (step.argv.length === 0) throw new KilnError(`${where}: SHELL requires at least one argument`);
      cc(config).Shell = [...step.argv];
      return true;
    case "stopsignal":
      cc(config).StopSignal = checkStopSignal(step.signal, where);
      return true;
    case "healthcheck": {
      const test = step.cmd === null
        ? ["NONE"]
        : step.cmd.shell
        ? ["CMD-SHELL", step.cmd.command]
        : ["CMD", ...step.cmd.argv];
      cc(config).Healthcheck = healthConfig(test, step.flags, where);
      return true;
    }
    case "maintainer":
      config.author = step.name;
      return true;
    case "onbuild":
      (cc(config).OnBuild ??= []).push(step.expression);
      return true;
    default:
      return false;
  }
}

/** The name → position index of `env` (what `setEnv` finds: the first entry named so). */
function envIndexOf(state: MetadataState, env: string[]): Map<string, number> {
  if (state.envIndex?.env === env) return state.envIndex.at;
  const at = new Map<string, number>();
  env.forEach((e, i) => {
    const k = e.indexOf("=");
    const name = k < 0 ? e : e.slice(0, k);
    if (!at.has(name)) at.set(name, i);
  });
  state.envIndex = { env, at };
  return at;
}
