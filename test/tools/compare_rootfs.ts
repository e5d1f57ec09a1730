/**
 * Field-by-field comparison of two unpacked image root filesystems and two image configs, for the fidelity
 * corpus (kiln against buildah). Compares path, type, mode (incl. setuid/setgid/sticky), uid, gid, size, content
 * hash, link target, xattrs and hardlink groups; mtimes are not compared. Ignores what buildah's chroot isolation
 * leaves in images (`/dev`, `/proc`, `/sys`, `/run`, empty `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`).
 *
 * Usage: `deno run -A test/tools/compare_rootfs.ts ROOTFS_A ROOTFS_B [--config-a FILE --config-b FILE]`
 * (exit status 1 and one line per difference when they differ).
 *
 * @module
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { trySyscalls } from "../../lib/fs/syscalls.ts";

/** One filesystem entry as compared. */
export interface EntryInfo {
  /** `file`, `dir`, `symlink`, `char`, `block`, `fifo`, `socket`. */
  type: string;
  /** `st_mode & 0o7777`. */
  mode: number;
  uid: number;
  gid: number;
  /** Size for files and symlinks; 0 for others. */
  size: number;
  /** sha256 of file content. */
  sha256?: string;
  /** Symlink target. */
  link?: string;
  /** xattrs as hex, sorted by name. */
  xattrs?: Record<string, string>;
  /** For hardlinked files: the first path (sorted) of the inode's group. */
  hardlinkGroup?: string;
  /** Device numbers. */
  rdev?: number;
}

/** Paths buildah's chroot isolation leaves behind (and that BuildKit and kiln do not create). */
export const BUILDAH_LEFTOVERS: readonly string[] = [
  "/dev",
  "/proc",
  "/sys",
  "/run",
  "/etc/hosts",
  "/etc/hostname",
  "/etc/resolv.conf",
];

/** Options of {@linkcode scanRootfs}. */
export interface ScanOptions {
  /** Image paths to leave out, with everything below them. */
  ignore?: readonly string[];
}

function typeOf(st: fs.Stats): string {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "char";
  if (st.isBlockDevice()) return "block";
  if (st.isFIFO()) return "fifo";
  return "socket";
}

/**
 * Reads every entry of an unpacked rootfs (the root itself is `/`).
 *
 * @param root Host directory.
 * @param options Paths to ignore.
 * @returns Image path → entry.
 */
export function scanRootfs(root: string, options: ScanOptions = {}): Map<string, EntryInfo> {
  const ignore = new Set(options.ignore ?? []);
  const sc = trySyscalls();
  const out = new Map<string, EntryInfo>();
  const inodes = new Map<string, string[]>();
  const walk = (rel: string): void => {
    const host = root + rel;
    const st = fs.lstatSync(host);
    const type = typeOf(st);
    const e: EntryInfo = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0 };
    if (type === "file") {
      e.size = st.size;
      e.sha256 = createHash("sha256").update(fs.readFileSync(host)).digest("hex");
      if (st.nlink > 1) {
        const k = `${st.dev}:${st.ino}`;
        inodes.set(k, [...(inodes.get(k) ?? []), rel || "/"]);
      }
    } else if (type === "symlink") {
      e.link = fs.readlinkSync(host);
      e.size = e.link.length;
      e.mode = 0o777;
    } else if (type === "char" || type === "block") e.rdev = st.rdev;
    if (sc && type !== "symlink") {
      const names = sc.llistxattr(host).filter((n) => !n.startsWith("security.selinux")).sort();
      if (names.length) {
        e.xattrs = {};
        for (const n of names) e.xattrs[n] = Buffer.from(sc.lgetxattr(host, n) ?? new Uint8Array()).toString("hex");
      }
    }
    out.set(rel || "/", e);
    if (type === "dir") {
      for (const n of fs.readdirSync(host).sort()) {
        const child = `${rel}/${n}`;
        if (!ignore.has(child)) walk(child);
      }
    }
  };
  walk("");
  for (const paths of inodes.values()) {
    // Only links inside the scanned tree count; a group of one is not a hardlink group here.
    if (paths.length < 2) continue;
    const first = [...paths].sort()[0]!;
    for (const p of paths) out.get(p)!.hardlinkGroup = first;
  }
  return out;
}

/** Options of {@linkcode compareRootfs}. */
export interface CompareOptions {
  /** Paths ignored on both sides (default: {@linkcode BUILDAH_LEFTOVERS}). */
  ignore?: readonly string[];
  /**
   * Fields not compared for a path (e.g. `{"/app": ["mode"]}`; `"exists"` allows the path on one side only):
   * documented divergences.
   */
  allow?: Readonly<Record<string, readonly string[]>>;
}

const FIELDS: (keyof EntryInfo)[] = [
  "type",
  "mode",
  "uid",
  "gid",
  "size",
  "sha256",
  "link",
  "xattrs",
  "hardlinkGroup",
  "rdev",
];

function show(v: unknown): string {
  if (typeof v === "number") {
    return Number.isInteger(v) && v < 0o10000 && v >= 0 ? `${v}(0${v.toString(8)})` : String(v);
  }
  return JSON.stringify(v);
}

/**
 * Compares two unpacked root filesystems. Directory sizes and all mtimes are not compared.
 *
 * @param a Host directory of rootfs A (e.g. kiln's).
 * @param b Host directory of rootfs B (e.g. buildah's).
 * @param options Ignored paths and allowed differences.
 * @returns One line per difference (`/path: field a=… b=…`, `/path: only in a`), empty when equal.
 *
 * @example Usage
 * ```ts ignore
 * import { compareRootfs } from "./compare_rootfs.ts";
 * const diffs = compareRootfs("/tmp/kiln/rootfs", "/tmp/buildah/rootfs");
 * if (diffs.length) console.log(diffs.join("\n"));
 * ```
 */
export function compareRootfs(a: string, b: string, options: CompareOptions = {}): string[] {
  const ignore = options.ignore ?? BUILDAH_LEFTOVERS;
  return compareScans(scanRootfs(a, { ignore }), scanRootfs(b, { ignore }), options.allow ?? {});
}

/** Compares two scans (see {@linkcode compareRootfs}). */
export function compareScans(
  ea: Map<string, EntryInfo>,
  eb: Map<string, EntryInfo>,
  allow: Readonly<Record<string, readonly string[]>> = {},
): string[] {
  const diffs: string[] = [];
  const paths = [...new Set([...ea.keys(), ...eb.keys()])].sort();
  for (const p of paths) {
    const x = ea.get(p);
    const y = eb.get(p);
    // A path listed in `allow` with "exists" may be present on one side only.
    if ((!x || !y) && (allow[p] ?? []).includes("exists")) continue;
    if (!x) {
      diffs.push(`${p}: only in b (${y!.type})`);
      continue;
    }
    if (!y) {
      diffs.push(`${p}: only in a (${x.type})`);
      continue;
    }
    const allowed = allow[p] ?? [];
    for (const f of FIELDS) {
      if (allowed.includes(f)) continue;
      if (f === "size" && x.type === "dir") continue;
      const vx = x[f];
      const vy = y[f];
      if (JSON.stringify(vx) !== JSON.stringify(vy)) diffs.push(`${p}: ${f} a=${show(vx)} b=${show(vy)}`);
    }
  }
  return diffs;
}

/** The comparable part of an image config (`config` section plus os/architecture). */
export interface ComparableConfig {
  [k: string]: unknown;
}

/** Labels image builders add themselves. */
export const BUILDER_LABELS: readonly string[] = ["io.buildah.version"];

/**
 * Normalises an OCI image config for comparison: Env sorted (buildah reorders it), builder labels dropped,
 * empty collections treated as absent.
 *
 * @param config Parsed image config JSON.
 * @returns The fields compared.
 */
export function comparableConfig(config: Record<string, unknown>): ComparableConfig {
  const c = (config.config ?? {}) as Record<string, unknown>;
  const out: ComparableConfig = { os: config.os, architecture: config.architecture };
  const keys = [
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "Shell",
    "OnBuild",
  ];
  for (const k of keys) {
    let v = c[k];
    if (k === "Env" && Array.isArray(v)) v = [...v].sort();
    if (k === "Labels" && v && typeof v === "object") {
      const l = { ...(v as Record<string, string>) };
      for (const b of BUILDER_LABELS) delete l[b];
      v = l;
    }
    if (v === null || v === "" || (Array.isArray(v) && v.length === 0)) v = undefined;
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) v = undefined;
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * Compares two image configs field by field (see {@linkcode comparableConfig}).
 *
 * @param a Config A.
 * @param b Config B.
 * @param allow Config fields not compared (documented divergences).
 * @returns One line per difference.
 */
export function compareConfigs(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
  allow: readonly string[] = [],
): string[] {
  const ca = comparableConfig(a);
  const cb = comparableConfig(b);
  const out: string[] = [];
  for (const k of [...new Set([...Object.keys(ca), ...Object.keys(cb)])].sort()) {
    if (allow.includes(k)) continue;
    if (JSON.stringify(canon(ca[k])) !== JSON.stringify(canon(cb[k]))) {
      out.push(`config.${k}: a=${JSON.stringify(ca[k])} b=${JSON.stringify(cb[k])}`);
    }
  }
  return out;
}

function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]));
  }
  return v;
}

/**
 * Reads the image config of `TAG` from an OCI layout directory.
 *
 * @param layout OCI layout directory.
 * @param tag `org.opencontainers.image.ref.name` to pick (default: the only manifest).
 * @returns The parsed config JSON.
 */
export function readLayoutConfig(layout: string, tag?: string): Record<string, unknown> {
  const blob = (d: string) => JSON.parse(fs.readFileSync(`${layout}/blobs/${d.replace(":", "/")}`, "utf8"));
  const index = JSON.parse(fs.readFileSync(`${layout}/index.json`, "utf8"));
  const ms = (index.manifests ?? []) as { digest: string; annotations?: Record<string, string> }[];
  const m = tag === undefined ? ms[0] : ms.find((x) => x.annotations?.["org.opencontainers.image.ref.name"] === tag) ??
    ms[0];
  if (!m) throw new Error(`no manifest in ${layout}`);
  let manifest = blob(m.digest);
  if (manifest.manifests) manifest = blob(manifest.manifests[0].digest);
  return blob(manifest.config.digest);
}

if (import.meta.main) {
  const args = [...Deno.args];
  const flag = (n: string): string | undefined => {
    const i = args.indexOf(n);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const ca = flag("--config-a");
  const cb = flag("--config-b");
  const [a, b] = args;
  if (!a || !b) {
    console.error("usage: compare_rootfs.ts ROOTFS_A ROOTFS_B [--config-a FILE --config-b FILE]");
    Deno.exit(2);
  }
  const diffs = compareRootfs(a, b);
  if (ca && cb) {
    diffs.push(
      ...compareConfigs(JSON.parse(fs.readFileSync(ca, "utf8")), JSON.parse(fs.readFileSync(cb, "utf8"))),
    );
  }
  for (const d of diffs) console.log(d);
  Deno.exit(diffs.length ? 1 : 0);
}
