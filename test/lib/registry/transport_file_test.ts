import { createHash } from "node:crypto";
import http from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultTransport, type FileBody } from "../../../lib/registry/transport.ts";
import { assertEquals } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";

Deno.test("a FileBody from an offset to the end is sent whole by the fetch and node:http transports", async () => {
  const dir = tempDir("kiln-filebody-");
  const data = new Uint8Array(2_500_000).map((_, i) => (i * 7) % 256);
  writeFileSync(join(dir, "blob"), data);
  const srv = http.createServer((req, res) => {
    const h = createHash("sha256");
    let n = 0;
    req.on("data", (c: Uint8Array) => {
      h.update(c);
      n += c.length;
    });
    req.on("end", () => res.end(`${n} ${h.digest("hex")}`));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/`;
  try {
    for (const tls of [{}, { insecureSkipVerify: true }]) {
      const t = defaultTransport(tls);
      for (const start of [0, 1000, 2_499_999]) {
        const body: FileBody = { file: join(dir, "blob"), start, length: data.length - start };
        const headers = new Headers({ "content-length": String(body.length) });
        const res = await t.send({ method: "PUT", url, headers, body });
        const want = `${body.length} ${createHash("sha256").update(data.subarray(start)).digest("hex")}`;
        assertEquals(await res.text(), want, `${JSON.stringify(tls)} from ${start}`);
      }
      t.close();
    }
  } finally {
    await new Promise((r) => srv.close(r));
  }
});
