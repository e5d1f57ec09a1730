/**
 * Private: the packages an image holds, read from its package databases as the image's layers leave them (last
 * writer wins, whiteouts delete): dpkg's `/var/lib/dpkg/status` and distroless's `/var/lib/dpkg/status.d/*`, apk's
 * `/lib/apk/db/installed`, and `/etc/os-release` for the distribution. rpm's database (SQLite or Berkeley DB) is
 * not read. For `--attest type=sbom` (lib/executor/_attest.ts).
 *
 * @module
 */
import type { Layer } from "../image/mod.ts";
import { readTar } from "../tar/mod.ts";

/** One installed package. */
export interface InstalledPackage {
  /** `deb` or `apk`. */
  type: "deb" | "apk";
  /** Package name. */
  name: string;
  /** Version as the package manager writes it. */
  version: string;
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

function wanted(path: string): boolean {
  return path === DPKG_STATUS || path.startsWith(DPKG_STATUS_D) || path === APK_INSTALLED ||
    OS_RELEASE.includes(path);
}

/** Reads the wanted files of the image's filesystem from its layers (bottom to top), whiteouts applied. */
async function packageFiles(layers: readonly Layer[], signal?: AbortSignal): Promise<Map<string, string>> {
  const files = new Map<string, string>();
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
      else if (e.header.type === "file" && e.body) files.set(path, await new Response(e.body).text());
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
    const text = files.get(resolved);
    if (text !== undefined && !files.has(path)) files.set(path, text);
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

/**
 * The packages installed in the filesystem `layers` make.
 *
 * @param layers The image's layers, base first.
 * @param signal Abort signal.
 * @returns Packages (sorted) and the distribution.
 */
export async function imagePackages(layers: readonly Layer[], signal?: AbortSignal): Promise<ImagePackages> {
  const files = await packageFiles(layers, signal);
  const packages: InstalledPackage[] = [];
  for (const [path, text] of files) {
    if (path === DPKG_STATUS || path.startsWith(DPKG_STATUS_D)) packages.push(...dpkgPackages(text, `/${path}`));
    else if (path === APK_INSTALLED) packages.push(...apkPackages(text, `/${path}`));
  }
  packages.sort((a, b) =>
    a.type.localeCompare(b.type) || a.name.localeCompare(b.name) || a.version.localeCompare(b.version)
  );
  const os = osRelease(files.get("etc/os-release") ?? files.get("usr/lib/os-release") ?? "");
  return { packages, ...(os ? { os } : {}) };
}
