import { existsSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { ContextError, resolveContext } from "../../../lib/context/mod.ts";
import { createLogger } from "../../../lib/util/logger.ts";
import { AbortedError } from "../../../lib/util/errors.ts";
import { tempDir } from "../../fixtures/temp.ts";

/** A server that sends the gzip magic and a bit more, then stalls until closed. */
async function stallingServer() {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-length": "1000000" });
    res.write(new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

Deno.test("resolveContext() stops a download when aborted and removes it", async () => {
  const tmp = tempDir("kiln-ctxabort-");
  const srv = await stallingServer();
  try {
    const ac = new AbortController();
    const lines: string[] = [];
    let t = 0;
    const p = resolveContext(`${srv.url}/c.tar.gz`, {
      workDir: tmp,
      signal: ac.signal,
      logger: createLogger({ write: (l) => lines.push(l) }),
      now: () => (t += 6000),
      onProgress: () => setTimeout(() => ac.abort(new Error("stop")), 50),
    });
    const e = await assertRejects(() => p, AbortedError, "was aborted");
    assert(!(e instanceof ContextError), "an abort is not reported as a context error");
    assertEquals(await readdir(tmp), []);
    assert(lines.some((l) => l.startsWith("INFO Downloading build context")), lines.join("\n"));
  } finally {
    await srv.close();
    await rm(tmp, { recursive: true, force: true });
  }
});

Deno.test("resolveContext() leaves a local directory in place and checks the sub-path", async () => {
  const tmp = tempDir("kiln-ctxlocal-");
  try {
    await Deno.mkdir(join(tmp, "ctx/sub"), { recursive: true });
    await Deno.symlink("/", join(tmp, "ctx/escape"));
    const ctx = await resolveContext("ctx", { workDir: join(tmp, "work"), cwd: tmp, subPath: "sub" });
    assertEquals([ctx.dir, ctx.fetched], [join(tmp, "ctx/sub"), false]);
    await ctx.cleanup();
    assert(existsSync(join(tmp, "ctx/sub")));
    await assertRejects(
      () => resolveContext(join(tmp, "ctx"), { workDir: join(tmp, "work"), subPath: "escape" }),
      ContextError,
      "leads outside the context",
    );
    await assertRejects(
      () => resolveContext(`dir://${tmp}/ctx/sub/nope`, { workDir: join(tmp, "work") }),
      ContextError,
      "no such directory",
    );
    assertEquals(existsSync(join(tmp, "work")), false);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
