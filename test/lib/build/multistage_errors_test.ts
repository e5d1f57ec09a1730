/**
 * Bad multi-stage input through build() (issue 5 §5): an unknown `--from` (no such stage, and pulling it as an image
 * fails: both are said), forward and self references, a FROM naming a later stage, a bad stage index, a glob
 * matching nothing, an unsupported mount type. Each is one `Dockerfile:LINE:` line, and the build leaves nothing
 * behind: the work dir is empty, no output or digest file is written, the context is untouched.
 * Also: `--target` builds only the stages the target needs unless `--skip-unused-stages=false` (kaniko's default);
 * `FROM --platform` selects the base from an index, and a stage whose RUN this machine cannot execute (no binfmt_misc
 * emulator) fails before anything runs, while a COPY-only stage of that platform builds.
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "../../../lib/build/build.ts";
import type { BuildOptions } from "../../../lib/build/types.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { freePort } from "../../fixtures/registry.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../../assert.ts";
import { leftovers, makeContext, sh } from "./_helpers.ts";
import { cannotExecute } from "../../../lib/executor/_exec_platform.ts";
import { EMULATION_HINT } from "../../../lib/executor/_stages.ts";
import { hostPlatform } from "../../../lib/image/platform.ts";
import { buildBusyboxLayout } from "../../fixtures/busybox_image.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("multi-stage error builds", "root");

/** Dockerfile → the whole expected message (a RegExp where it quotes a registry error). */
const CASES: [string, string, string | RegExp][] = [
  [
    "unknown COPY --from",
    "FROM scratch AS a\nFROM scratch\nCOPY --from=nosuch /x /x\n",
    /^Dockerfile:3: --from=nosuch: no build stage is named "nosuch", and pulling it as an image failed: .*127\.0\.0\.1:\d+.*$/,
  ],
  [
    "unknown RUN --mount from=",
    "FROM scratch\nRUN --mount=type=bind,from=nosuch,target=/x true\n",
    /^Dockerfile:2: --from=nosuch: no build stage is named "nosuch", and pulling it as an image failed: .+$/,
  ],
  [
    "COPY --from a later stage (a cycle)",
    "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /x /x\n",
    "Dockerfile:2: --from=b refers to a later stage (b); it needs to be defined before stage a",
  ],
  [
    "COPY --from the current stage",
    "FROM scratch AS a\nCOPY --from=a /x /x\n",
    "Dockerfile:2: --from=a refers to the current stage (a); it needs to be defined before stage a",
  ],
  [
    "FROM a later stage (a cycle)",
    "FROM b AS a\nFROM a AS b\n",
    /^Dockerfile:1: FROM b: the stage "b" is defined later \(line 2\), and a FROM can only name an earlier stage; pulling it as an image failed: .+$/,
  ],
  [
    "stage index out of range",
    "FROM scratch\nCOPY --from=7 /x /x\n",
    "Dockerfile:2: invalid stage index 7 in --from=7",
  ],
  [
    "glob matching nothing",
    "FROM scratch AS a\nCOPY f /f\nFROM scratch\nCOPY --from=a /f /f\nCOPY nothing* /x\n",
    'Dockerfile:5: COPY: no source files match "nothing*" in the build context',
  ],
  [
    "glob matching nothing in a stage",
    "FROM scratch AS a\nCOPY f /f\nFROM scratch\nCOPY --from=a /nothing* /x\n",
    /^Dockerfile:4: COPY: no source files match "\/?nothing\*" in stage a$/,
  ],
  [
    "unsupported mount type",
    "FROM scratch\nRUN --mount=type=nfs,target=/x true\n",
    'Dockerfile:2: unsupported mount type "nfs"',
  ],
];

Deno.test({
  name: "build() rejects bad multi-stage input with one Dockerfile:LINE: line and writes nothing outside its work dir",
  ignore,
  sanitizeResources: false,
  async fn() {
    const root = tempDir("kiln-mserr-");
    try {
      // docker.io is mapped to a closed local port: an image pull fails at once, without the internet.
      const closed = `127.0.0.1:${await freePort()}`;
      const ctx = makeContext({ f: "f" });
      for (const [what, df, expected] of CASES) {
        const work = join(root, "work");
        const out = join(root, "out");
        const opts: BuildOptions = {
          context: ctx,
          dockerfileText: df,
          outputs: {
            noPush: true,
            ociLayoutPath: join(out, "layout"),
            tarPath: join(out, "image.tar"),
            digestFile: join(out, "digest"),
          },
          workDir: work,
          jobs: 2,
          registry: {
            registryMap: { "index.docker.io": [closed], "docker.io": [closed] },
            insecureRegistries: [closed],
            skipDefaultRegistryFallback: true,
            imageDownloadRetry: 0,
          },
        };
        const e = await assertRejects(() => build(opts), KilnError);
        if (typeof expected === "string") assertEquals(e.message, expected, what);
        else assertMatch(e.message, expected, what);
        assert(!e.message.includes("\n"), `${what}: one line`);
        assertEquals(leftovers(work), [], `${what}: work dir`);
        assert(!existsSync(out), `${what}: no outputs`);
        assertEquals(readdirSync(ctx), ["f"], `${what}: context`);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test({
  name: "build() builds only what the targets need (one or several); --skip-unused-stages=false builds every stage",
  ignore,
  sanitizeResources: false,
  async fn() {
    const root = tempDir("kiln-mserr-");
    try {
      const ctx = makeContext({ f: "f" });
      const df = "FROM scratch AS broken\nCOPY missing /x\nFROM scratch AS final\nCOPY f /f\nFROM scratch AS last\n";
      const opts = {
        context: ctx,
        dockerfileText: df,
        outputs: { noPush: true },
        workDir: join(root, "work"),
        target: "final",
      };
      const r = await build(opts);
      assertEquals(r.manifest.layers.length, 1);
      const e = await assertRejects(() => build({ ...opts, skipUnusedStages: false }), KilnError);
      assertEquals(e.message, 'Dockerfile:2: COPY: source "missing" not found in the build context');
      // Without --target, the last stage is the target and the unused stages are skipped too (BuildKit, the kaniko
      // fork); --skip-unused-stages=false builds every one, as old kaniko did.
      const { target: _target, ...noTarget } = opts;
      await build(noTarget);
      await assertRejects(() => build({ ...noTarget, skipUnusedStages: false }), KilnError, "missing");
      await build({ ...opts, target: "last", skipUnusedStages: true });
      // Several targets (--target final,last): both built, the first is the image; one that needs the broken stage
      // fails.
      const two = await build({ ...opts, target: "final", alsoTargets: ["last"] });
      assertEquals(two.manifest.layers.length, 1);
      await assertRejects(() => build({ ...opts, target: "final", alsoTargets: ["broken"] }), KilnError, "missing");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});

Deno.test("cannotExecute() reads binfmt_misc: native and 386 on amd64 run; others need an enabled F handler", () => {
  const dir = tempDir("kiln-binfmt-");
  try {
    const host = { os: "linux", architecture: "amd64" };
    const arm64 = { os: "linux", architecture: "arm64" };
    assertEquals(cannotExecute({ os: "linux", architecture: "amd64" }, { host, binfmtDir: dir }), undefined);
    assertEquals(cannotExecute({ os: "linux", architecture: "386" }, { host, binfmtDir: dir }), undefined);
    assertMatch(cannotExecute({ os: "windows", architecture: "amd64" }, { host })!, /not windows/);
    assertMatch(cannotExecute(arm64, { host, binfmtDir: join(dir, "absent") })!, /is not mounted/);
    writeFileSync(join(dir, "status"), "enabled\n");
    writeFileSync(join(dir, "register"), "");
    assertMatch(cannotExecute(arm64, { host, binfmtDir: dir })!, /no binfmt_misc handler for arm64/);
    // qemu-user-static's registration (magic and mask as the kernel prints them), flag F missing, then given.
    const entry = (flags: string, state = "enabled") =>
      `${state}\ninterpreter /usr/bin/qemu-aarch64-static\nflags: ${flags}\noffset 0\n` +
      "magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
    writeFileSync(join(dir, "qemu-aarch64"), entry("OC"));
    assertMatch(cannotExecute(arm64, { host, binfmtDir: dir })!, /lacks the F flag/);
    writeFileSync(join(dir, "qemu-aarch64"), entry("OCF", "disabled"));
    assertMatch(cannotExecute(arm64, { host, binfmtDir: dir })!, /is disabled/);
    writeFileSync(join(dir, "qemu-aarch64"), entry("OCF"));
    assertEquals(cannotExecute(arm64, { host, binfmtDir: dir }), undefined);
    assertMatch(cannotExecute({ os: "linux", architecture: "s390x" }, { host, binfmtDir: dir })!, /s390x/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The busybox layout turned into an index of linux/amd64 (as built) and linux/arm64 (config ARCH=arm64 only). */
function twoPlatformLayout(dir: string): string {
  buildBusyboxLayout(dir);
  const py = `
import hashlib, json, os, sys
d = sys.argv[1]
def blob(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(d, "blobs", "sha256", h), "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
def read(desc):
    return open(os.path.join(d, "blobs", "sha256", desc["digest"].split(":")[1]), "rb").read()
idx = json.load(open(os.path.join(d, "index.json")))
m = idx["manifests"][0]
man = json.loads(read(m))
cfg = json.loads(read(man["config"]))
cfg["architecture"], cfg["os"], cfg["variant"] = "arm64", "linux", "v8"
cfg["config"]["Env"] = cfg["config"].get("Env", []) + ["ARCH=arm64"]
arm_man = dict(man, config=dict(man["config"], **blob(json.dumps(cfg).encode())))
arm = dict(mediaType="application/vnd.oci.image.manifest.v1+json", **blob(json.dumps(arm_man).encode()))
amd = {"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"]}
amd["platform"] = {"architecture": "amd64", "os": "linux"}
arm["platform"] = {"architecture": "arm64", "os": "linux", "variant": "v8"}
ix = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [amd, arm]}
top = dict(mediaType="application/vnd.oci.image.index.v1+json", **blob(json.dumps(ix).encode()))
top["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
idx["manifests"] = [top]
json.dump(idx, open(os.path.join(d, "index.json"), "w"))
`;
  sh("python3", ["-c", py, dir]);
  return dir;
}

Deno.test({
  name: "build() honours FROM --platform: selects the base, builds without RUN, fails clearly on RUN it cannot execute",
  ignore: ignore || skipUnless("FROM --platform builds", "umoci", "busybox", "python3"),
  sanitizeResources: false,
  async fn() {
    const root = tempDir("kiln-platform-");
    try {
      const layout = twoPlatformLayout(join(root, "busybox"));
      const ctx = makeContext({ f: "f" });
      const common = {
        context: ctx,
        outputs: { noPush: true },
        workDir: join(root, "work"),
        buildContexts: { base: `oci-layout://${layout}:latest` },
      };
      const arm = await build({ ...common, dockerfileText: "FROM --platform=linux/arm64 base\nCOPY f /f\n" });
      assertEquals([arm.config.architecture, arm.config.variant], ["arm64", "v8"]);
      assert(arm.config.config?.Env?.includes("ARCH=arm64"), "the arm64 manifest was selected");
      // A COPY-only arm64 stage read by a native one.
      const mixed = await build({
        ...common,
        dockerfileText: "FROM --platform=linux/arm64 base AS arm\nCOPY f /f\nFROM base\nCOPY --from=arm /f /g\n" +
          "RUN test -f /g\n",
      });
      assertEquals(mixed.config.architecture, "amd64");
      assert(!mixed.config.config?.Env?.includes("ARCH=arm64"), "no --platform: the host's manifest");
      // A single-platform amd64 base asked for as arm64 is an error naming both (it would label amd64 files arm64).
      const single = buildBusyboxLayout(join(root, "single"));
      const e1 = await assertRejects(
        () =>
          build({
            ...common,
            buildContexts: { base: `oci-layout://${single}:latest` },
            platform: { os: "linux", architecture: "arm64" },
            dockerfileText: "FROM base\nCOPY f /f\n",
          }),
        KilnError,
      );
      assertEquals(
        e1.message,
        "Dockerfile:1: FROM base: the image is linux/amd64, but this stage builds linux/arm64 (pick a base that has " +
          "that platform, e.g. a multi-platform index, or change --custom-platform / FROM --platform)",
      );
      const scratch = await build({
        ...common,
        platform: { os: "linux", architecture: "arm64" },
        dockerfileText: "FROM scratch\nCOPY f /f\n",
      });
      assertEquals(scratch.config.architecture, "arm64", "scratch has no platform to disagree with");
      const host = hostPlatform();
      const why = cannotExecute({ os: "linux", architecture: "arm64" }, { host });
      if (host.architecture === "amd64" && why) {
        const df = "FROM scratch AS other\nFROM --platform=linux/arm64 base AS cross\nCOPY f /f\nRUN true\n";
        const e = await assertRejects(() => build({ ...common, dockerfileText: df }), KilnError);
        // Refused from the plan, before the base is pulled: the platform is the FROM --platform one.
        assertEquals(
          e.message,
          `Dockerfile:4: RUN cannot execute linux/arm64 programs (stage cross, FROM --platform=linux/arm64 base AS cross): ${why}. ${EMULATION_HINT}`,
        );
        assertEquals(leftovers(join(root, "work")), []);
      } else console.log(`this machine can run linux/arm64 programs: the RUN refusal is not checked`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
});
