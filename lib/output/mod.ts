/**
 * Outputs of a build: OCI layout, docker-archive tarball, registry destinations and digest files, written by
 * {@linkcode writeOutputs} in that order (digest files last, only after every push succeeded).
 *
 * @example Usage
 * ```ts ignore
 * import { writeOutputs } from "./mod.ts";
 * await writeOutputs(image, { destinations: ["127.0.0.1:5000/app:1"], noPush: false, digestFile: "out/digest",
 *   registry: { insecureRegistries: ["127.0.0.1:5000"] }, log });
 * ```
 *
 * @module
 */
export { type OutputRecord, writeOutputs, type WriteOutputsOptions } from "./write.ts";
