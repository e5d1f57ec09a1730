/**
 * What the executor adds to a `RUN --mount` that lib/dockerfile parsed ({@linkcode Mount}, the one mount parser):
 * a relative target resolved against WORKDIR, and the file defaults BuildKit's dispatcher applies (cache 0755,
 * secret 0400, ssh 0600, owner 0:0, the ssh socket path, a bind's whole-source default).
 *
 * @module
 */
import type { CacheSharing, Mount } from "../../dockerfile/mod.ts";
import { cleanPath, KilnError } from "../../util/mod.ts";

export type { CacheSharing };

/** A `RUN --mount` ready for {@linkcode prepareMounts}: absolute target, every default applied. */
export type RunMount =
  | {
    type: "bind";
    /** Absolute path in the step. */
    target: string;
    /** Path inside `from` (default `/`, the whole context/stage). */
    source: string;
    /** Stage name/index, named context or image; absent = the build context. */
    from?: string;
    /** `rw`: writable, with writes discarded after the step. */
    readwrite: boolean;
  }
  | {
    type: "cache";
    /** Cache id (default: the target as written, cleaned — BuildKit's `path.Clean(target)`). */
    id: string;
    target: string;
    readonly: boolean;
    sharing: CacheSharing;
    /** Seed the new cache from this stage/image path (`from` + `source`). */
    from?: string;
    source?: string;
    /** Mode of the cache directory when created (default 0755). */
    mode: number;
    uid: number;
    gid: number;
  }
  | {
    type: "tmpfs";
    target: string;
    /** `size=` in bytes, when given. */
    size?: number;
  }
  | {
    type: "secret";
    id: string;
    /** File path in the step (default `/run/secrets/<id>` unless `env` is set). */
    target?: string;
    /** Environment variable to expose the value in. */
    env?: string;
    required: boolean;
    /** File mode (default 0400). */
    mode: number;
    uid: number;
    gid: number;
  }
  | {
    type: "ssh";
    id: string;
    target: string;
    required: boolean;
    mode: number;
    uid: number;
    gid: number;
  };

/** A lexically clean path: absolute stays absolute, relative stays relative (`.` for empty); `..` stops at the top. */
function clean(p: string): string {
  const abs = cleanPath(p);
  return p.startsWith("/") ? abs : abs.slice(1) || ".";
}

/**
 * Resolves one parsed mount for a step running in `workdir`: BuildKit's `filepath.Join("/", workdir, target)` for a
 * relative target (a target that resolves to `/` is refused), and the file defaults.
 *
 * @param m The mount from lib/dockerfile (`RunInstruction.mounts` after expansion).
 * @param workdir The step's WORKDIR (absolute).
 * @param where `Dockerfile:LINE` for messages.
 * @returns The mount with every field set.
 * @throws {KilnError} `Dockerfile:LINE: RUN --mount: …` for a target of `/`.
 *
 * @example Usage
 * ```ts
 * import { parseMount } from "../../dockerfile/mod.ts";
 * import { resolveMount } from "./resolve.ts";
 * const m = resolveMount(parseMount("type=cache,target=.cache"), "/src", "Dockerfile:3");
 * console.assert(m.type === "cache" && m.target === "/src/.cache" && m.id === ".cache" && m.mode === 0o755);
 * ```
 */
export function resolveMount(m: Mount, workdir: string, where: string): RunMount {
  const abs = (t: string): string => clean(t.startsWith("/") ? t : `/${workdir}/${t}`);
  const target = m.target === undefined ? undefined : abs(m.target);
  if (target === "/") throw new KilnError(`${where}: RUN --mount: the target cannot be /`);
  const owner = { uid: m.uid ?? 0, gid: m.gid ?? 0 };
  switch (m.type) {
    case "bind":
      return {
        type: "bind",
        target: target!,
        source: m.source ?? "/",
        ...(m.from !== undefined && m.from !== "" ? { from: m.from } : {}),
        readwrite: !m.readOnly,
      };
    case "cache":
      return {
        type: "cache",
        id: clean(m.id || m.target!),
        target: target!,
        readonly: m.readOnly,
        sharing: m.sharing ?? "shared",
        ...(m.from !== undefined && m.from !== "" ? { from: m.from } : {}),
        ...(m.source !== undefined ? { source: m.source } : {}),
        mode: m.mode ?? 0o755,
        ...owner,
      };
    case "tmpfs":
      return { type: "tmpfs", target: target!, ...(m.size !== undefined ? { size: m.size } : {}) };
    case "secret":
      return {
        type: "secret",
        id: m.id ?? "",
        ...(target !== undefined ? { target } : {}),
        ...(m.env !== undefined ? { env: m.env } : {}),
        required: m.required ?? false,
        mode: m.mode ?? 0o400,
        ...owner,
      };
    case "ssh":
      return {
        type: "ssh",
        id: m.id ?? "default",
        target: target ?? "/run/buildkit/ssh_agent.0",
        required: m.required ?? false,
        mode: m.mode ?? 0o600,
        ...owner,
      };
  }
}
