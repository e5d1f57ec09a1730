/**
 * Deprecated: the platform model lives in lib/util/platform.ts (one `Platform` type for the image model and the
 * Dockerfile front end). This module keeps the old names working.
 *
 * @module
 */
import { formatPlatform as format, parsePlatformSpec, type Platform as UtilPlatform } from "../util/mod.ts";

/**
 * A platform.
 *
 * @deprecated Use `Platform` from lib/util/platform.ts (also exported by lib/image and the root module).
 */
export type Platform = UtilPlatform;

/**
 * Parses `os`, `arch`, `os/arch` or `os/arch/variant` leniently (containerd's `platforms.Parse`).
 *
 * @deprecated Use `parsePlatformSpec` from lib/util/platform.ts (the same function).
 * @param spec The platform text.
 * @param defaultOS OS used when only an architecture is given (default `linux`).
 * @returns The platform, or undefined when `spec` is malformed.
 *
 * @example Usage
 * ```ts
 * import { parsePlatform } from "./platform.ts";
 * console.assert(parsePlatform("linux/arm")?.variant === "v7");
 * ```
 */
export function parsePlatform(spec: string, defaultOS = "linux"): Platform | undefined {
  return parsePlatformSpec(spec, defaultOS);
}

/**
 * Formats a platform as `os/arch[/variant]`.
 *
 * @deprecated Use `formatPlatform` from lib/util/platform.ts (the same function).
 * @param p The platform.
 * @returns The text.
 *
 * @example Usage
 * ```ts
 * import { formatPlatform } from "./platform.ts";
 * console.assert(formatPlatform({ os: "linux", architecture: "arm", variant: "v7" }) === "linux/arm/v7");
 * ```
 */
export function formatPlatform(p: Platform): string {
  return format(p);
}
