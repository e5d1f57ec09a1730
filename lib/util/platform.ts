/**
 * The platform model (`os/arch[/variant]`) shared by the image model, the Dockerfile front end and the CLI: one
 * `Platform` type, a strict parser for flags ({@linkcode parsePlatform}), a lenient, normalising one for
 * Dockerfile text ({@linkcode parsePlatformSpec}, as containerd's `platforms.Parse`) and
 * {@linkcode formatPlatform}. lib/image/platform.ts adds the host platform and index-entry matching.
 *
 * It lives in lib/util (not lib/image) so that lib/dockerfile can use it and still import nothing but lib/util.
 *
 * @module
 */
import { KilnError } from "./errors.ts";

/** A platform an image runs on (the OCI image-index `platform` object). */
export interface Platform {
  /** CPU architecture, e.g. `amd64`. */
  architecture: string;
  /** Operating system, e.g. `linux`. */
  os: string;
  /** CPU variant, e.g. `v8`. */
  variant?: string;
  /** OS version. */
  "os.version"?: string;
  /** OS features. */
  "os.features"?: string[];
}

const COMPONENT = /^[a-zA-Z0-9_.-]+$/;

/**
 * Parses `os/arch[/variant]` exactly as written (kaniko's `--custom-platform`): no aliases, no defaults.
 *
 * @param s The text.
 * @returns The platform.
 * @throws {KilnError} (exit code 2) when `s` is not `os/arch[/variant]`.
 *
 * @example Usage
 * ```ts
 * import { parsePlatform } from "./platform.ts";
 * console.assert(parsePlatform("linux/arm64/v8").variant === "v8");
 * ```
 */
export function parsePlatform(s: string): Platform {
  const parts = s.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !COMPONENT.test(p))) {
    throw new KilnError(`Invalid platform "${s}": expected os/arch[/variant]`, { exitCode: 2 });
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return p;
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
 * Parses `os`, `arch`, `os/arch` or `os/arch/variant` leniently, as containerd's `platforms.Parse` (Dockerfile
 * `FROM --platform`, the automatic TARGET and BUILD args): normalises `x86_64`→`amd64`, `aarch64`→`arm64`,
 * `arm`→`arm/v7`, `macos`→`darwin`; a lone OS takes `amd64`, a lone architecture takes `defaultOS`.
 *
 * @param spec The platform text.
 * @param defaultOS OS used when only an architecture is given (default `linux`).
 * @returns The platform, or undefined when `spec` is malformed.
 *
 * @example Usage
 * ```ts
 * import { parsePlatformSpec } from "./platform.ts";
 * console.assert(parsePlatformSpec("linux/arm")?.variant === "v7");
 * console.assert(parsePlatformSpec("x86_64")?.architecture === "amd64");
 * console.assert(parsePlatformSpec("linux//") === undefined);
 * ```
 */
export function parsePlatformSpec(spec: string, defaultOS = "linux"): Platform | undefined {
  const parts = spec.split("/");
  if (parts.some((p) => !COMPONENT.test(p)) || parts.length > 3) return undefined;
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
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}
