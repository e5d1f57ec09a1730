/**
 * Private: the packages an image holds, read from its package databases as the image's layers leave them (last
 * writer wins, whiteouts delete): dpkg's `/var/lib/dpkg/status` and distroless's `/var/lib/dpkg/status.d/*`, apk's
 * `/lib/apk/db/installed`, rpm's SQLite database (`/var/lib/rpm/rpmdb.sqlite`, or `/usr/lib/sysimage/rpm/` as Fedora
 * keeps it; read with `node:sqlite` from a copy in a scratch directory, each row an rpm header blob), and
 * `/etc/os-release` for the distribution. rpm's older Berkeley DB and ndb databases are not read: a warning says so.
 * For `--attest type=sbom` (lib/executor/_attest.ts).
 *
 * @module
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../util/mod.ts";
import type { Layer } from "../image/mod.ts";
import { readTar } from "../tar/mod.ts";

/** One installed package. */
export interface InstalledPackage {
  /** `deb`, `apk` or `rpm`. */
  type: "deb" | "apk" | "rpm";
  /** Package name. */
  name: string;
  /** Version as the package manager writes it (rpm: `VERSION-RELEASE`). */
  version: string;
  /** rpm's epoch, when it has one. */
  epoch?: number;
  /** Architecture (`amd64`, `arm64`, `x86_64`, `all`, `noarch`). */
  arch?: string;
  /** The source package, when it differs from the name (dpkg `Source:`, apk `o:`). */
  source?: string;
  /** License (apk `L:`; dpkg's status has none). */
  license?: string;
  /** Maintainer. */
  maintainer?: string;
  /** Home page (dpkg `Homepage:`, apk `U:`). */
  homepage?: string;
  /** Where it was found in the image. */
  database: string;
}

/** What the image's package databases say. */
export interface ImagePackages {
  /** Installed packages, sorted by type and name. */
  packages: InstalledPackage[];
  /** `ID` and `VERSION_ID` of /etc/os-release, when present. */
  os?: { id: string; versionId?: string; prettyName?: string };
}

const DPKG_STATUS = "var/lib/dpkg/status";
const DPKG_STATUS_D = "var/lib/dpkg/status.d/";
const APK_INSTALLED = "lib/apk/db/installed";
const OS_RELEASE = ["etc/os-release", "usr/lib/os-release"];
/** rpm's SQLite database (RHEL 9, Fedora), with its write-ahead log. */
const RPM_SQLITE = ["var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"];
/** rpm databases kiln does not read (Berkeley DB: RHEL 7/8; ndb: SUSE). */
const RPM_OTHER = ["var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db"];

function wanted(path: string): boolean {
  return path === DPKG_STATUS || path.startsWith(DPKG_STATUS_D) || path === APK_INSTALLED ||
    OS_RELEASE.includes(path) || RPM_SQLITE.some((p) => path === p || path === `${p}-wal`) || RPM_OTHER.includes(path);
}

/** Reads the wanted files of the image's filesystem from its layers (bottom to top), whiteouts applied. */
async function packageFiles(layers: readonly Layer[], signal?: AbortSignal): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const links = new Map<string, string>();
  const drop = (prefix: string) => {
    for (const m of [files, links]) {
      for (const k of [...m.keys()]) if (k === prefix || k.startsWith(`${prefix}/`)) m.delete(k);
    }
  };
  for (const layer of layers) {
    signal?.throwIfAborted();
    for await (const e of readTar(await layer.uncompressed())) {
      const path = e.header.path;
      const slash = path.lastIndexOf("/");
      const dir = slash < 0 ? "" : path.slice(0, slash);
      const base = path.slice(slash + 1);
      if (base === ".wh..wh..opq") {
        for (const m of [files, links]) for (const k of [...m.keys()]) if (k.startsWith(`${dir}/`)) m.delete(k);
        continue;
      }
      if (base.startsWith(".wh.")) {
        drop(dir ? `${dir}/${base.slice(4)}` : base.slice(4));
        continue;
      }
      if (e.header.type === "dir") continue;
      drop(path);
      if (!wanted(path)) continue;
      if (e.header.type === "symlink" && e.header.linkname) links.set(path, e.header.linkname);
      else if (e.header.type === "file" && e.body) {
        files.set(path, new Uint8Array(await new Response(e.body).arrayBuffer()));
      }
    }
  }
  // /etc/os-release is usually a link to ../usr/lib/os-release.
  for (const [path, target] of links) {
    const resolved = target.startsWith("/")
      ? target.slice(1)
      : [...path.split("/").slice(0, -1), ...target.split("/")].reduce<string[]>((acc, part) => {
        if (part === "..") acc.pop();
        else if (part !== "." && part !== "") acc.push(part);
        return acc;
      }, []).join("/");
    const bytes = files.get(resolved);
    if (bytes !== undefined && !files.has(path)) files.set(path, bytes);
  }
  return files;
}

/** dpkg's control-file paragraphs: `Field: value` with continuation lines. */
function paragraphs(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of block.split("\n")) {
      if (/^[ \t]/.test(line) && last) {
        fields.set(last, `${fields.get(last)}\n${line.trim()}`);
        continue;
      }
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      last = line.slice(0, colon).trim();
      fields.set(last, line.slice(colon + 1).trim());
    }
    if (fields.size) out.push(fields);
  }
  return out;
}

/** Installed packages of a dpkg status file (distroless status.d files have no Status: installed). */
function dpkgPackages(text: string, database: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const p of paragraphs(text)) {
    const name = p.get("Package");
    const version = p.get("Version");
    const status = p.get("Status");
    if (!name || !version) continue;
    // `install ok installed`, `hold ok installed`, triggers pending or awaited: the files are there.
    if (status !== undefined && !/ (?:installed|triggers-awaited|triggers-pending)$/.test(status)) continue;
    // `Source: name (version)` when the source version differs.
    const source = p.get("Source")?.split(" ")[0];
    out.push({
      type: "deb",
      name,
      version,
      database,
      ...(p.get("Architecture") ? { arch: p.get("Architecture")! } : {}),
      ...(source && source !== name ? { source } : {}),
      ...(p.get("Maintainer") ? { maintainer: p.get("Maintainer")! } : {}),
      ...(p.get("Homepage") ? { homepage: p.get("Homepage")! } : {}),
    });
  }
  return out;
}

/** Packages of apk's installed database: blank-line separated records of `X:value` lines. */
function apkPackages(text: string, database: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const f = new Map<string, string>();
    for (const line of block.split("\n")) {
      if (line.length > 2 && line[1] === ":" && !f.has(line[0]!)) f.set(line[0]!, line.slice(2));
    }
    const name = f.get("P");
    const version = f.get("V");
    if (!name || !version) continue;
    const origin = f.get("o");
    out.push({
      type: "apk",
      name,
      version,
      database,
      ...(f.get("A") ? { arch: f.get("A")! } : {}),
      ...(origin && origin !== name ? { source: origin } : {}),
      ...(f.get("L") ? { license: f.get("L")! } : {}),
      ...(f.get("m") ? { maintainer: f.get("m")! } : {}),
      ...(f.get("U") ? { homepage: f.get("U")! } : {}),
    });
  }
  return out;
}

/** `KEY=value` lines of os-release, quotes removed. */
function osRelease(text: string): ImagePackages["os"] {
  const f = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) f.set(m[1]!, m[2]!.replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1"));
  }
  const id = f.get("ID");
  if (!id) return undefined;
  return {
    id,
    ...(f.get("VERSION_ID") ? { versionId: f.get("VERSION_ID")! } : {}),
    ...(f.get("PRETTY_NAME") ? { prettyName: f.get("PRETTY_NAME")! } : {}),
  };
}

/** An rpm header blob's string and int32 tags (NAME, VERSION, RELEASE, EPOCH, ARCH, LICENSE, URL, SOURCERPM, …). */
function rpmHeader(blob: Uint8Array): Map<number, string | number> {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const il = dv.getInt32(0);
  const dl = dv.getInt32(4);
  const store = 8 + il * 16;
  if (il < 0 || dl < 0 || store + dl > blob.byteLength) throw new Error("a malformed rpm header");
  const out = new Map<number, string | number>();
  const text = new TextDecoder();
  for (let i = 0; i < il; i++) {
    const o = 8 + i * 16;
    const tag = dv.getInt32(o), type = dv.getInt32(o + 4), off = dv.getInt32(o + 8);
    if (off < 0 || off >= dl) continue;
    if (type === 4) out.set(tag, dv.getInt32(store + off)); // INT32
    else if (type === 6 || type === 9) { // STRING, I18NSTRING (its first string)
      const end = blob.indexOf(0, store + off);
      out.set(tag, text.decode(blob.subarray(store + off, end < 0 ? store + dl : end)));
    }
  }
  return out;
}

/** The packages of an rpm SQLite database (a copy written to `scratchDir`, with its write-ahead log). */
async function rpmPackages(
  db: Uint8Array,
  wal: Uint8Array | undefined,
  database: string,
  scratchDir: string,
): Promise<InstalledPackage[]> {
  const dir = await mkdtemp(join(scratchDir, "rpmdb-"));
  try {
    const file = join(dir, "rpmdb.sqlite");
    await writeFile(file, db);
    if (wal?.byteLength) await writeFile(`${file}-wal`, wal);
    const { DatabaseSync } = await import("node:sqlite");
    const sqlite = new DatabaseSync(file);
    try {
      const out: InstalledPackage[] = [];
      for (const row of sqlite.prepare("SELECT blob FROM Packages").all()) {
        const h = rpmHeader(row.blob as Uint8Array);
        const name = h.get(1000), version = h.get(1001), release = h.get(1002);
        if (typeof name !== "string" || typeof version !== "string" || name === "gpg-pubkey") continue;
        const str = (
          tag: number,
        ) => (typeof h.get(tag) === "string" && h.get(tag) !== "" ? h.get(tag) as string : undefined);
        const epoch = h.get(1003);
        out.push({
          type: "rpm",
          name,
          version: typeof release === "string" && release !== "" ? `${version}-${release}` : version,
          database,
          ...(typeof epoch === "number" ? { epoch } : {}),
          ...(str(1022) ? { arch: str(1022)! } : {}),
          ...(str(1044) ? { source: str(1044)! } : {}),
          ...(str(1014) ? { license: str(1014)! } : {}),
          ...(str(1015) ? { maintainer: str(1015)! } : str(1011) ? { maintainer: str(1011)! } : {}),
          ...(str(1020) ? { homepage: str(1020)! } : {}),
        });
      }
      return out;
    } finally {
      sqlite.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Options of {@linkcode imagePackages}. */
export interface ImagePackagesOptions {
  /** A directory for the copy of an rpm database (removed afterwards). */
  scratchDir: string;
  /** Says what could not be read. */
  log: Logger;
  signal?: AbortSignal;
}

/**
 * The packages installed in the filesystem `layers` make.
 *
 * @param layers The image's layers, base first.
 * @param options Scratch dir, logger, signal.
 * @returns Packages (sorted) and the distribution.
 */
export async function imagePackages(layers: readonly Layer[], options: ImagePackagesOptions): Promise<ImagePackages> {
  const files = await packageFiles(layers, options.signal);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const packages: InstalledPackage[] = [];
  for (const [path, bytes] of files) {
    if (path === DPKG_STATUS || path.startsWith(DPKG_STATUS_D)) packages.push(...dpkgPackages(text(bytes), `/${path}`));
    else if (path === APK_INSTALLED) packages.push(...apkPackages(text(bytes), `/${path}`));
    else if (RPM_SQLITE.includes(path)) {
      try {
        packages.push(...await rpmPackages(bytes, files.get(`${path}-wal`), `/${path}`, options.scratchDir));
      } catch (e) {
        options.log.warn(
          `SBOM: cannot read the rpm database /${path} (${(e as Error).message}): its packages are left out`,
        );
      }
    } else if (RPM_OTHER.includes(path) && !RPM_SQLITE.some((p) => files.has(p))) {
      options.log.warn(
        `SBOM: /${path} is an rpm database kiln does not read (Berkeley DB or ndb): its packages are left out`,
      );
    }
  }
  packages.sort((a, b) =>
    a.type.localeCompare(b.type) || a.name.localeCompare(b.name) || a.version.localeCompare(b.version)
  );
  const osFile = files.get("etc/os-release") ?? files.get("usr/lib/os-release");
  const os = osRelease(osFile ? text(osFile) : "");
  return { packages, ...(os ? { os } : {}) };
}
