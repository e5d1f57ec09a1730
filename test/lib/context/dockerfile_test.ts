import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { assertEquals, assertRejects } from "../../assert.ts";
import { resolveDockerfile } from "../../../lib/context/mod.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { tempDir } from "../../fixtures/temp.ts";

Deno.test("resolveDockerfile() finds Dockerfiles relative to the context, absolute, in cwd, or by URL", async () => {
  const tmp = tempDir("kiln-df-");
  const ctx = join(tmp, "ctx");
  const cwd = join(tmp, "cwd");
  const work = join(tmp, "work");
  await mkdir(join(ctx, "docker"), { recursive: true });
  await mkdir(cwd);
  await writeFile(join(ctx, "Dockerfile"), "FROM scratch\n");
  await writeFile(join(ctx, ".dockerignore"), "*.tmp\n");
  await writeFile(join(ctx, "docker/prod.Dockerfile"), "FROM scratch\n");
  await writeFile(join(ctx, "docker/prod.Dockerfile.dockerignore"), "secret\n");
  await writeFile(join(cwd, "Local.Dockerfile"), "FROM scratch\n");
  const server = createServer((req, res) => {
    if (req.url === "/Dockerfile") res.writeHead(200).end("FROM scratch\nLABEL from=url\n");
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    let df = await resolveDockerfile("Dockerfile", ctx, { workDir: work });
    assertEquals([df.path, df.ignoreFile], [join(ctx, "Dockerfile"), join(ctx, ".dockerignore")]);
    df = await resolveDockerfile("docker/prod.Dockerfile", ctx, { workDir: work });
    assertEquals(df.ignoreFile, join(ctx, "docker/prod.Dockerfile.dockerignore"));
    df = await resolveDockerfile(join(ctx, "docker/prod.Dockerfile"), "/nonexistent", { workDir: work });
    assertEquals([df.path, df.ignoreFile], [
      join(ctx, "docker/prod.Dockerfile"),
      join(ctx, "docker/prod.Dockerfile.dockerignore"),
    ]);
    df = await resolveDockerfile("Local.Dockerfile", ctx, { workDir: work, cwd });
    assertEquals([df.path, df.ignoreFile], [join(cwd, "Local.Dockerfile"), join(ctx, ".dockerignore")]);
    df = await resolveDockerfile(`${base}/Dockerfile`, ctx, { workDir: work });
    assertEquals(await readFile(df.path, "utf8"), "FROM scratch\nLABEL from=url\n");
    assertEquals(df.ignoreFile, join(ctx, ".dockerignore"));
    await df.cleanup();
    assertEquals(await readdir(work), []);
    const e = await assertRejects(
      () => resolveDockerfile("Nope", ctx, { workDir: work }),
      KilnError,
      "Cannot find Dockerfile",
    );
    assertEquals(e.exitCode, 2);
    await assertRejects(
      () => resolveDockerfile(`${base}/missing`, ctx, { workDir: work }),
      KilnError,
      "Cannot download Dockerfile",
    );
    assertEquals(await readdir(work), []);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(tmp, { recursive: true, force: true });
  }
});
