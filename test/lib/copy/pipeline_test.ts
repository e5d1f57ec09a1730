/**
 * COPY/ADD/RUN-option integration through the build pipeline (plan → stage → lib/copy, lib/build/mounts), on
 * FROM scratch so no base image is needed.
 */
import * as fs from "node:fs";
import { spawnSync } from "node:child_process";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { planFromDockerfile } from "../../../lib/executor/plan.ts";
import { expandInstruction } from "../../../lib/dockerfile/mod.ts";
import { build } from "../../../lib/build/build.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";

Deno.test("planFromDockerfile() keeps RUN --mount, #! heredocs and COPY heredocs on the typed instructions", () => {
  const plan = planFromDockerfile(
    [
      "FROM scratch",
      "ARG ID=c1",
      "RUN --mount=type=cache,id=$ID,target=/c --mount=type=secret,id=s,env=S true",
      "RUN <<EOF",
      "#!/bin/sh",
      "echo hi",
      "EOF",
      "COPY <<EOF /x",
      "v=$ID",
      "EOF",
      "ADD --checksum=sha256:" + "a".repeat(64) + " --unpack=true http://h/x.tgz /y/",
      "",
    ].join("\n"),
  );
  const vars = new Map([["ID", "c1"]]);
  const [, run, shebang, copy, add] = plan.stages[0]!.instructions.map((i) => expandInstruction(i, vars));
  assert(run?.kind === "run" && run.mounts.length === 2);
  assertEquals(run.mounts[0]!.type === "cache" && run.mounts[0]!.id, "c1");
  assert(shebang?.kind === "run" && shebang.heredocs[0]?.data === "#!/bin/sh\necho hi\n");
  assert(copy?.kind === "copy" && copy.sourceContents[0]?.data === "v=c1\n" && copy.sources.length === 0);
  assert(add?.kind === "add" && add.checksum === "sha256:" + "a".repeat(64) && add.unpack === true);
});

Deno.test("build() FROM scratch: COPY heredocs, symbolic --chmod, --parents, ADD tar; bad input is one line", {
  ignore: skipUnless("pipeline", "tar", "umoci"),
}, async () => {
  const base = tempDir("kiln-copy-pipeline-");
  try {
    const ctx = `${base}/ctx`;
    fs.mkdirSync(`${ctx}/t/sub`, { recursive: true });
    fs.writeFileSync(`${ctx}/t/sub/f`, "f\n");
    fs.chmodSync(`${ctx}/t/sub/f`, 0o600);
    assertEquals(spawnSync("tar", ["-C", `${ctx}/t`, "-czf", `${ctx}/a.tgz`, "."]).status, 0);
    fs.writeFileSync(
      `${ctx}/Dockerfile`,
      [
        "FROM scratch",
        "ARG NAME=kiln",
        "COPY <<EOF /etc/greeting",
        'hello ${NAME} "q"',
        "EOF",
        "COPY --chmod=u=rwX,go=rX t /sym/",
        "COPY --parents ./t/./sub/f /p/",
        "ADD a.tgz /x/",
        "",
      ].join("\n"),
    );
    const layout = `${base}/out`;
    await build({ context: ctx, outputs: { noPush: true, ociLayoutPath: layout }, workDir: `${base}/work` });
    assertEquals(spawnSync("umoci", ["unpack", "--image", `${layout}:latest`, `${base}/b`]).status, 0);
    const r = `${base}/b/rootfs`;
    assertEquals(fs.readFileSync(`${r}/etc/greeting`, "utf8"), 'hello kiln "q"\n');
    assertEquals(fs.statSync(`${r}/sym/sub/f`).mode & 0o7777, 0o644);
    assertEquals(fs.statSync(`${r}/sym/sub`).mode & 0o7777, 0o755);
    assert(fs.existsSync(`${r}/p/sub/f`) && fs.existsSync(`${r}/x/sub/f`));
    fs.writeFileSync(`${ctx}/Dockerfile`, "FROM scratch\nCOPY *.nothing /x/\n");
    await assertRejects(
      () => build({ context: ctx, outputs: { noPush: true, ociLayoutPath: `${base}/out2` }, workDir: `${base}/work` }),
      Error,
      'Dockerfile:2: COPY: no source files match "*.nothing"',
    );
    fs.writeFileSync(`${ctx}/Dockerfile`, "FROM scratch\nRUN --mount=type=ssh true\n");
    await assertRejects(
      () => build({ context: ctx, outputs: { noPush: true, ociLayoutPath: `${base}/out3` }, workDir: `${base}/work` }),
      Error,
      "not supported",
    );
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

Deno.test("build(): parallel stages give the same image as a sequential build (--reproducible)", async () => {
  const base = tempDir("kiln-copy-jobs-");
  try {
    const ctx = `${base}/ctx`;
    fs.mkdirSync(`${ctx}/d`, { recursive: true });
    for (const n of ["a", "b", "c"]) fs.writeFileSync(`${ctx}/d/${n}.txt`, n.repeat(1000));
    fs.writeFileSync(
      `${ctx}/Dockerfile`,
      [
        "FROM scratch AS a",
        "COPY d/a.txt /a/",
        "FROM scratch AS b",
        "COPY --chmod=0600 d/b.txt /b/",
        "FROM scratch AS c",
        "COPY --from=a /a /c/from-a/",
        "COPY d/c.txt /c/",
        "FROM scratch",
        "COPY --from=c /c /final/c/",
        "COPY --from=b /b /final/b/",
        "",
      ].join("\n"),
    );
    const digests: string[] = [];
    for (const jobs of [1, 3]) {
      const r = await build({
        context: ctx,
        outputs: { noPush: true, ociLayoutPath: `${base}/out${jobs}` },
        layers: { reproducible: true },
        jobs,
        workDir: `${base}/work`,
      });
      digests.push(r.digest);
    }
    assertEquals(digests[0], digests[1]);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
