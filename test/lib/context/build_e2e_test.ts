/**
 * End to end: `kiln build --reproducible --no-push --tar-path` of the same Dockerfile and context fetched from
 * every source gives the same image digest.
 */
import { spawn } from "node:child_process";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../../assert.ts";
import { startAzurite } from "../../fixtures/azurite.ts";
import { startGcsServer } from "../../fixtures/gcs_server.ts";
import { startGitServer } from "../../fixtures/git_server.ts";
import { startS3rver } from "../../fixtures/s3rver.ts";
import { REPO_ROOT, skipUnless } from "../../fixtures/tools.ts";
import { makeRepos, tarGz, writeContextTree } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("kiln build from every context source", "git", "node", "tar");
const DENO = join(REPO_ROOT, "node_modules/.bin/deno");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kiln(args: string[], env: Record<string, string>, stdinFile?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(DENO, ["run", "-A", join(REPO_ROOT, "cli/main.ts"), ...args], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
      stdio: [stdinFile ? "pipe" : "ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    if (stdinFile) createReadStream(stdinFile).pipe(child.stdin!);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function pool<T, R>(items: T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

Deno.test({ name: "kiln build gives the same digest for the same context from every source", ignore }, async () => {
  const tmp = tempDir("kiln-ctxe2e-");
  const ref = join(tmp, "ref");
  const files = join(tmp, "files");
  const work = join(tmp, "work");
  await mkdir(ref);
  await mkdir(files);
  await writeContextTree(ref);
  const tgz = join(files, "c.tar.gz");
  tarGz(ref, tgz);
  tarGz(ref, join(files, "c.tar.zst"), "zstd");
  await mkdir(join(tmp, "gitroot"));
  await mkdir(join(tmp, "scratch"));
  await makeRepos(join(tmp, "gitroot"), join(tmp, "scratch"));
  const http = createServer((req, res) => {
    if (req.url === "/c.tar.gz") createReadStream(tgz).pipe(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const [s3, az, git] = await Promise.all([
    startS3rver(["bk"]),
    startAzurite(),
    startGitServer({ projectRoot: join(tmp, "gitroot") }),
  ]);
  const gcs = await startGcsServer({ gb: { "c.tar.gz": tgz } });
  await Promise.all([s3.put("bk", "c.tar.gz", tgz), az.put("ctr", "c.tar.gz", tgz)]);
  try {
    const cases: [string, Record<string, string>, string?][] = [
      [ref, {}],
      [`dir://${ref}`, {}],
      [`git://${git.host}/git/ctx.git#main`, { GIT_PULL_METHOD: "http" }],
      [`${git.url}/ctx.git#main`, {}],
    ];
    cases.push(
      [`tar://${tgz}`, {}],
      [`tar://${join(files, "c.tar.zst")}`, {}],
      ["tar://stdin", {}, tgz],
      [`${httpUrl}/c.tar.gz`, {}],
      ["s3://bk/c.tar.gz", s3.env],
      ["gs://gb/c.tar.gz", { STORAGE_EMULATOR_HOST: gcs.endpoint }],
      [`${az.blobEndpoint}/ctr/c.tar.gz`, { AZURE_STORAGE_CONNECTION_STRING: az.connectionString }],
    );
    // run the builds 4 at a time, then check (so no build is still running when an assertion fails)
    const runs = await pool(cases, 4, async ([spec, env, stdin], i) => {
      const out = join(tmp, `out-${i}.tar`);
      const r = await kiln(
        [
          "build",
          `--context=${spec}`,
          "--dockerfile=Dockerfile",
          "--no-push",
          "--reproducible",
          `--tar-path=${out}`,
          `--work-dir=${work}`,
          "--log-format=text",
        ],
        env,
        stdin,
      );
      return { spec, out, r };
    });
    const digests = new Map<string, string>();
    for (const { spec, out, r } of runs) {
      assertEquals(r.code, 0, `${spec}: ${r.stderr}`);
      assertMatch(r.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
      assert(existsSync(out));
      digests.set(spec, r.stdout.trim());
    }
    assertEquals(new Set(digests.values()).size, 1, JSON.stringify(Object.fromEntries(digests), null, 1));
    // every fetched context was removed again
    assertEquals((await readdir(work).catch(() => [])).filter((n) => n.startsWith("context-")), []);
    // a bad source fails with its one-line message and exit status 1
    await writeFile(join(files, "junk.tar.gz"), "junk");
    const bad = await kiln(["build", `--context=tar://${join(files, "junk.tar.gz")}`, "--no-push"], {});
    assertEquals(bad.code, 1, bad.stderr);
    assertMatch(bad.stderr, /Cannot fetch build context tar:\/\/.*junk\.tar\.gz: not a valid/);
    const unknown = await kiln(["build", "--context=ftp://x/c.tar", "--no-push"], {});
    assertEquals(unknown.code, 2, unknown.stderr);
    assertMatch(unknown.stderr, /unknown scheme "ftp:\/\/"/);
  } finally {
    await Promise.all([s3.close(), az.close(), git.close(), gcs.close()]);
    await new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r())));
    await rm(tmp, { recursive: true, force: true });
  }
});
