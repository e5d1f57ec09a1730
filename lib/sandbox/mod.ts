/**
 * Where kiln's RUN steps execute: a namespaced chroot sandbox (default) or in place on `/` (kaniko's model).
 *
 * @example Usage
 * ```ts ignore
 * import { createSandbox, resolveUser } from "./mod.ts";
 * const sb = await createSandbox({ rootDir: "/tmp/rootfs", workDir: "/tmp/kiln-work" });
 * const user = await resolveUser("/tmp/rootfs", "root");
 * const { exitCode } = await sb.run({ argv: ["/bin/sh", "-c", "echo hi"], env: [], cwd: "/", user });
 * await sb.close();
 * ```
 *
 * @module
 */
export * from "./types.ts";
export { SandboxError } from "./errors.ts";
export { createSandbox, DEFAULT_HELPER_PATH, DEFAULT_PATH } from "./sandbox.ts";
export { resolveUser } from "./user.ts";
export type { ResolveUserOptions } from "./user.ts";
export { defaultIgnoreList, ignorePathsFromMountInfo } from "./ignore.ts";
export type { DefaultIgnoreOptions, MountInfoOptions } from "./ignore.ts";
export { detectContainer } from "./container.ts";
export type { ContainerDetection, DetectContainerOptions } from "./container.ts";
