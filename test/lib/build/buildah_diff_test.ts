/**
 * Differential test: the same Dockerfiles built by kiln and by buildah (`bud --isolation chroot`, vfs storage
 * kept in a temp dir), rootfs compared file by file and config field by field. Known, deliberate differences are
 * listed in lib/build/DIVERGENCES.md and filtered here by name.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { imageNameSafeTmpdir } from "../../fixtures/temp.ts";
import { join } from "node:path";
import { skipUnless } from "../../fixtures/tools.ts";
import { buildBusyboxLayout } from "../../fixtures/busybox_image.ts";
import { assertEquals } from "../../assert.ts";
import { buildToLayout, type FileInfo, makeContext, sh, unpackLayout } from "./_helpers.ts";

const ignore = skipUnless("buildah differential tests", "buildah", "umoci", "skopeo", "python3", "busybox", "root");

/** Paths buildah's chroot isolation leaves in images (field-notes): not compared. */
const BUILDAH_ONLY = [
  /^\/dev(\/|$)/,
  /^\/proc(\/|$)/,
  /^\/sys(\/|$)/,
  /^\/run(\/|$)/,
  /^\/etc\/(hosts|hostname|resolv\.conf)$/,
];

const CASES: Record<string, string> = {
  "fs-changes": `
FROM base
RUN mkdir -p /data/dir/sub /data/tc && echo keep > /data/keep && echo del > /data/del && echo x > /data/dir/sub/f \\
 && ln -s /data/keep /data/link && echo t > /data/tc/f
RUN rm /data/del && rm -rf /data/dir /data/tc && echo file > /data/tc && rm /data/link && mkdir /data/link
RUN echo shared > /data/h1 && ln /data/h1 /data/h2 && cp /bin/busybox /data/suid && chmod 4755 /data/suid \\
 && mkdir -m 2750 /data/sg && chown 1000:50 /data/sg && mkfifo /data/fifo && ln -sf ../keep /data/rel
RUN d=/data/long; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do d=$d/component-number-$i; done; mkdir -p $d \\
 && echo deep > $d/a-file-with-a-rather-long-name-to-go-past-the-ustar-limits.txt
RUN mkdir /data/many && cd /data/many && i=0; while [ $i -lt 500 ]; do echo $i > f$i; i=$((i+1)); done
RUN rm -rf /home/app /etc/group && echo "root:x:0:" > /etc/group
`,
  "metadata": `
FROM base
ENV A=1 B="two words"
ENV PATH=/usr/local/bin:/usr/bin:/bin A=2
ARG V=argval
LABEL one=$V "two words"="x y"
USER app
WORKDIR /home/app/work
RUN echo "$V $A" > note && id > id.txt
USER 1000:50
EXPOSE 80 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=7s --timeout=2s --retries=4 CMD wget -q -O- http://localhost/
SHELL ["/bin/sh", "-xc"]
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "cat /home/app/work/note"]
`,
  "copy": `
FROM base AS build
RUN mkdir -p /out/sub && echo built > /out/sub/b && chmod 751 /out/sub && chown -R 1000:1000 /out
FROM base
COPY --chown=1000:50 files/ /opt/files/
COPY --chmod=0600 files/a.txt /opt/a-private.txt
COPY --from=build /out /opt/out
COPY files/a.txt files/b.txt /opt/multi/
WORKDIR /w
COPY files/b.txt rel.txt
ADD files/archive.tar.gz /opt/unpacked/
ADD files/a.txt /opt/added.txt
`,
};

function buildahEnv(dir: string): Record<string, string> {
  const conf = join(dir, "storage.conf");
  writeFileSync(conf, `[storage]\ndriver = "vfs"\nrunroot = "${dir}/run"\ngraphroot = "${dir}/graph"\n`);
  return { CONTAINERS_STORAGE_CONF: conf };
}

interface Snapshot {
  files: Record<string, FileInfo>;
  config: Record<string, unknown>;
}

function normalizeFiles(files: Record<string, FileInfo>, dropBuildah: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Hardlink groups by path of the first member instead of inode numbers.
  const firstByIno = new Map<number, string>();
  for (const p of Object.keys(files).sort()) {
    if (dropBuildah && BUILDAH_ONLY.some((re) => re.test(p))) continue;
    const f = files[p]!;
    let group: string | undefined;
    if (f.type !== "d" && f.nlink > 1) {
      group = firstByIno.get(f.ino) ?? p;
      firstByIno.set(f.ino, group);
    }
    out[p] = {
      type: f.type,
      mode: f.mode.toString(8),
      owner: `${f.uid}:${f.gid}`,
      size: f.size,
      ...(f.sha ? { sha: f.sha } : {}),
      ...(f.link ? { link: f.link } : {}),
      ...(group ? { hardlinkGroup: group } : {}),
      ...(Object.keys(f.xattrs).length ? { xattrs: f.xattrs } : {}),
    };
  }
  return out;
}

function normalizeConfig(c: Record<string, unknown>): Record<string, unknown> {
  const pick: Record<string, unknown> = {};
  for (
    const k of [
      "User",
      "ExposedPorts",
      "Cmd",
      "Entrypoint",
      "Volumes",
      "WorkingDir",
      "StopSignal",
      "Healthcheck",
      "Shell",
      "OnBuild",
    ]
  ) {
    let v = c[k];
    if (Array.isArray(v) && v.length === 0) v = undefined; // buildah writes [] for unset
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) v = undefined;
    if (v === "" || v === null) v = undefined;
    if (v !== undefined) pick[k] = v;
  }
  pick.Env = [...((c.Env as string[] | undefined) ?? [])].sort(); // buildah reorders Env (field-notes)
  const labels = { ...((c.Labels as Record<string, string> | undefined) ?? {}) };
  delete labels["io.buildah.version"];
  if (Object.keys(labels).length) pick.Labels = labels;
  return pick;
}

async function viaKiln(ctx: string, dockerfile: string, layout: string): Promise<Snapshot> {
  const built = await buildToLayout(ctx, dockerfile, { buildContexts: { base: `oci-layout://${layout}:latest` } });
  const { files } = unpackLayout(built.layout);
  const raw = JSON.parse(sh("skopeo", ["inspect", "--raw", "--config", `oci:${built.layout}:latest`]));
  return { files, config: raw.config ?? {} };
}

function viaBuildah(ctx: string, dockerfile: string, layout: string, state: string, tag: string): Snapshot {
  const env = buildahEnv(state);
  writeFileSync(join(ctx, "Dockerfile.buildah"), dockerfile.replace(/^FROM base\b/gm, `FROM oci:${layout}:latest`));
  sh("buildah", [
    "bud",
    "--isolation",
    "chroot",
    "--format",
    "docker",
    "-f",
    join(ctx, "Dockerfile.buildah"),
    "-t",
    tag,
    ctx,
  ], { env });
  const out = join(state, `out-${tag}`);
  sh("buildah", ["push", tag, `oci:${out}:latest`], { env });
  const inspect = JSON.parse(sh("buildah", ["inspect", "--type", "image", tag], { env }));
  const { files } = unpackLayout(out);
  return { files, config: inspect.Docker.config };
}

Deno.test({
  name: "kiln and buildah build the same rootfs and config (differences only as listed in DIVERGENCES.md)",
  ignore,
  sanitizeResources: false,
  async fn(t) {
    // buildah derives an image name from the layout path: keep it lower-case.
    const state = join(imageNameSafeTmpdir(), `kiln-buildah-${crypto.randomUUID()}`);
    mkdirSync(state, { recursive: true });
    const layout = join(state, "busybox");
    buildBusyboxLayout(layout);
    try {
      for (const [name, df] of Object.entries(CASES)) {
        await t.step(name, async () => {
          const ctx = makeContext({ "files/a.txt": "aaa\n", "files/b.txt": "bb\n", "files/d/c.txt": "c\n" });
          mkdirSync(join(ctx, "files/empty"), { recursive: true });
          sh("python3", [
            "-c",
            "import io,sys,tarfile\nwith tarfile.open(sys.argv[1], 'w:gz') as t:\n" +
            "  for n, d in [('top/one.txt', b'1\\n'), ('top/sub/two.txt', b'22\\n')]:\n" +
            "    ti = tarfile.TarInfo(n); ti.size = len(d); ti.mode = 0o640; ti.uid = 7; ti.gid = 8; ti.mtime = 1000\n" +
            "    t.addfile(ti, io.BytesIO(d))",
            join(ctx, "files/archive.tar.gz"),
          ]);
          const k = await viaKiln(ctx, df, layout);
          const b = viaBuildah(ctx, df, layout, state, `kiln-diff-${name}`);
          assertEquals(normalizeFiles(k.files, true), normalizeFiles(b.files, true), `${name}: rootfs`);
          assertEquals(normalizeConfig(k.config), normalizeConfig(b.config), `${name}: config`);
          rmSync(ctx, { recursive: true, force: true });
        });
      }
    } finally {
      try {
        sh("buildah", ["rmi", "-a", "-f"], { env: buildahEnv(state) });
      } catch { /* best effort */ }
      rmSync(state, { recursive: true, force: true });
    }
  },
});
