/**
 * Parsing of `RUN --mount=…`, `--network=…` and `--security=…` values with BuildKit's rules.
 *
 * @module
 */
import { KilnError } from "../../util/errors.ts";

/** `sharing=` of a cache mount. */
export type CacheSharing = "shared" | "private" | "locked";

/** A parsed `RUN --mount`. */
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
    /** Cache id (default: the target). */
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

/** Splits a CSV record the way Go's `encoding/csv` does for one line (double quotes, `""` escapes). */
function splitCsv(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  let i = 0;
  let fieldStart = true;
  while (i < s.length) {
    const ch = s[i]!;
    if (quoted) {
      if (ch === '"') {
        if (s[i + 1] === '"') {
          cur += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else cur += ch;
    } else if (ch === '"' && fieldStart) {
      quoted = true;
    } else if (ch === ",") {
      out.push(cur);
      cur = "";
      fieldStart = true;
      i++;
      continue;
    } else cur += ch;
    fieldStart = false;
    i++;
  }
  if (quoted) throw new Error("unterminated quote");
  out.push(cur);
  return out;
}

function parseBool(v: string | undefined, key: string, fail: (m: string) => never): boolean {
  if (v === undefined || v === "") return true;
  const l = v.toLowerCase();
  if (l === "true" || l === "1") return true;
  if (l === "false" || l === "0") return false;
  fail(`invalid value ${JSON.stringify(v)} for ${key}`);
}

function parseIntKey(v: string | undefined, key: string, base: number, fail: (m: string) => never): number {
  if (v === undefined || !(base === 8 ? /^[0-7]+$/ : /^\d+$/).test(v)) {
    fail(`invalid value ${JSON.stringify(v)} for ${key}`);
  }
  return parseInt(v, base);
}

function parseSize(v: string, fail: (m: string) => never): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m) fail(`invalid size ${JSON.stringify(v)}`);
  const mult: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  return Math.round(parseFloat(m[1]!) * mult[m[2]!.toLowerCase()]!);
}

/**
 * Parses one `--mount` value (already variable-expanded) with BuildKit's rules: keys are case-insensitive,
 * `type` defaults to `bind`, `ro`/`rw`/`required` may be bare, `mode`/`uid`/`gid` only for cache/secret/ssh, `size`
 * only for tmpfs, `required` only for secret/ssh, `from`/`sharing` not for secrets.
 *
 * @param value The flag value, e.g. `type=cache,target=/root/.cache,sharing=locked`.
 * @param options `location` (e.g. `Dockerfile:7`) prefixes error messages.
 * @returns The typed mount.
 *
 * @example Usage
 * ```ts
 * import { parseMountFlag } from "./parse.ts";
 * const m = parseMountFlag("type=cache,target=/var/cache/apt,sharing=locked");
 * console.assert(m.type === "cache" && m.id === "/var/cache/apt" && m.sharing === "locked");
 * ```
 */
export function parseMountFlag(value: string, options: { location?: string } = {}): RunMount {
  const prefix = options.location ? `${options.location}: ` : "";
  const fail = (m: string): never => {
    throw new KilnError(`${prefix}RUN --mount=${value}: ${m}`);
  };
  let fields: string[];
  try {
    fields = splitCsv(value);
  } catch (e) {
    fail((e as Error).message);
    throw e;
  }
  const kv = new Map<string, string | undefined>();
  let type = "bind";
  for (const f of fields) {
    if (f.trim() === "") continue;
    const i = f.indexOf("=");
    const key = (i < 0 ? f : f.slice(0, i)).trim().toLowerCase();
    const val = i < 0 ? undefined : f.slice(i + 1);
    if (key === "type") {
      if (val === undefined) fail("type needs a value");
      type = val!.toLowerCase();
      continue;
    }
    if (val === undefined && !["ro", "rw", "readonly", "readwrite", "required"].includes(key)) {
      fail(`${key} needs a value`);
    }
    kv.set(key, val);
  }
  if (!["bind", "cache", "tmpfs", "secret", "ssh"].includes(type)) {
    fail(`unsupported mount type ${JSON.stringify(type)}`);
  }
  const allowed: Record<string, string[]> = {
    bind: ["target", "dst", "destination", "source", "src", "from", "rw", "readwrite", "ro", "readonly"],
    cache: [
      "id",
      "target",
      "dst",
      "destination",
      "ro",
      "readonly",
      "rw",
      "readwrite",
      "sharing",
      "from",
      "source",
      "src",
      "mode",
      "uid",
      "gid",
    ],
    tmpfs: ["target", "dst", "destination", "size"],
    secret: ["id", "target", "dst", "destination", "env", "required", "mode", "uid", "gid"],
    ssh: ["id", "target", "dst", "destination", "required", "mode", "uid", "gid"],
  };
  for (const k of kv.keys()) {
    if (!allowed[type]!.includes(k)) fail(`key ${JSON.stringify(k)} is not allowed for type=${type}`);
  }
  const get = (...ks: string[]): string | undefined => {
    for (const k of ks) if (kv.has(k)) return kv.get(k) ?? "";
    return undefined;
  };
  const target = get("target", "dst", "destination");
  const absTarget = (t: string): string => (t.startsWith("/") ? t : "/" + t);
  const ro = kv.has("ro") || kv.has("readonly")
    ? parseBool(get("ro", "readonly"), "readonly", fail)
    : kv.has("rw") || kv.has("readwrite")
    ? !parseBool(get("rw", "readwrite"), "rw", fail)
    : undefined;
  const num = (k: string, base: number, def: number): number => kv.has(k) ? parseIntKey(get(k), k, base, fail) : def;
  const from = get("from");
  const source = get("source", "src");
  switch (type) {
    case "bind": {
      if (!target) fail("target is required");
      return {
        type: "bind",
        target: absTarget(target!),
        source: source ?? "/",
        ...(from ? { from } : {}),
        readwrite: ro === undefined ? false : !ro,
      };
    }
    case "cache": {
      if (!target) fail("target is required");
      const sharing = (get("sharing") ?? "shared").toLowerCase();
      if (sharing !== "shared" && sharing !== "private" && sharing !== "locked") {
        fail(`invalid sharing ${JSON.stringify(sharing)} (shared, private or locked)`);
      }
      return {
        type: "cache",
        id: get("id") || absTarget(target!),
        target: absTarget(target!),
        readonly: ro ?? false,
        sharing: sharing as CacheSharing,
        ...(from ? { from } : {}),
        ...(source !== undefined ? { source } : {}),
        mode: num("mode", 8, 0o755),
        uid: num("uid", 10, 0),
        gid: num("gid", 10, 0),
      };
    }
    case "tmpfs": {
      if (!target) fail("target is required");
      const size = get("size");
      return { type: "tmpfs", target: absTarget(target!), ...(size ? { size: parseSize(size, fail) } : {}) };
    }
    case "secret": {
      const env = get("env");
      let id = get("id");
      if (!id) {
        if (!target) fail("id or target is required");
        id = target!.split("/").filter((x) => x).pop() ?? "";
      }
      const t = target ? absTarget(target) : env ? undefined : `/run/secrets/${id}`;
      return {
        type: "secret",
        id,
        ...(t ? { target: t } : {}),
        ...(env ? { env } : {}),
        required: kv.has("required") ? parseBool(get("required"), "required", fail) : false,
        mode: num("mode", 8, 0o400),
        uid: num("uid", 10, 0),
        gid: num("gid", 10, 0),
      };
    }
    default: {
      return {
        type: "ssh",
        id: get("id") || "default",
        target: target ? absTarget(target) : "/run/buildkit/ssh_agent.0",
        required: kv.has("required") ? parseBool(get("required"), "required", fail) : false,
        mode: num("mode", 8, 0o600),
        uid: num("uid", 10, 0),
        gid: num("gid", 10, 0),
      };
    }
  }
}

/**
 * Validates `RUN --network`.
 *
 * @param value `default`, `none` or `host`.
 * @param options `location` for the message.
 * @returns The mode for the sandbox's `network`.
 */
export function parseNetworkFlag(value: string, options: { location?: string } = {}): "default" | "none" | "host" {
  if (value === "default" || value === "none" || value === "host") return value;
  const prefix = options.location ? `${options.location}: ` : "";
  throw new KilnError(`${prefix}RUN --network=${value}: unsupported network mode (default, none or host)`);
}

/**
 * Validates `RUN --security`: `sandbox` is what kiln always does; `insecure` (privileged steps) is not supported.
 *
 * @param value The flag value.
 * @param options `location` for the message.
 */
export function checkSecurityFlag(value: string, options: { location?: string } = {}): void {
  const prefix = options.location ? `${options.location}: ` : "";
  if (value === "sandbox") return;
  if (value === "insecure") {
    throw new KilnError(`${prefix}RUN --security=insecure is not supported by kiln (no privileged steps)`);
  }
  throw new KilnError(`${prefix}RUN --security=${value}: unknown value (sandbox or insecure)`);
}
