/**
 * Metadata-only instructions: ENV, ARG, LABEL, USER, EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL,
 * HEALTHCHECK, MAINTAINER, ONBUILD. Each updates the stage's config (or its ARG scope) and never the filesystem.
 *
 * @module
 */
import type { ContainerConfig, ImageConfig } from "../../image/types.ts";
import { KilnError } from "../../util/errors.ts";
import { checkStopSignal, exposedPortKeys, healthConfig, setEnv, shellForm } from "../config.ts";
import type { CommandForm, Step } from "../steps.ts";

/** The mutable per-stage state metadata instructions touch. */
export interface MetadataState {
  /** The image config being built (mutated in place). ARG/ENV variables live in the stage's scope (lib/build/stage.ts). */
  config: ImageConfig;
  /** True once this stage set CMD (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
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
      let env = cc(config).Env ?? [];
      for (const [k, v] of step.pairs) {
        if (k === "") throw new KilnError(`${where}: ENV names can not be blank`);
        env = setEnv(env, k, v);
      }
      cc(config).Env = env;
      return true;
    }
    case "arg":
      // ARG never touches the config: the stage's scope (lib/dockerfile createStageScope) declares it.
      return true;
    case "label": {
      const labels = { ...(cc(config).Labels ?? {}) };
      for (const [k, v] of step.pairs) labels[k] = v;
      cc(config).Labels = labels;
      return true;
    }
    case "user":
      cc(config).User = step.user;
      return true;
    case "expose": {
      const ports = { ...(cc(config).ExposedPorts ?? {}) };
      for (const w of step.ports) for (const k of exposedPortKeys(w, where)) ports[k] = {};
      cc(config).ExposedPorts = ports;
      return true;
    }
    case "volume": {
      const vols = { ...(cc(config).Volumes ?? {}) };
      for (const p of step.paths) {
        if (p.trim() === "") throw new KilnError(`${where}: VOLUME specified can not be an empty string`);
        vols[p] = {};
      }
      cc(config).Volumes = vols;
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
      cc(config).OnBuild = [...(cc(config).OnBuild ?? []), step.expression];
      return true;
    default:
      return false;
  }
}
