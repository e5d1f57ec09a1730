/**
 * `RUN --mount=...` parsing (BuildKit instructions/runmount.go semantics).
 *
 * @module
 */
import { goParseBool } from "./_go.ts";
import { KilnError } from "../util/errors.ts";

/** Mount types of `RUN --mount`. */
export type MountType = "bind" | "cache" | "tmpfs" | "secret" | "ssh";

/** Cache mount sharing modes. */
export type CacheSharing = "shared" | "private" | "locked";

/**
 * One parsed `RUN --mount`. Defaults applied here: `type` bind; `readOnly` true for bind/secret/ssh and false for
 * cache/tmpfs unless `ro`/`rw` given; cache `id` = `target`, cache `sharing` = `shared`; secret `id` = `source` or
 * basename of `target`; secret `target` = `/run/secrets/<id>` when neither `target` nor `env` is set; ssh `id` =
 * `default`. Left to the executor: relative `target`s resolve against WORKDIR (a target of `/` is an error); file
 * defaults (cache mode 0755, secret 0400, ssh 0600, uid/gid 0); the ssh socket path when `target` is unset
 * (`/run/buildkit/ssh_agent.<n>`).
 */
export interface Mount {
  /** Mount type. */
  type: MountType;
  /** Mount point in the container (may be relative, then against WORKDIR); unset only for ssh and env-only secrets. */
  target?: string;
  /** Path inside `from` (bind/cache), or the secret id alias (secret). */
  source?: string;
  /** Stage name, stage index, or image reference to mount from (bind/cache); default is the build context. */
  from?: string;
  /** Read-only mount. */
  readOnly: boolean;
  /** Cache id (cache), secret id (secret), ssh agent id (ssh). */
  id?: string;
  /** Cache sharing mode (cache only). */
  sharing?: CacheSharing;
  /** File mode (cache/secret/ssh), from octal. */
  mode?: number;
  /** Owner uid (cache/secret/ssh). */
  uid?: number;
  /** Owner gid (cache/secret/ssh). */
  gid?: number;
  /** Size limit in bytes (tmpfs). */
  size?: number;
  /** Fail when the secret/ssh agent is not provided (secret/ssh). */
  required?: boolean;
  /** Expose the secret as this environment variable instead of (or besides) a file (secret). */
  env?: string;
}

/**
 * A `--mount` value that cannot be accepted; the message says why (no location: `parseInstruction()` and
 * `expandInstruction()` rethrow it as a located `DockerfileError`).
 */
export class MountSyntaxError extends KilnError {
  /**
   * Creates the error.
   *
   * @param message Detail.
   */
  constructor(message: string) {
    super(message);
    this.name = "MountSyntaxError";
  }
}

const TYPES = new Set<string>(["bind", "cache", "tmpfs", "secret", "ssh"]);
const SHARING = new Set<string>(["shared", "private", "locked"]);

/**
 * Splits one CSV record as Go's encoding/csv does (quotes, doubled quotes, bare quotes are errors).
 *
 * @param s Input.
 * @returns Fields.
 */
export function parseCsvRecord(s: string): string[] {
  if (s === "") throw new MountSyntaxError("failed to parse csv mounts: EOF");
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) {
          throw new MountSyntaxError(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
        }
        const c = s[i]!;
        if (c === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          if (i < s.length && s[i] !== ",") {
            throw new MountSyntaxError(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
          }
          break;
        }
        field += c;
        i++;
      }
    } else {
      const j = s.indexOf(",", i);
      field = j < 0 ? s.slice(i) : s.slice(i, j);
      if (field.includes('"')) throw new MountSyntaxError(`failed to parse csv mounts: bare " in non-quoted-field`);
      i = j < 0 ? s.length : j;
    }
    fields.push(field);
    if (i >= s.length) break;
    i++; // the comma
    if (i >= s.length) {
      fields.push("");
      break;
    }
  }
  return fields;
}

function parseUint(v: string, base: 8 | 10): number | undefined {
  const re = base === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!re.test(v)) return undefined;
  const n = parseInt(v, base);
  return n <= 0xffffffff ? n : undefined;
}

/**
 * Docker's `RAMInBytes` (binary units): `64m`, `1g`, `512k`, `100`, `1.5GiB`.
 *
 * @param v Input.
 * @returns Bytes, or undefined.
 */
export function parseMemBytes(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (!Number.isFinite(n)) return undefined;
  const mult: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.trunc(n * (m[2] ? mult[m[2].toLowerCase()]! : 1));
}

/**
 * Parses one `--mount` value. Each CSV field is passed through `expand` first (variables); when `expand` is
 * omitted, fields containing `$` are skipped (and defaults are not applied), to be validated after expansion.
 *
 * @param spec The flag value, e.g. `type=cache,target=/root/.cache,sharing=locked`.
 * @param expand Optional per-field expander.
 * @returns The mount.
 * @throws {MountSyntaxError} On a malformed value.
 *
 * @example Usage
 * ```ts
 * import { parseMount } from "./mount.ts";
 * const m = parseMount("type=cache,target=/root/.cache,sharing=locked,mode=0700");
 * console.assert(m.type === "cache" && m.id === "/root/.cache" && m.mode === 0o700 && !m.readOnly);
 * ```
 */
export function parseMount(spec: string, expand?: (field: string) => string): Mount {
  const fields = parseCsvRecord(spec);
  let type: MountType = "bind";
  let readOnly: boolean | undefined;
  const m: Omit<Mount, "type" | "readOnly"> = {};
  let deferred = false;
  for (let field of fields) {
    if (expand) field = expand(field);
    else if (field === "") continue;
    else if (field.includes("$")) {
      deferred = true;
      continue;
    }
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? "" : field.slice(eq + 1);
    if (eq < 0) {
      if (key === "readonly" || key === "ro") {
        readOnly = true;
        continue;
      }
      if (key === "readwrite" || key === "rw") {
        readOnly = false;
        continue;
      }
      if (key === "required") {
        if (type === "secret" || type === "ssh") {
          m.required = true;
          continue;
        }
        throw new MountSyntaxError(`unexpected key '${key}' for mount type '${type}'`);
      }
    }
    const bool = (): boolean => {
      const b = goParseBool(value);
      if (b === undefined) throw new MountSyntaxError(`invalid value for ${key}: ${value}`);
      return b;
    };
    switch (key) {
      case "type": {
        const t = value.toLowerCase();
        if (!TYPES.has(t)) throw new MountSyntaxError(`unsupported mount type "${value}"`);
        type = t as MountType;
        break;
      }
      case "from":
        m.from = value;
        break;
      case "source":
      case "src":
        m.source = value;
        break;
      case "target":
      case "dst":
      case "destination":
      case "dest":
        m.target = value;
        break;
      case "readonly":
      case "ro":
        readOnly = bool();
        break;
      case "readwrite":
      case "rw":
        readOnly = !bool();
        break;
      case "required":
        if (type !== "secret" && type !== "ssh") {
          throw new MountSyntaxError(`unexpected key '${key}' for mount type '${type}'`);
        }
        m.required = bool();
        break;
      case "size": {
        if (type !== "tmpfs") throw new MountSyntaxError(`unexpected key '${key}' for mount type '${type}'`);
        const n = parseMemBytes(value);
        if (n === undefined) throw new MountSyntaxError(`invalid value for ${key}: ${value}`);
        m.size = n;
        break;
      }
      case "id":
        m.id = value;
        break;
      case "sharing": {
        const s = value.toLowerCase();
        if (!SHARING.has(s)) throw new MountSyntaxError(`unsupported sharing value "${value}"`);
        m.sharing = s as CacheSharing;
        break;
      }
      case "mode": {
        const n = parseUint(value, 8);
        if (n === undefined) throw new MountSyntaxError(`invalid value ${value} for mode`);
        m.mode = n;
        break;
      }
      case "uid":
      case "gid": {
        const n = parseUint(value, 10);
        if (n === undefined) throw new MountSyntaxError(`invalid value ${value} for ${key}`);
        m[key] = n;
        break;
      }
      case "env":
        m.env = value;
        break;
      default:
        throw new MountSyntaxError(`unexpected key '${key}' in '${field}'`);
    }
  }
  const fileInfo = type === "secret" || type === "ssh" || type === "cache";
  if (!fileInfo) {
    for (const k of ["mode", "uid", "gid"] as const) {
      if (m[k] !== undefined) throw new MountSyntaxError(`${k} not allowed for "${type}" type mounts`);
    }
  }
  if (m.sharing !== undefined && type !== "cache") {
    throw new MountSyntaxError(`invalid cache sharing set for ${type} mount`);
  }
  if (type === "secret") {
    if (m.from !== undefined) throw new MountSyntaxError("secret mount should not have a from");
    if (m.source !== undefined && m.id !== undefined) throw new MountSyntaxError("both source and id can't be set");
  }
  const out: Mount = { type, readOnly: readOnly ?? !(type === "cache" || type === "tmpfs"), ...m };
  if (!deferred) finishMount(out);
  return out;
}

function basename(p: string): string {
  const t = p.replace(/\/+$/, "");
  if (t === "") return p === "" ? "." : "/";
  return t.slice(t.lastIndexOf("/") + 1);
}

/** Applies defaults and checks that need every field (after expansion). */
function finishMount(m: Mount): void {
  switch (m.type) {
    case "bind":
    case "tmpfs":
      if (!m.target) throw new MountSyntaxError(`mount type=${m.type} requires a target`);
      break;
    case "cache":
      if (!m.target) throw new MountSyntaxError("mount type=cache requires a target");
      m.id ??= m.target;
      if (m.id === "") m.id = m.target;
      m.sharing ??= "shared";
      break;
    case "secret": {
      let id = m.source ?? m.id ?? "";
      if (id === "") {
        if (!m.target) throw new MountSyntaxError("invalid secret mount. one of source, target required");
        id = basename(m.target);
      }
      m.id = id;
      if (!m.target && m.env === undefined) m.target = "/run/secrets/" + basename(id);
      m.required ??= false;
      break;
    }
    case "ssh":
      if (!m.id) m.id = "default";
      m.required ??= false;
      break;
  }
}
