/**
 * The distribution client: references, credentials (Docker config, credential helpers), the registry HTTP
 * client (auth, retries, TLS options named after kaniko's flags), pulls and pushes.
 *
 * ```ts ignore
 * import { pushImage, remoteImage } from "./mod.ts";
 * const img = await remoteImage("busybox");
 * await pushImage(["127.0.0.1:5000/busybox:latest"], img, { insecureRegistries: ["127.0.0.1:5000"] });
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./reference.ts";
export * from "./auth.ts";
export * from "./transport.ts";
export * from "./options.ts";
export * from "./client.ts";
export * from "./pull.ts";
export * from "./push.ts";
export * from "./keychains.ts";
