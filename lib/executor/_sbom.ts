/**
 * Private: an SPDX 2.3 JSON document of the packages in one platform's image (`--attest type=sbom`), from the
 * package databases its layers leave (lib/executor/_packages.ts): one SPDX package per dpkg or apk package, with a
 * package URL (`pkg:deb/debian/NAME@VERSION?arch=…&distro=debian-12`, `pkg:apk/alpine/…`), described by the document.
 *
 * @module
 */
import type { Logger } from "../util/mod.ts";
import type { Layer, Platform } from "../image/mod.ts";
import { formatPlatform } from "../image/mod.ts";
import { VERSION } from "../version.ts";
import { imagePackages, type InstalledPackage } from "./_packages.ts";

/** The predicate type of an SPDX document. */
export const SPDX_DOCUMENT = "https://spdx.dev/Document";

/** Options of {@linkcode sbomPredicate}. */
export interface SbomOptions {
  /** The image's name (its purl, or `_`). */
  name: string;
  /** Its platform. */
  platform: Platform;
  /** Creation time. */
  created: Date;
  /** The unique part of `documentNamespace` (a UUID). */
  namespaceId: string;
  /** A directory for scratch copies (an rpm database). */
  scratchDir: string;
  log: Logger;
  signal?: AbortSignal;
}

/** A license expression SPDX accepts as it is (apk's `L:` often is one; a space-separated list is not). */
const SPDX_EXPRESSION = /^[A-Za-z0-9.+-]+(?: (?:AND|OR|WITH) [A-Za-z0-9.+-]+)*$/;

/** SPDX ids allow letters, digits, `.` and `-`. */
function spdxId(s: string): string {
  return s.replace(/[^A-Za-z0-9.-]+/g, "-");
}

function purlOf(p: InstalledPackage, os: { id: string; versionId?: string } | undefined): string {
  const ns = os?.id ?? (p.type === "deb" ? "debian" : p.type === "apk" ? "alpine" : "redhat");
  const q = new URLSearchParams();
  if (p.arch) q.set("arch", p.arch);
  if (os) q.set("distro", os.versionId ? `${os.id}-${os.versionId}` : os.id);
  if (p.epoch !== undefined) q.set("epoch", String(p.epoch));
  if (p.source) q.set("upstream", p.source);
  const query = q.toString();
  return `pkg:${p.type}/${encodeURIComponent(ns)}/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}${
    query ? `?${query}` : ""
  }`;
}

/**
 * The SBOM of the filesystem `layers` make.
 *
 * @param layers The image's layers, base first.
 * @param options Name, platform, time, logger.
 * @returns The SPDX 2.3 document (JSON-ready).
 */
export async function sbomPredicate(layers: readonly Layer[], options: SbomOptions): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const found = await imagePackages(layers, {
    scratchDir: options.scratchDir,
    log: options.log,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const platform = formatPlatform(options.platform);
  options.log.info(
    `SBOM of ${platform}: ${found.packages.length} package(s)${
      found.os ? ` (${found.os.prettyName ?? found.os.id})` : ""
    }` +
      ` in ${((performance.now() - t0) / 1000).toFixed(2)}s`,
  );
  const root = "SPDXRef-Image";
  const seen = new Set<string>();
  const packages = found.packages.map((p) => {
    let id = spdxId(`SPDXRef-Package-${p.type}-${p.name}-${p.version}`);
    for (let n = 2; seen.has(id); n++) id = spdxId(`SPDXRef-Package-${p.type}-${p.name}-${p.version}-${n}`);
    seen.add(id);
    return {
      name: p.name,
      SPDXID: id,
      versionInfo: p.version,
      supplier: p.maintainer
        ? `Person: ${p.maintainer.replace(/[()]/g, "").replace(/\s*<([^>]*)>/, " ($1)")}`
        : "NOASSERTION",
      downloadLocation: "NOASSERTION",
      filesAnalyzed: false,
      ...(p.homepage ? { homepage: p.homepage } : {}),
      licenseConcluded: "NOASSERTION",
      licenseDeclared: p.license && SPDX_EXPRESSION.test(p.license) ? p.license : "NOASSERTION",
      copyrightText: "NOASSERTION",
      ...(p.license && !SPDX_EXPRESSION.test(p.license)
        ? { comment: `License as the package manager records it: ${p.license}` }
        : {}),
      sourceInfo: `acquired package info from ${p.type.toUpperCase().replace("DEB", "DPKG")} DB: ${p.database}`,
      externalRefs: [{
        referenceCategory: "PACKAGE-MANAGER",
        referenceType: "purl",
        referenceLocator: purlOf(p, found.os),
      }],
    };
  });
  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: `${options.name} (${platform})`,
    documentNamespace: `https://spdx.org/spdxdocs/kiln-${VERSION}-${options.namespaceId}`,
    creationInfo: {
      created: options.created.toISOString().replace(/\.\d{3}Z$/, "Z"),
      creators: [`Tool: kiln-${VERSION}`],
    },
    packages: [
      {
        name: options.name,
        SPDXID: root,
        downloadLocation: "NOASSERTION",
        filesAnalyzed: false,
        primaryPackagePurpose: "CONTAINER",
        licenseConcluded: "NOASSERTION",
        licenseDeclared: "NOASSERTION",
        copyrightText: "NOASSERTION",
      },
      ...packages,
    ],
    relationships: [
      { spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: root },
      ...packages.map((p) => ({ spdxElementId: root, relationshipType: "CONTAINS", relatedSpdxElement: p.SPDXID })),
    ],
  };
}
