/**
 * `--attest` (`attestations`): SLSA v1 provenance and an SPDX 2.3 SBOM attached to each platform's image in
 * BuildKit's layout (attestation manifests after the images, platform `unknown/unknown`, the reference annotations;
 * one in-toto statement per layer, subject = the platform's manifest), pushed to a real registry and read back with
 * skopeo and the registry's blob API. No `--secret` value, registry password or credential in a URL reaches any
 * blob the registry stores.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "../../../lib/executor/mod.ts";
import { createLogger } from "../../../lib/util/mod.ts";
import { cannotExecute } from "../../../lib/executor/_exec_platform.ts";
import { hostPlatform } from "../../../lib/image/mod.ts";
import { REPO_ROOT, skipUnless } from "../../fixtures/tools.ts";
import { multiArchUnavailable, startMultiArchRegistry } from "../../fixtures/multiarch_image.ts";
import { startBusyboxRegistry } from "../../fixtures/busybox_image.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { assert, assertEquals } from "../../assert.ts";
import { makeContext, sh } from "./_helpers.ts";

/** The SPDX 2.3 JSON schema (spdx/spdx-spec v2.3, schemas/spdx-schema.json), checked with ajv. */
async function spdxValidator(): Promise<(doc: unknown) => string | undefined> {
  const { default: Ajv } = await import("ajv");
  const schema = JSON.parse(readFileSync(join(REPO_ROOT, "test/testdata/spdx-2.3-schema.json"), "utf8"));
  // deno-lint-ignore no-explicit-any
  const ajv = new (Ajv as any)({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  return (doc) => (validate(doc) ? undefined : JSON.stringify(validate.errors));
}

const ARM64 = { os: "linux", architecture: "arm64" } as const;
const AMD64 = { os: "linux", architecture: "amd64" } as const;
const SECRET = "s3cr3t-VALUE-never-attested";
const PROXY_PASSWORD = "pr0xy-PASSWORD";

const skip = skipUnless("attestations", "skopeo", "busybox", "docker-registry", "root", "umoci");

const DPKG_STATUS = `Package: hello
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 2.10-3
Maintainer: Santiago Vila <sanvila@debian.org>
Homepage: https://www.gnu.org/software/hello/
Description: example package
 with a continuation line

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: libfoo1
Status: install ok installed
Architecture: amd64
Source: foo (1.2-1)
Version: 1.2-1+b1
`;

const APK_INSTALLED = `C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
U:https://musl.libc.org/

P:busybox-binsh
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox
`;

const DOCKERFILE = `
ARG BASE
FROM \${BASE}
ARG PROXYISH
COPY status /var/lib/dpkg/status
COPY status.d/ /var/lib/dpkg/status.d/
COPY installed /lib/apk/db/installed
COPY os-release /usr/lib/os-release
RUN ln -s ../usr/lib/os-release /etc/os-release && rm /var/lib/dpkg/status.d/removed
RUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /secret-length
`;

function context(): string {
  return makeContext({
    status: DPKG_STATUS,
    "status.d/distroless": "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n",
    "status.d/removed": "Package: removed\nVersion: 1\nArchitecture: all\n",
    installed: APK_INSTALLED,
    "os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
  });
}

/** Every file below `dir` (the registry's storage), as text. */
function storedBlobs(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (name === "data") out.push(readFileSync(p, "latin1"));
    }
  };
  walk(dir);
  return out;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

async function blob(url: string, repo: string, digest: string): Promise<string> {
  const r = await fetch(`${url}/v2/${repo}/blobs/${digest}`);
  assertEquals(r.status, 200, `GET blob ${digest}`);
  return await r.text();
}

Deno.test({
  name: "attestations: provenance (max) and SBOM per platform in BuildKit's layout, nothing secret in them",
  ignore: skip || multiArchUnavailable() !== undefined || cannotExecute(ARM64, { host: hostPlatform() }) !== undefined,
  sanitizeResources: false,
  async fn() {
    const reg = await startMultiArchRegistry();
    const work = tempDir("kiln-attest-");
    try {
      const dest = `${reg.registry.host}/app:att`;
      const result = await build({
        context: context(),
        dockerfileText: DOCKERFILE,
        buildArgs: { BASE: reg.ref, PROXYISH: `http://user:${PROXY_PASSWORD}@proxy.invalid:3128` },
        platforms: [AMD64, ARM64],
        secrets: [{ id: "tok", env: "TOK" }],
        secretEnv: { TOK: SECRET },
        workDir: join(work, "w"),
        registry: { insecureRegistries: [reg.registry.host] },
        attestations: [{ type: "provenance", mode: "max" }, { type: "sbom" }],
        outputs: { destinations: [dest] },
      });
      const index = JSON.parse(sh("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${dest}`]));
      const validSpdx = await spdxValidator();
      const m: Descriptor[] = index.manifests;
      assertEquals(m.length, 4, "two images, then their two attestation manifests");
      assertEquals(m.map((d) => `${d.platform?.os}/${d.platform?.architecture}`), [
        "linux/amd64",
        "linux/arm64",
        "unknown/unknown",
        "unknown/unknown",
      ]);
      assertEquals(result.images?.map((i) => i.digest), [m[0]!.digest, m[1]!.digest]);
      for (const [i, att] of [m[2]!, m[3]!].entries()) {
        const image = m[i]!;
        const platform = i === 0 ? "linux%2Famd64" : "linux%2Farm64";
        assertEquals(att.mediaType, "application/vnd.oci.image.manifest.v1+json");
        assertEquals(att.annotations, {
          "vnd.docker.reference.digest": image.digest,
          "vnd.docker.reference.type": "attestation-manifest",
        });
        const manifest = JSON.parse(
          sh("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${reg.registry.host}/app@${att.digest}`]),
        );
        const layers: Descriptor[] = manifest.layers;
        assertEquals(layers.map((l) => l.mediaType), ["application/vnd.in-toto+json", "application/vnd.in-toto+json"]);
        assertEquals(layers.map((l) => l.annotations?.["in-toto.io/predicate-type"]), [
          "https://slsa.dev/provenance/v1",
          "https://spdx.dev/Document",
        ]);
        const config = JSON.parse(await blob(reg.registry.url, "app", manifest.config.digest));
        assertEquals([config.architecture, config.os], ["unknown", "unknown"]);
        assertEquals(config.rootfs.diff_ids, layers.map((l) => l.digest));
        const [prov, sbom] = await Promise.all(
          layers.map(async (l) => JSON.parse(await blob(reg.registry.url, "app", l.digest))),
        );
        for (const st of [prov, sbom]) {
          assertEquals(st._type, "https://in-toto.io/Statement/v1");
          assertEquals(st.subject, [{
            name: `pkg:docker/${reg.registry.host.replace(":", "%3A")}/app@att?platform=${platform}`,
            digest: { sha256: image.digest.slice(7) },
          }]);
        }
        // Provenance: BuildKit's build type and request shape; the base image resolved for this platform.
        const p = prov.predicate;
        assertEquals(
          p.buildDefinition.buildType,
          "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
        );
        assertEquals(p.buildDefinition.externalParameters.configSource, { path: "Dockerfile" });
        const req = p.buildDefinition.externalParameters.request;
        assertEquals(req.frontend, "dockerfile.v0");
        assertEquals(req.secrets, [{ id: "tok" }]);
        assertEquals(req.args["build-arg:PROXYISH"], "http://***@proxy.invalid:3128");
        assertEquals(req.args.platform, i === 0 ? "linux/amd64" : "linux/arm64");
        assertEquals(p.buildDefinition.internalParameters.builderPlatform, "linux/amd64");
        const deps = p.buildDefinition.resolvedDependencies as { uri: string; digest: { sha256: string } }[];
        const baseUri = `pkg:docker/${reg.registry.host.replace(":", "%3A")}/busybox@latest?platform=${platform}`;
        const baseDigest = sh("skopeo", [
          "inspect",
          "--tls-verify=false",
          "--override-arch",
          i === 0 ? "amd64" : "arm64",
          "--format",
          "{{.Digest}}",
          `docker://${reg.ref}`,
        ]).trim();
        assertEquals(deps, [{ uri: baseUri, digest: { sha256: baseDigest.slice(7) } }]);
        assertEquals(p.runDetails.builder.id, "https://github.com/kiln-build/kiln");
        assert(Date.parse(p.runDetails.metadata.startedOn) <= Date.parse(p.runDetails.metadata.finishedOn));
        // SBOM: dpkg (installed only; status.d as the last layer leaves it) and apk, with package URLs.
        const doc = sbom.predicate;
        assertEquals([doc.spdxVersion, doc.dataLicense, doc.SPDXID], ["SPDX-2.3", "CC0-1.0", "SPDXRef-DOCUMENT"]);
        assertEquals(validSpdx(doc), undefined, "the SBOM is valid against the SPDX 2.3 schema");
        assert(/^https:\/\/spdx\.org\/spdxdocs\/kiln-/.test(doc.documentNamespace));
        const pkgs = doc.packages as {
          name: string;
          versionInfo?: string;
          externalRefs?: { referenceLocator: string }[];
        }[];
        assertEquals(pkgs.map((x) => x.name).slice(1), ["busybox-binsh", "musl", "hello", "libfoo1", "tzdata"]);
        const purls = pkgs.slice(1).map((x) => x.externalRefs![0]!.referenceLocator);
        assertEquals(purls, [
          "pkg:apk/debian/busybox-binsh@1.36.1-r15?arch=x86_64&distro=debian-12&upstream=busybox",
          "pkg:apk/debian/musl@1.2.4-r2?arch=x86_64&distro=debian-12",
          "pkg:deb/debian/hello@2.10-3?arch=amd64&distro=debian-12",
          "pkg:deb/debian/libfoo1@1.2-1%2Bb1?arch=amd64&distro=debian-12&upstream=foo",
          "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12",
        ]);
        assertEquals(doc.relationships[0], {
          spdxElementId: "SPDXRef-DOCUMENT",
          relationshipType: "DESCRIBES",
          relatedSpdxElement: "SPDXRef-Image",
        });
      }
      // Nothing secret anywhere the registry stores (attestations, configs, layers).
      const stored = storedBlobs(reg.registry.storageDir);
      assert(stored.length > 8, `the registry holds the blobs (${stored.length})`);
      for (const text of stored) {
        assert(!text.includes(SECRET), "no --secret value in any stored blob");
        assert(!text.includes(PROXY_PASSWORD), "no credential from a build-arg URL in any stored blob");
      }
    } finally {
      await reg.stop();
    }
  },
});

Deno.test({
  name: "attestations: one platform gives an index of the image and its attestation; min provenance has no build args",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    const reg = await startBusyboxRegistry();
    const work = tempDir("kiln-attest1-");
    try {
      const layout = join(work, "layout");
      const result = await build({
        context: makeContext({ f: "f\n" }),
        dockerfileText: "ARG BASE\nFROM ${BASE}\nARG V\nCOPY f /f\n",
        buildArgs: { BASE: reg.ref, V: "visible-only-in-max" },
        workDir: join(work, "w"),
        registry: { insecureRegistries: [reg.registry.host] },
        attestations: [{ type: "provenance" }],
        outputs: { noPush: true, ociLayoutPath: layout, tarPath: join(work, "image.tar") },
      });
      assertEquals(result.index?.manifests.length, 2);
      assertEquals(result.index?.manifests[1]?.platform, { architecture: "unknown", os: "unknown" });
      const text = readFileSync(join(layout, "blobs", "sha256", result.index!.manifests[1]!.digest.slice(7)), "utf8");
      const att = JSON.parse(text);
      const st = JSON.parse(readFileSync(join(layout, "blobs", "sha256", att.layers[0].digest.slice(7)), "utf8"));
      assertEquals(st.subject, [{ name: "_", digest: { sha256: result.images![0]!.digest.slice(7) } }]);
      const args = st.predicate.buildDefinition.externalParameters.request.args;
      assertEquals(Object.keys(args).filter((k) => k.startsWith("build-arg:")), [], "min: no build-arg values");
      assert(!JSON.stringify(st).includes("visible-only-in-max"));
      // The docker archive holds the image alone (docker save has no place for attestations).
      const manifest = JSON.parse(sh("tar", ["-xOf", join(work, "image.tar"), "manifest.json"]));
      assertEquals(manifest.length, 1);
    } finally {
      await reg.stop();
    }
  },
});

Deno.test("attestations with --reproducible: the same inputs give the same index (fixed times, ids from the image)", async () => {
  const work = tempDir("kiln-attest-repro-");
  const run = (reproducible: boolean) =>
    build({
      context: makeContext({ f: "f\n", "installed": APK_INSTALLED }),
      dockerfileText: "FROM scratch\nCOPY f /f\nCOPY installed /lib/apk/db/installed\n",
      workDir: join(work, "w"),
      attestations: [{ type: "provenance", mode: "max" }, { type: "sbom" }],
      layers: { reproducible },
      outputs: { noPush: true },
    });
  const [a, b] = [await run(true), await run(true)];
  assertEquals(a.digest, b.digest, "one index digest");
  assertEquals(a.index?.manifests.length, 2);
  const [c, d] = [await run(false), await run(false)];
  assert(c.digest !== d.digest, "without --reproducible the attestations carry the time and a random id");
});

Deno.test({
  name: "kiln build -c git://…#main --attest type=provenance: the configSource is the repository with its commit",
  ignore: skipUnless("provenance of a git context", "git", "root"),
  sanitizeResources: false,
  async fn() {
    const { git, startGitServer } = await import("../../fixtures/git_server.ts");
    const { main } = await import("../../../cli/main.ts");
    const { memoryIO } = await import("./_helpers.ts");
    const tmp = tempDir("kiln-attest-git-");
    const src = join(tmp, "src");
    const ctx = makeContext({ Dockerfile: "FROM scratch\nCOPY f /f\n", f: "f\n" });
    sh("cp", ["-a", ctx, src]);
    git(src, "init", "-q", "-b", "main");
    git(src, "add", "-A");
    git(src, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "context");
    const commit = git(src, "rev-parse", "HEAD").trim();
    sh("mkdir", ["-p", join(tmp, "root")]);
    git(tmp, "clone", "-q", "--bare", src, join(tmp, "root", "ctx.git"));
    const server = await startGitServer({ projectRoot: join(tmp, "root") });
    try {
      const io = memoryIO(tmp, { GIT_PULL_METHOD: "http" });
      const layout = join(tmp, "layout");
      const code = await main([
        "build",
        "-c",
        `git://${server.host}/git/ctx.git#refs/heads/main`,
        "--no-push",
        "--oci-layout-path",
        layout,
        "--attest",
        "type=provenance",
        "--work-dir",
        join(tmp, "w"),
      ], io);
      assertEquals(code, 0, io.err.join(""));
      const blob = (d: string) => JSON.parse(readFileSync(join(layout, "blobs", "sha256", d.slice(7)), "utf8"));
      const outer = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")).manifests[0];
      const index = blob(outer.digest);
      const att = blob(index.manifests[1].digest);
      const st = blob(att.layers[0].digest);
      const cs = st.predicate.buildDefinition.externalParameters.configSource;
      assertEquals(cs.digest, { sha1: commit });
      assert(cs.uri.includes(`${server.host}/git/ctx.git`), cs.uri);
      assertEquals(cs.path, "Dockerfile");
    } finally {
      await server.close();
    }
  },
});

/** An rpm SQLite database holding one package built by rpmbuild (`rpm --justdb`), in `dir`. */
function rpmDatabase(dir: string): string {
  mkdirSync(join(dir, "SPECS"), { recursive: true });
  writeFileSync(
    join(dir, "SPECS", "hello.spec"),
    "Name: kiln-hello\nVersion: 1.2.3\nRelease: 4.fc40\nEpoch: 2\nSummary: test\nLicense: MIT AND Apache-2.0\n" +
      "URL: https://example.invalid/hello\nBuildArch: noarch\n%description\nA test package.\n%files\n",
  );
  sh("rpmbuild", ["-bb", "--quiet", "--define", `_topdir ${dir}`, join(dir, "SPECS", "hello.spec")]);
  const db = join(dir, "db");
  mkdirSync(db);
  sh("rpm", ["--dbpath", db, "--initdb"]);
  const rpm = join(dir, "RPMS", "noarch", readdirSync(join(dir, "RPMS", "noarch"))[0]!);
  sh("rpm", ["--dbpath", db, "-i", "--justdb", "--nodeps", "--ignorearch", rpm]);
  return join(db, "rpmdb.sqlite");
}

Deno.test({
  name: "SBOM of an rpm image: packages from rpm's SQLite database (rpmbuild, rpm --justdb); a Berkeley DB is named",
  ignore: skipUnless("rpm SBOM", "rpm", "rpmbuild"),
  sanitizeResources: false,
  async fn() {
    const tmp = tempDir("kiln-attest-rpm-");
    const db = rpmDatabase(join(tmp, "rpm"));
    const ctx = makeContext({ "os-release": 'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"\n' });
    sh("cp", [db, join(ctx, "rpmdb.sqlite")]);
    writeFileSync(join(ctx, "Packages"), "not a database kiln reads\n");
    const log: string[] = [];
    const layout = join(tmp, "layout");
    const run = (dockerfileText: string, tag: string) =>
      build({
        context: ctx,
        dockerfileText,
        workDir: join(tmp, "w"),
        attestations: [{ type: "sbom" }],
        outputs: { noPush: true, ociLayoutPath: layout, destinations: [`example.invalid/rpm:${tag}`] },
      }, { logger: createLogger({ write: (l) => log.push(l) }) });
    const r = await run(
      "FROM scratch\nCOPY os-release /etc/os-release\nCOPY rpmdb.sqlite /usr/lib/sysimage/rpm/rpmdb.sqlite\n",
      "sqlite",
    );
    const blob = (d: string) => JSON.parse(readFileSync(join(layout, "blobs", "sha256", d.slice(7)), "utf8"));
    const att = blob(r.index!.manifests[1]!.digest);
    const doc = blob(att.layers[0].digest).predicate;
    assertEquals((await spdxValidator())(doc), undefined);
    const pkg = doc.packages.find((p: { name: string }) => p.name === "kiln-hello");
    assertEquals(pkg.versionInfo, "1.2.3-4.fc40");
    assertEquals(pkg.licenseDeclared, "MIT AND Apache-2.0");
    assertEquals(pkg.homepage, "https://example.invalid/hello");
    assertEquals(
      pkg.externalRefs[0].referenceLocator,
      "pkg:rpm/fedora/kiln-hello@1.2.3-4.fc40?arch=noarch&distro=fedora-40&epoch=2&upstream=kiln-hello-1.2.3-4.fc40.src.rpm",
    );
    assertEquals(doc.packages.length, 2, "the image and its one package");
    await run("FROM scratch\nCOPY Packages /var/lib/rpm/Packages\n", "bdb");
    assert(
      log.some((l) => l.includes("/var/lib/rpm/Packages is an rpm database kiln does not read")),
      log.join("\n"),
    );
  },
});

Deno.test({
  name: "provenance of each platform lists a FROM --platform stage's base even when that stage is not shared",
  ignore: skip || multiArchUnavailable() !== undefined,
  sanitizeResources: false,
  async fn() {
    const reg = await startMultiArchRegistry();
    const work = tempDir("kiln-attest-mat-");
    try {
      const layout = join(work, "layout");
      // `tool` declares TARGETARCH, so each platform builds its own (natively, as linux/amd64); no RUN is emulated.
      const r = await build({
        context: makeContext({}),
        dockerfileText: "ARG BASE\nFROM --platform=linux/amd64 ${BASE} AS tool\nARG TARGETARCH\n" +
          "RUN echo $TARGETARCH > /t\nFROM ${BASE}\nCOPY --from=tool /t /t\n",
        buildArgs: { BASE: reg.ref },
        platforms: [AMD64, ARM64],
        workDir: join(work, "w"),
        registry: { insecureRegistries: [reg.registry.host] },
        attestations: [{ type: "provenance" }],
        outputs: { noPush: true, ociLayoutPath: layout },
      });
      const blob = (d: string) => JSON.parse(readFileSync(join(layout, "blobs", "sha256", d.slice(7)), "utf8"));
      const base = `pkg:docker/${reg.registry.host.replace(":", "%3A")}/busybox@latest?platform=`;
      for (const [i, own] of ["linux%2Famd64", "linux%2Farm64"].entries()) {
        const att = blob(r.index!.manifests[2 + i]!.digest);
        const deps = blob(att.layers[0].digest).predicate.buildDefinition.resolvedDependencies as { uri: string }[];
        assertEquals(deps.map((d) => d.uri).sort(), [...new Set([`${base}linux%2Famd64`, `${base}${own}`])].sort());
      }
    } finally {
      await reg.stop();
    }
  },
});
