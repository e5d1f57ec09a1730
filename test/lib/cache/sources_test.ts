/** hashSources(): what a COPY's cache key sees of its sources — framed, so that moving a `/` between names changes it. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { hashSources } from "../../../lib/cache/mod.ts";

function tree(files: Record<string, string>): string {
  const root = tempDir("kiln-sources-");
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(root, p, ".."), { recursive: true });
    writeFileSync(join(root, p), content);
  }
  return root;
}

Deno.test("hashSources() tells a/bc from ab/c and a file's content from its neighbour's", async () => {
  const h = (files: Record<string, string>) => hashSources(tree(files), ["."], {});
  const abc = await h({ "a/bc": "x" });
  assert(abc !== await h({ "ab/c": "x" }), "a/bc and ab/c must differ");
  assertEquals(abc, await h({ "a/bc": "x" }), "the same tree hashes the same");
  assert(await h({ f: "ab", g: "c" }) !== await h({ f: "a", g: "bc" }), "contents are framed too");
});
