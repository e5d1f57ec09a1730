/**
 * Every context source against real local servers: the same context from a directory, tar files (plain,
 * gzip, zstd), stdin, HTTP, S3 (s3rver), GCS (stand-in), Azure (azurite) and git (git http-backend) must
 * unpack to the same tree; bad input gives one-line errors and leaves nothing in the work directory.
 */
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { ContextError, type ContextProgress, resolveContext } from "../../../lib/context/mod.ts";
import { AZURITE_KEY, startAzurite } from "../../fixtures/azurite.ts";
import { makeServiceAccount, startGcsServer } from "../../fixtures/gcs_server.ts";
import { startGitServer } from "../../fixtures/git_server.ts";
import { startS3rver } from "../../fixtures/s3rver.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { makeRepos, tarGz, treeSignature, writeContextTree } from "./_helpers.ts";
import { tempDir } from "../../fixtures/temp.ts";

const ignore = skipUnless("context sources", "git", "node", "tar", "python3");

async function startFileServer(root: string) {
  const server = createServer(async (req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname === "/moved.tar.gz") {
      res.writeHead(302, { location: "/c.tar.gz" }).end();
      return;
    }
    if (u.pathname.startsWith("/private/")) {
      if (req.headers.authorization !== "Basic " + btoa("kiln:s3cret")) {
        res.writeHead(401, { "www-authenticate": "Basic" }).end();
        return;
      }
    }
    const file = join(root, u.pathname.replace(/^\/(private\/)?/, ""));
    try {
      const st = await stat(file);
      res.writeHead(200, { "content-length": String(st.size), "content-type": "application/gzip" });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

function fileStream(path: string): () => ReadableStream<Uint8Array> {
  return () =>
    new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(new Uint8Array(await readFile(path)));
        c.close();
      },
    });
}

Deno.test({ name: "resolveContext() fetches the same context from every source", ignore }, async (t) => {
  const tmp = tempDir("kiln-ctxsrc-");
  const ref = join(tmp, "ref");
  const files = join(tmp, "files");
  const work = join(tmp, "work");
  await mkdir(ref);
  await mkdir(files);
  await writeContextTree(ref);
  const expected = await treeSignature(ref);
  const tgz = join(files, "c.tar.gz");
  tarGz(ref, tgz);
  tarGz(ref, join(files, "c.tar.zst"), "zstd");
  tarGz(ref, join(files, "c.tar"), "none");
  // corrupt: gzip magic followed by junk; not an archive at all; a truncated gzip tar
  await writeFile(join(files, "corrupt.tar.gz"), new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  await writeFile(join(files, "text.tar.gz"), "this is not a tar archive\n".repeat(40));
  const whole = await readFile(tgz);
  await writeFile(join(files, "truncated.tar.gz"), whole.subarray(0, Math.floor(whole.length / 2)));
  // an archive whose entries try to escape the destination
  const evil = join(files, "evil.tar");
  const evil2 = join(files, "evil-symlinks.tar");
  const py = spawnSync("python3", [
    "-c",
    `import tarfile,io,sys
t=tarfile.open(sys.argv[1],"w")
for name in ["../escape.txt","ok/../../escape2.txt","/abs.txt"]:
    d=b"x\\n"; i=tarfile.TarInfo(name); i.size=len(d); t.addfile(i,io.BytesIO(d))
t.close()
t=tarfile.open(sys.argv[2],"w")
i=tarfile.TarInfo("link"); i.type=tarfile.SYMTYPE; i.linkname="/"; t.addfile(i)
i=tarfile.TarInfo("up"); i.type=tarfile.SYMTYPE; i.linkname="../../../../.."; t.addfile(i)
for name in ["link/kiln-escape3.txt","up/kiln-escape4.txt"]:
    d=b"y\\n"; i=tarfile.TarInfo(name); i.size=len(d); t.addfile(i,io.BytesIO(d))
t.close()`,
    evil,
    evil2,
  ]);
  assertEquals(py.status, 0, String(py.stderr));

  await mkdir(join(tmp, "gitroot"));
  await mkdir(join(tmp, "scratch"));
  await makeRepos(join(tmp, "gitroot"), join(tmp, "scratch"));
  const [s3, az, git, http] = await Promise.all([
    startS3rver(["bk"]),
    startAzurite(),
    startGitServer({ projectRoot: join(tmp, "gitroot") }),
    startFileServer(files),
  ]);
  const gcs = await startGcsServer({
    gb: { "dir/c.tar.gz": tgz, "corrupt.tar.gz": join(files, "corrupt.tar.gz") },
  });
  await Promise.all([
    s3.put("bk", "dir/c.tar.gz", tgz),
    s3.put("bk", "corrupt.tar.gz", join(files, "corrupt.tar.gz")),
    s3.put("bk", "context.tar.gz", tgz),
    az.put("ctr", "dir/c.tar.gz", tgz),
    az.put("ctr", "corrupt.tar.gz", join(files, "corrupt.tar.gz")),
  ]);
  const sa = makeServiceAccount();
  const other = makeServiceAccount();
  await writeFile(join(tmp, "sa.json"), sa.keyJson);
  await writeFile(join(tmp, "other.json"), other.keyJson);
  const gcsAuth = await startGcsServer({ sb: { "c.tar.gz": tgz } }, { requireAccount: sa });
  const gcsAuthHost = gcsAuth.endpoint.replace("http://", "");
  await writeFile(
    join(tmp, "aws-credentials"),
    "[default]\naws_access_key_id = NOPE\n\n[ci]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n",
  );
  await writeFile(join(tmp, "aws-config"), "[profile ci]\nregion = us-east-1\n");
  const azEnv = { AZURE_STORAGE_CONNECTION_STRING: az.connectionString };
  const gcsEnv = { STORAGE_EMULATOR_HOST: gcs.endpoint.replace("http://", "") };

  try {
    await t.step("same tree from every scheme", async () => {
      const cases: [string, Record<string, string>, (() => ReadableStream<Uint8Array>)?][] = [
        [`tar://${tgz}`, {}],
        [`tar://${join(files, "c.tar.zst")}`, {}],
        [`tar://${join(files, "c.tar")}`, {}],
        ["tar://stdin", {}, fileStream(tgz)],
        [`${http.url}/c.tar.gz`, {}],
        [`${http.url}/moved.tar.gz`, {}],
        [`${http.url.replace("http://", "http://kiln:s3cret@")}/private/c.tar.gz`, {}],
        ["s3://bk/dir/c.tar.gz", s3.env],
        ["s3://bk", s3.env],
        ["gs://gb/dir/c.tar.gz", gcsEnv],
        ["gs://sb/c.tar.gz", {
          STORAGE_EMULATOR_HOST: gcsAuthHost,
          GOOGLE_APPLICATION_CREDENTIALS: join(tmp, "sa.json"),
        }],
        [`${az.blobEndpoint}/ctr/dir/c.tar.gz`, azEnv],
        [`${az.blobEndpoint}/ctr/dir/c.tar.gz`, {
          AZURE_STORAGE_CONNECTION_STRING: `BlobEndpoint=${az.blobEndpoint}`,
          AZURE_STORAGE_ACCESS_KEY: AZURITE_KEY,
        }],
        ["s3://bk/dir/c.tar.gz", {
          AWS_SHARED_CREDENTIALS_FILE: join(tmp, "aws-credentials"),
          AWS_CONFIG_FILE: join(tmp, "aws-config"),
          AWS_PROFILE: "ci",
          S3_ENDPOINT: s3.endpoint,
          S3_FORCE_PATH_STYLE: "true",
        }],
        [`git://${git.host}/git/ctx.git#main`, { GIT_PULL_METHOD: "http" }],
        [`${git.url}/ctx.git`, {}],
      ];
      for (const [spec, env, stdin] of cases) {
        const ctx = await resolveContext(spec, { workDir: work, env, ...(stdin ? { stdin } : {}) });
        try {
          assertEquals(await treeSignature(ctx.dir), expected, spec);
          assert(ctx.fetched && ctx.dir.startsWith(work), spec);
        } finally {
          await ctx.cleanup();
        }
      }
      assertEquals(await readdir(work), []);
      // a local directory is used in place
      for (const spec of [ref, `dir://${ref}`]) {
        const ctx = await resolveContext(spec, { workDir: work });
        assertEquals([ctx.dir, ctx.fetched, ctx.kind], [ref, false, "dir"]);
        await ctx.cleanup();
      }
      assertEquals(await readdir(ref).then((l) => l.length), 3);
    });

    await t.step("progress is reported with the total size", async () => {
      const seen: ContextProgress[] = [];
      const ctx = await resolveContext(`${http.url}/c.tar.gz`, { workDir: work, onProgress: (p) => seen.push(p) });
      await ctx.cleanup();
      const size = (await stat(tgz)).size;
      assert(seen.length > 0);
      assertEquals(seen[seen.length - 1], { bytes: size, total: size });
      const s3seen: ContextProgress[] = [];
      const c2 = await resolveContext("s3://bk/dir/c.tar.gz", {
        workDir: work,
        env: s3.env,
        onProgress: (p) => s3seen.push(p),
      });
      await c2.cleanup();
      assertEquals(s3seen[s3seen.length - 1], { bytes: size, total: size });
    });

    await t.step("--context-sub-path selects a directory inside the context", async () => {
      for (const spec of [ref, `tar://${tgz}`, "s3://bk/dir/c.tar.gz"]) {
        const ctx = await resolveContext(spec, { workDir: work, env: s3.env, subPath: "app/nested" });
        assertEquals((await readdir(ctx.dir)).sort(), ["a b.txt", "deeper"], spec);
        await ctx.cleanup();
      }
      await assertRejects(
        () => resolveContext(`tar://${tgz}`, { workDir: work, subPath: "../.." }),
        ContextError,
        "outside the context",
      );
      await assertRejects(
        () => resolveContext(`tar://${tgz}`, { workDir: work, subPath: "nope" }),
        ContextError,
        'context sub-path "nope" is not a directory',
      );
      assertEquals(await readdir(work), []);
    });

    await t.step("archive entries cannot escape the context directory", async () => {
      await assertRejects(
        () => resolveContext(`tar://${evil}`, { workDir: work }),
        ContextError,
        "cannot unpack the archive: ",
      );
      assertEquals(await readdir(work), []);
      // symlinks are resolved inside the context, as if it were "/"
      const ctx = await resolveContext(`tar://${evil2}`, { workDir: work });
      assertEquals((await readdir(ctx.dir)).sort(), ["kiln-escape3.txt", "kiln-escape4.txt", "link", "up"]);
      await ctx.cleanup();
      const outside = (await readdir(tmp)).filter((n) => /escape|abs/.test(n));
      assertEquals(outside, []);
      assertEquals((await readdir("/")).filter((n) => /kiln-escape/.test(n)), []);
    });

    await t.step("bad input gives one clear line and leaves nothing behind", async () => {
      const cases: [string, Record<string, string>, string][] = [
        ["ftp://h/c.tar", {}, 'unknown scheme "ftp://"'],
        [join(tmp, "no-such-dir"), {}, "no such directory"],
        [`tar://${join(files, "missing.tar.gz")}`, {}, "no such file"],
        [`tar://${join(files, "corrupt.tar.gz")}`, {}, "not a valid"],
        [`tar://${join(files, "text.tar.gz")}`, {}, "not a valid"],
        [`tar://${join(files, "truncated.tar.gz")}`, {}, "not a valid"],
        [`${http.url}/missing.tar.gz`, {}, "not found (HTTP 404)"],
        [`${http.url}/private/c.tar.gz`, {}, "access denied (HTTP 401)"],
        [`${http.url}/corrupt.tar.gz`, {}, "not a valid"],
        ["http://127.0.0.1:1/c.tar.gz", {}, "cannot connect"],
        ["s3://bk/missing.tar.gz", s3.env, 'no such object "missing.tar.gz" in bucket "bk"'],
        ["s3://nobucket/c.tar.gz", s3.env, 'no such bucket "nobucket"'],
        ["s3://bk/dir/c.tar.gz", { ...s3.env, AWS_ACCESS_KEY_ID: "WRONG" }, "credentials were rejected"],
        ["s3://bk/corrupt.tar.gz", s3.env, "not a valid"],
        ["gs://gb/missing.tar.gz", gcsEnv, 'no such object "missing.tar.gz" in bucket "gb"'],
        ["gs://nobucket/c.tar.gz", gcsEnv, 'no such bucket "nobucket"'],
        ["gs://gb/corrupt.tar.gz", gcsEnv, "not a valid"],
        [
          "gs://sb/c.tar.gz",
          { STORAGE_EMULATOR_HOST: gcsAuthHost, GOOGLE_APPLICATION_CREDENTIALS: join(tmp, "other.json") },
          "credentials were rejected",
        ],
        [
          "gs://sb/c.tar.gz",
          { STORAGE_EMULATOR_HOST: gcsAuthHost, GOOGLE_APPLICATION_CREDENTIALS: join(tmp, "none.json") },
          "cannot read GOOGLE_APPLICATION_CREDENTIALS file",
        ],
        [`${az.blobEndpoint}/ctr/missing.tar.gz`, azEnv, 'no such blob "missing.tar.gz" in container "ctr"'],
        [`${az.blobEndpoint}/nocontainer/c.tar.gz`, azEnv, 'no such container "nocontainer"'],
        [
          `${az.blobEndpoint}/ctr/dir/c.tar.gz`,
          {
            AZURE_STORAGE_CONNECTION_STRING: az.connectionString.replace(
              /AccountKey=[^;]+/,
              `AccountKey=${btoa("x".repeat(64))}`,
            ),
          },
          "credentials were rejected",
        ],
        [`${az.blobEndpoint}/ctr/corrupt.tar.gz`, azEnv, "not a valid"],
        [`${git.url}/ctx.git#nope`, {}, 'unknown ref "nope"'],
      ];
      for (const [spec, env, msg] of cases) {
        const e = await assertRejects(() => resolveContext(spec, { workDir: work, env }), ContextError, msg);
        assertEquals(e.message.includes("\n"), false, e.message);
        assert(e.message.startsWith("Cannot fetch build context "), e.message);
        assertEquals(e.message.includes("s3cret") || e.message.includes("WRONG"), false);
      }
      assertEquals(await readdir(work), []);
      await assertRejects(() => resolveContext("tar://stdin", { workDir: work }), ContextError, "standard input");
    });
  } finally {
    await Promise.all([s3.close(), az.close(), git.close(), http.close(), gcs.close(), gcsAuth.close()]);
    assertEquals([...gcs.unhandled, ...gcsAuth.unhandled], []);
    await rm(tmp, { recursive: true, force: true });
  }
});
