/** WORKDIR is cleaned lexically, `..` included (Docker's filepath.Clean), before it is stored or created (issue 15 #6). */
import { assertEquals } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { build } from "../../../lib/executor/mod.ts";
import { join } from "node:path";

Deno.test("build(): WORKDIR /a/b/../c then ../d is /a/d; /.. stays /", async () => {
  const ctx = tempDir("kiln-workdir-clean-");
  const r = await build({
    context: ctx,
    dockerfileText: "FROM scratch\nWORKDIR /a/b/../c\nWORKDIR ../d\n",
    outputs: { noPush: true },
    workDir: join(ctx, ".work"),
  });
  assertEquals(r.config.config?.WorkingDir, "/a/d");
  const root = await build({
    context: ctx,
    dockerfileText: "FROM scratch\nWORKDIR /../..\n",
    outputs: { noPush: true },
    workDir: join(ctx, ".work2"),
  });
  assertEquals(root.config.config?.WorkingDir, "/");
});
