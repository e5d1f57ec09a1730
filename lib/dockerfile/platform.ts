/**
 * Platform strings (`os/arch[/variant]`) as containerd's `platforms.Parse`/`Format` treat them, for FROM
 * `--platform` and the automatic TARGET and BUILD args.
 *
 * @module
 */
/**
 * A platform (same shape as the image model's `Platform`, declared here so the Dockerfile front end depends on
 * lib/util only).
 */
export interface Platform {
  /** Operating system, e.g. `linux`. */
  os: string;
  /** CPU architecture, e.g. `amd64`. */
  architecture: string;
  /** CPU variant, e.g. `v7`. */
  variant?: string;
  /** OS version. */
  "os.version"?: string;
  /** OS features. */
  "os.features"?: string[];
}

const ARCH_ALIASES: Record<string, [string, string | undefined]> = {
  "x86_64": ["amd64", undefined],
  "x86-64": ["amd64", undefined],
  "amd64": ["amd64", undefined],
  "i386": ["386", undefined],
  "386": ["386", undefined],
  "aarch64": ["arm64", undefined],
  "arm64": ["arm64", undefined],
  "armhf": ["arm", "v7"],
  "armel": ["arm", "v6"],
  "arm": ["arm", undefined],
};

const KNOWN_OS = new Set([
  "aix",
  "android",
  "darwin",
  "dragonfly",
  "freebsd",
  "illumos",
  "ios",
  "js",
  "linux",
  "netbsd",
  "openbsd",
  "plan9",
  "solaris",
  "wasip1",
  "windows",
]);

function normalizeArch(arch: string, variant: string | undefined): [string, string | undefined] {
  const a = arch.toLowerCase();
  const v = variant?.toLowerCase();
  const alias = ARCH_ALIASES[a];
  if (!alias) return [a, v];
  const [na, nv] = alias;
  if (na === "arm64") return [na, v === "8" || v === "v8" || v === undefined ? undefined : v];
  if (na === "arm") {
    const vv = nv ?? v ?? "v7";
    return [na, /^\d+$/.test(vv) ? "v" + vv : vv];
  }
  return [na, nv ?? v];
}

/**
 * Parses `os`, `arch`, `os/arch` or `os/arch/variant` (normalising `x86_64`→`amd64`, `aarch64`→`arm64`,
 * `arm`→`arm/v7`...). A lone architecture takes `defaultOS`.
 *
 * @param spec The platform text.
 * @param defaultOS OS used when only an architecture is given (default `linux`).
 * @returns The platform, or undefined when `spec` is malformed.
 *
 * @example Usage
 * ```ts
 * import { parsePlatform } from "./platform.ts";
 * console.assert(parsePlatform("linux/arm")?.variant === "v7");
 * console.assert(parsePlatform("linux/x86_64")?.architecture === "amd64");
 * ```
 */
export function parsePlatform(spec: string, defaultOS = "linux"): Platform | undefined {
  const parts = spec.split("/");
  if (parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p)) || parts.length > 3) return undefined;
  let os: string, arch: string, variant: string | undefined;
  if (parts.length === 1) {
    const p = parts[0]!.toLowerCase();
    if (KNOWN_OS.has(p)) {
      os = p;
      arch = "amd64";
    } else {
      os = defaultOS;
      arch = p;
    }
  } else {
    os = parts[0]!.toLowerCase();
    arch = parts[1]!;
    variant = parts[2];
  }
  if (os === "macos") os = "darwin";
  const [a, v] = normalizeArch(arch, variant);
  const out: Platform = { os, architecture: a };
  if (v) out.variant = v;
  return out;
}

/**
 * Formats a platform as `os/arch[/variant]`.
 *
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
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join("/");
}
