/**
 * Platforms: parsing `os/arch[/variant]` (re-exported from lib/util/platform.ts), the host platform, and choosing
 * an index entry.
 *
 * @module
 */
import process from "node:process";
import { formatPlatform, KilnError } from "../util/mod.ts";
import type { Descriptor, Index, Platform } from "./types.ts";

// The platform model and its parsers live in lib/util/platform.ts (lib/dockerfile uses them too).
export { formatPlatform, parsePlatform, parsePlatformSpec } from "../util/mod.ts";

/**
 * The platform kiln runs on, in OCI terms (linux/amd64, linux/arm64/v8, …).
 *
 * @returns The host platform.
 *
 * @example Usage
 * ```ts
 * import { hostPlatform } from "./platform.ts";
 * console.assert(hostPlatform().os.length > 0);
 * ```
 */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le" };
  const os = process.platform === "win32" ? "windows" : process.platform;
  const p: Platform = { os, architecture: arch[process.arch] ?? process.arch };
  if (p.architecture === "arm64") p.variant = "v8";
  return p;
}

function normVariant(arch: string, v: string | undefined): string | undefined {
  if (arch === "arm64" && (v === undefined || v === "v8")) return "v8";
  if (arch === "arm" && v === undefined) return "v7";
  return v;
}

/**
 * True if an index entry's platform satisfies the wanted one (variant compared when wanted; arm64 `v8` is the default).
 *
 * @param have The entry's platform.
 * @param want The wanted platform.
 * @returns Whether it matches.
 *
 * @example Usage
 * ```ts
 * import { platformMatches } from "./platform.ts";
 * console.assert(platformMatches({ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "arm64", variant: "v8" }));
 * ```
 */
export function platformMatches(have: Platform, want: Platform): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  if (want.variant === undefined && want.architecture !== "arm64") return true;
  return normVariant(have.architecture, have.variant) === normVariant(want.architecture, want.variant);
}

/**
 * Picks the first index entry for `platform`, or throws a KilnError listing what is available.
 *
 * @param index The index.
 * @param platform The wanted platform.
 * @param source For the message.
 * @returns The descriptor.
 *
 * @example Usage
 * ```ts
 * import { selectPlatform } from "./platform.ts";
 * const d = { mediaType: "x", digest: `sha256:${"0".repeat(64)}` as const, size: 1, platform: { os: "linux", architecture: "amd64" } };
 * console.assert(selectPlatform({ schemaVersion: 2, manifests: [d] }, { os: "linux", architecture: "amd64" }) === d);
 * ```
 */
export function selectPlatform(index: Index, platform: Platform, source?: string): Descriptor {
  const found = index.manifests.find((d) => d.platform && platformMatches(d.platform, platform));
  if (found) return found;
  const avail = index.manifests.filter((d) => d.platform).map((d) => formatPlatform(d.platform!));
  throw new KilnError(
    `Cannot find platform ${formatPlatform(platform)} in ${source ?? "the image index"} (available: ${
      avail.join(", ") || "none"
    })`,
  );
}
