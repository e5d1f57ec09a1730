/**
 * Registries where fetch would fail for reasons a user cannot guess: a port the fetch standard blocks (6000, 6665–6669,
 * 10080 …: Deno's fetch refuses them, kiln goes through node:http), and a plain-HTTP registry addressed without
 * --insecure-registry (the error names the flag, at once, without retries).
 */
import net from "node:net";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { startRegistry } from "../../fixtures/registry.ts";
import { appendLayers, emptyImage } from "../../../lib/image/mod.ts";
import { pushImage, RegistryError, remoteImage } from "../../../lib/registry/mod.ts";
import { randomLayer } from "../image/_helpers.ts";

const ignore = skipUnless("registry port and hint tests", "docker-registry");

/** A TCP forwarder from the first free blocked port to `target` (host:port). */
async function forwardFromBlockedPort(target: string): Promise<{ port: number; close(): Promise<void> }> {
  const [host, port] = [target.split(":")[0]!, Number(target.split(":")[1])];
  for (const p of [6666, 6667, 6668, 6669, 6665, 10080, 6000]) {
    const open = new Set<net.Socket>();
    const srv = net.createServer((sock) => {
      const up = net.connect(port, host);
      open.add(sock).add(up);
      sock.pipe(up).pipe(sock);
      const end = () => {
        sock.destroy();
        up.destroy();
      };
      sock.on("error", end);
      up.on("error", end);
    });
    const ok = await new Promise<boolean>((resolve) => {
      srv.once("error", () => resolve(false));
      srv.listen(p, "127.0.0.1", () => resolve(true));
    });
    if (ok) {
      return {
        port: p,
        close: () =>
          new Promise<void>((r) => {
            srv.close(() => r());
            for (const s of open) s.destroy(); // keep-alive connections of clients still holding them
          }),
      };
    }
  }
  throw new Error("no blocked port is free on this machine");
}

Deno.test({
  name: "a registry on a port fetch blocks (6666, 10080 …) is pushed to and pulled from",
  ignore,
  sanitizeResources: false,
  async fn() {
    const reg = await startRegistry();
    const fwd = await forwardFromBlockedPort(reg.host);
    try {
      const host = `127.0.0.1:${fwd.port}`;
      const img = appendLayers(emptyImage(), [randomLayer(300_000)]);
      const opts = { insecureRegistries: [host] };
      const r = await pushImage([`${host}/ports/app:1`], img, opts);
      assertEquals(r.descriptor.digest, await img.digest());
      const back = await remoteImage(`${host}/ports/app:1`, opts);
      assertEquals(await back.digest(), await img.digest());
      const [layer] = await back.layers();
      await (await layer!.compressed()).pipeTo(new WritableStream());
    } finally {
      await fwd.close();
      await reg.stop();
    }
  },
});

Deno.test({
  name: "a plain-HTTP registry addressed as HTTPS: the error names --insecure-registry HOST, without retrying",
  ignore,
  async fn() {
    const reg = await startRegistry();
    try {
      const t0 = performance.now();
      const e = await assertRejects(() => remoteImage(`${reg.host}/x/y:1`, { retryBaseDelayMs: 1000 }), RegistryError);
      assertStringIncludes(e.message, `plain HTTP`);
      assertStringIncludes(e.message, `--insecure-registry ${reg.host}`);
      assertEquals(e.message.split("\n").length, 1);
      assert(performance.now() - t0 < 2500, `took ${performance.now() - t0} ms: it retried`);
      const push = await assertRejects(
        () => pushImage([`${reg.host}/x/y:1`], appendLayers(emptyImage(), [randomLayer(10)])),
        RegistryError,
      );
      assertStringIncludes(push.message, `--insecure-registry ${reg.host} (or --insecure)`);
    } finally {
      await reg.stop();
    }
  },
});
