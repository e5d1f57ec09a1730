/**
 * kiln's end-to-end build benchmark (issue 7 §2–3): full cold builds (build + push) of the Dockerfiles in
 * bench/dockerfiles/ by kiln and by `buildah bud --layers`, alternated, best of N, with both builders' state (work
 * dirs, buildah's vfs storage, temp files, the registry's storage) on one tmpfs. Prints, per Dockerfile, kiln/buildah
 * ratios of wall time and CPU time (user + system of the whole process tree) and kiln's peak RSS; in full mode also
 * the peak RSS of a build writing a 2 GiB layer. With `--gate`, exits 1 when a value is worse than its threshold in
 * bench/thresholds.json (`builds.short` / `builds.full`). Driven by bench/run.sh.
 *
 * Usage: deno run -A bench/builds.ts [--short] [--gate] [--runs N] [--only small,files20k,multistage,mixed20k,big2g]
 *                                    [--json FILE] [--keep] [--verbose] [--kiln-args "--walker=ts …"]
 *
 * - Base image: the busybox of test/fixtures/busybox_image.ts (umoci), pushed by skopeo to a docker-registry started
 *   here (test/fixtures/registry.ts); both builders pull it from there (`--build-arg BASE=127.0.0.1:PORT/busybox`)
 *   and push their result to a new repository of the same registry each run.
 * - Cold: every run starts with an empty kiln work dir and an empty buildah storage (graphroot, runroot, TMPDIR).
 * - kiln: `deno run -A cli/main.ts build … -d REG/…` (RUN in its sandbox). buildah: `buildah bud --layers
 *   --isolation chroot --tls-verify=false` then `buildah push --tls-verify=false`, in one timed shell.
 * - Time, CPU and peak RSS come from GNU time (`/usr/bin/time -f`, package `time`): peak RSS is that of the largest
 *   single process of the tree (kiln's deno process; buildah's), from wait4's rusage.
 * - Needs root (both builders' RUN isolation), umoci, skopeo, docker-registry and GNU time; without buildah only
 *   kiln's numbers are printed and the ratios are skipped.
 *
 * @module
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { startBusyboxRegistry } from "../test/fixtures/busybox_image.ts";
import { multiArchUnavailable, startMultiArchRegistry } from "../test/fixtures/multiarch_image.ts";
import { cannotExecute } from "../lib/executor/_exec_platform.ts";
import { best, gateMetrics, has, pickBase, releaseBase, type Sample, timed, useTmpdir } from "./_harness.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    short: { type: "boolean", default: false },
    gate: { type: "boolean", default: false },
    runs: { type: "string" },
    json: { type: "string" },
    only: { type: "string" },
    thresholds: { type: "string", default: new URL("./thresholds.json", import.meta.url).pathname },
    keep: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    "kiln-args": { type: "string" },
  },
});
const short = values.short!;
const mode = short ? "short" : "full";
const runs = Number(values.runs ?? (short ? 3 : 5));
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();
/** The compared builds; `big2g` is kiln only (peak RSS), full mode or `--only big2g`. */
const BUILDS = ["small", "files20k", "multistage", "mixed20k", "multiplatform"] as const;
const only = values.only ? new Set(values.only.split(",")) : undefined;
// Short mode (CI): the small build, issue 16's kind of build (mixed20k) and issue 17's (multiplatform).
const selected = BUILDS.filter((b) =>
  only ? only.has(b) : !short || b === "small" || b === "mixed20k" || b === "multiplatform"
);
const wantBig = only ? only.has("big2g") : !short;

interface Metric {
  name: string;
  value: number;
  /** "ratio" (kiln/buildah, lower is better), "MiB" (peak RSS, lower is better) or "count" (distinct digests). */
  unit: "ratio" | "MiB" | "count" | "s";
  detail: string;
}
const metrics: Metric[] = [];
const notes: string[] = [];
const errors: string[] = [];

function record(name: string, value: number, unit: Metric["unit"], detail: string): void {
  metrics.push({ name, value, unit, detail });
  const v = unit === "MiB"
    ? `${value.toFixed(0)} MiB`
    : unit === "count"
    ? String(value)
    : unit === "s"
    ? `${value.toFixed(2)} s`
    : value.toFixed(3);
  console.log(`${name.padEnd(22)} ${v.padStart(9)}  ${detail}`);
}

/** Layer count and total compressed size of a pushed image (and so a check that the push happened). */
async function pushedLayers(host: string, repo: string, tag: number): Promise<string> {
  const get = async (ref: string | number) => {
    const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, {
      headers: {
        accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, " +
          "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json",
      },
    });
    if (!res.ok) throw new Error(`${host}/${repo}:${ref} was not pushed: HTTP ${res.status}`);
    return await res.json() as { layers?: { size: number }[]; manifests?: { digest: string }[] };
  };
  const m = await get(tag);
  // An index (several platforms): every image's layers, and how many images.
  const images = m.manifests ? await Promise.all(m.manifests.map((d) => get(d.digest))) : [m];
  const layers = images.flatMap((i) => i.layers ?? []);
  const total = layers.reduce((a, l) => a + l.size, 0);
  return `${m.manifests ? `${images.length} images, ` : ""}${layers.length} (${(total / 1048576).toFixed(1)} MiB)`;
}

const mib = (kib: number) => kib / 1024;
const fmt = (s: Sample) => `${s.wall.toFixed(2)} s wall, ${s.cpu.toFixed(2)} s CPU, ${mib(s.rssKiB).toFixed(0)} MiB`;

const missing = ["umoci", "skopeo", "docker-registry"].filter((c) => !has(c));
if (!Deno.build.os.startsWith("linux") || Deno.uid() !== 0) missing.push("root");
if (!has("/usr/bin/time")) missing.push("GNU time (/usr/bin/time)");
const buildah = has("buildah");
if (!buildah) notes.push("buildah not installed: kiln/buildah ratios skipped");

const t0 = performance.now();
if (missing.length > 0 || (selected.length === 0 && !wantBig)) {
  console.log(
    missing.length > 0 ? `kiln build bench skipped: needs ${missing.join(", ")}` : "kiln build bench: nothing selected",
  );
} else {
  const { base, unmount, note } = pickBase(wantBig ? 8 : 2, "kiln-builds-");
  if (note) notes.push(note);
  const tmp = `${base}/tmp`;
  mkdirSync(tmp, { recursive: true });
  // The fixture's registry storage and busybox layout go under os.tmpdir(): on the tmpfs too.
  const restoreTmp = useTmpdir(tmp);
  let reg: Awaited<ReturnType<typeof startBusyboxRegistry>> | undefined;
  let multi: Awaited<ReturnType<typeof startMultiArchRegistry>> | undefined;
  try {
    reg = await startBusyboxRegistry();
    const host = reg.registry.host;
    console.log(
      `kiln build bench (${mode}, best of ${runs}, ${cpus().length} cores, state in ${base}, registry ${host}): ` +
        `${[...selected, ...(wantBig ? ["big2g (kiln only)"] : [])].join(", ")}`,
    );
    const storageConf = `${base}/storage.conf`;
    const graph = `${base}/buildah-graph`;
    const run = `${base}/buildah-run`;
    writeFileSync(storageConf, `[storage]\ndriver = "vfs"\nrunroot = "${run}"\ngraphroot = "${graph}"\n`);
    const btmp = `${base}/builder-tmp`;
    const env = { TMPDIR: btmp, CONTAINERS_STORAGE_CONF: storageConf, BUILDAH_ISOLATION: "chroot" };
    const clean = () => {
      for (const d of [graph, run, `${base}/kiln-work`, btmp]) rmSync(d, { recursive: true, force: true });
      mkdirSync(btmp, { recursive: true });
      mkdirSync(`${base}/kiln-work`, { recursive: true });
    };
    let seq = 0;
    const kilnArgs = values["kiln-args"]?.split(/\s+/).filter(Boolean) ?? [];
    /** A Dockerfile's `platforms` file: build those platforms (from the two-platform base) into one index. */
    const platformsOf = (ctx: string): string | undefined => {
      try {
        return readFileSync(`${ctx}/platforms`, "utf8").trim();
      } catch {
        return undefined;
      }
    };
    const baseFor = (ctx: string) => (platformsOf(ctx) ? multi!.ref : reg!.ref);
    const kilnOnce = (
      name: string,
      ctx: string,
      extra: string[] = [],
      workDir = `${base}/kiln-work`,
    ): Promise<Sample> => {
      clean();
      const dest = `${host}/bench/kiln-${name}:${++seq}`;
      // Every kiln build is --reproducible (same work as without: only the timestamps written differ), so the
      // runs of one Dockerfile must push one digest: build_NAME_digests counts the distinct ones.
      const digestFile = `${base}/digests-${name}/${seq}`;
      mkdirSync(`${base}/digests-${name}`, { recursive: true });
      return timed(
        [
          DENO,
          "run",
          "-A",
          `${ROOT}/cli/main.ts`,
          "build",
          "-c",
          ctx,
          "-f",
          "Dockerfile",
          "-d",
          dest,
          "--insecure-registry",
          host,
          "--work-dir",
          workDir,
          "--build-arg",
          `BASE=${baseFor(ctx)}`,
          ...(platformsOf(ctx) ? ["--platform", platformsOf(ctx)!, "--insecure-registry", multi!.registry.host] : []),
          "--reproducible",
          "--digest-file",
          digestFile,
          ...kilnArgs,
          ...extra,
          "-v",
          "info",
        ],
        env,
        `${base}/kiln-${name}.log`,
      );
    };
    const buildahOnce = (name: string, ctx: string): Promise<Sample> => {
      clean();
      const dest = `${host}/bench/buildah-${name}:${++seq}`;
      const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
      const platforms = platformsOf(ctx);
      // Several platforms: buildah builds each into a manifest list and pushes it with every image.
      const script = platforms
        ? `buildah bud --layers --isolation chroot --tls-verify=false -q --build-arg BASE=${q(baseFor(ctx))} ` +
          `--platform ${q(platforms)} --manifest ${q(dest)} -f ${q(`${ctx}/Dockerfile`)} ${q(ctx)} >/dev/null && ` +
          `buildah manifest push --all --tls-verify=false -q ${q(dest)} ${q(`docker://${dest}`)}`
        : `buildah bud --layers --isolation chroot --tls-verify=false -q --build-arg BASE=${q(reg!.ref)} ` +
          `-f ${q(`${ctx}/Dockerfile`)} -t ${q(dest)} ${q(ctx)} >/dev/null && ` +
          `buildah push --tls-verify=false -q ${q(dest)} ${q(`docker://${dest}`)}`;
      return timed(["sh", "-c", script], env, `${base}/buildah-${name}.log`);
    };

    for (const name of selected) {
      // The context is copied onto the tmpfs too, so both builders read it from memory.
      const ctx = `${base}/ctx-${name}`;
      cpSync(`${ROOT}/bench/dockerfiles/${name}`, ctx, { recursive: true });
      if (platformsOf(ctx)) {
        const why = multiArchUnavailable() ?? cannotExecute({ os: "linux", architecture: "arm64" }, {
          host: { os: "linux", architecture: "amd64" },
        });
        if (why) {
          notes.push(`${name} skipped: ${why}`);
          console.log(`  ${name}: skipped: ${why}`);
          continue;
        }
        multi ??= await startMultiArchRegistry();
      }
      // Untimed warm-up of each (deno's transpile cache, binaries in the page cache); checks both pushed an image.
      // kiln's warm-up works on disk (ext4 hands a re-created directory its old inode number, tmpfs never does), the
      // timed runs on the tmpfs: one digest across both.
      const diskWork = `${ROOT}/.work/bench-disk-work`;
      mkdirSync(diskWork, { recursive: true });
      try {
        await kilnOnce(name, ctx, [], diskWork);
      } finally {
        rmSync(diskWork, { recursive: true, force: true });
      }
      const kLayers = await pushedLayers(host, `bench/kiln-${name}`, seq);
      let bLayers = "";
      if (buildah) {
        await buildahOnce(name, ctx);
        bLayers = `, buildah ${await pushedLayers(host, `bench/buildah-${name}`, seq)}`;
      }
      console.log(`  ${name}: pushed layers (base included): kiln ${kLayers}${bLayers}`);
      const ks: Sample[] = [];
      const bs: Sample[] = [];
      for (let i = 0; i < runs; i++) {
        const kFirst = i % 2 === 0;
        if (kFirst) ks.push(await kilnOnce(name, ctx));
        if (buildah) bs.push(await buildahOnce(name, ctx));
        if (!kFirst) ks.push(await kilnOnce(name, ctx));
      }
      const k = best(ks);
      if (values.verbose) {
        console.log(`  kiln    runs: ${ks.map(fmt).join(" | ")}`);
        if (buildah) console.log(`  buildah runs: ${bs.map(fmt).join(" | ")}`);
      }
      if (buildah) {
        const b = best(bs);
        console.log(`  ${name}: kiln ${fmt(k)}; buildah ${fmt(b)}`);
        record(
          `build_${name}_wall`,
          k.wall / b.wall,
          "ratio",
          `kiln ${k.wall.toFixed(2)} s vs buildah ${b.wall.toFixed(2)} s`,
        );
        record(
          `build_${name}_cpu`,
          k.cpu / b.cpu,
          "ratio",
          `kiln ${k.cpu.toFixed(2)} s vs buildah ${b.cpu.toFixed(2)} s CPU`,
        );
      } else {
        console.log(`  ${name}: kiln ${fmt(k)}`);
      }
      record(`build_${name}_rss`, mib(k.rssKiB), "MiB", `kiln peak RSS (worst of ${runs})`);
      // What is left after the last step: kiln's "Wrote registry … in Xs" (layers went up while the steps ran).
      const pushS = ks.map((s) => Number(/Wrote registry .* in ([\d.]+)s/.exec(s.output)?.[1] ?? NaN));
      if (pushS.every((x) => !Number.isNaN(x))) {
        record(
          `build_${name}_push_s`,
          Math.min(...pushS),
          "s",
          `push after the last step (best of ${runs}; runs ${pushS.map((x) => x.toFixed(2)).join(", ")})`,
        );
      }
      const digests = new Set(
        readdirSync(`${base}/digests-${name}`).map((f) => readFileSync(`${base}/digests-${name}/${f}`, "utf8").trim()),
      );
      record(
        `build_${name}_digests`,
        digests.size,
        "count",
        `distinct digests of ${runs + 1} --reproducible builds (1 = reproducible): ${[...digests].join(" ")}`,
      );
    }
    if (wantBig) {
      const ctx = `${base}/ctx-big2g`;
      cpSync(`${ROOT}/bench/dockerfiles/big2g`, ctx, { recursive: true });
      const k = await kilnOnce("big2g", ctx);
      console.log(`  big2g: kiln ${fmt(k)}`);
      record(
        "build_big2g_rss",
        mib(k.rssKiB),
        "MiB",
        `kiln peak RSS, build + push of a 2 GiB layer (${k.wall.toFixed(1)} s)`,
      );
    }
    console.log(`measured in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  } catch (e) {
    errors.push((e as Error).message ?? String(e));
    console.log(`build bench error (remaining builds not measured): ${(e as Error).message ?? e}`);
  } finally {
    await reg?.stop();
    await multi?.stop();
    restoreTmp();
    releaseBase({ base, ...(unmount ? { unmount } : {}) }, values.keep!);
  }
}
gateMetrics({
  thresholdsFile: values.thresholds!,
  section: "builds",
  mode,
  metrics,
  errors,
  notes,
  ...(values.json ? { json: values.json } : {}),
  summary: { runs },
  gate: values.gate!,
  label: "build benchmark",
});
