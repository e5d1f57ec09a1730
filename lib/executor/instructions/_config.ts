/**
 * Small helpers the metadata handlers share.
 *
 * @module
 */
import type { ContainerConfig, ImageConfig } from "../../image/mod.ts";
import { shellForm } from "../config.ts";

/** The runtime config of `config`, created when missing. */
export function containerConfig(config: ImageConfig): ContainerConfig {
  return config.config ??= {};
}

/** A CMD/ENTRYPOINT/RUN command as the argv it stands for (shell form through SHELL). */
export function commandArgv(config: ContainerConfig, command: readonly string[], prependShell: boolean): string[] {
  return prependShell ? shellForm(config, command.join(" ")) : [...command];
}
