/** WORKDIR is cleaned lexically, `..` included (Docker's filepath.Clean), before it is stored or created (issue 15 #6). */
import { spawnSync } from "node:child_process";
import { symlinkSync, writeFileSync } from "node:fs";
import { assertEquals, assertRejects } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { KilnError } from "../../../lib/util/mod.ts";
import { buildToLayout, unpackLayout } from "./_helpers.ts";
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

Deno.test({
  name: "build(): WORKDIR through a dangling symlink creates its target inside the rootfs (BuildKit)",
  ignore: skipUnless("WORKDIR through a dangling symlink", "umoci", "tar"),
  async fn() {
    const ctx = tempDir("kiln-workdir-link-");
    const links = tempDir("kiln-workdir-links-");
    symlinkSync("/target/deep", join(links, "w"));
    symlinkSync("../rel/x", join(links, "r"));
    // dangling links from a local archive (COPY of a dangling context symlink is refused as a missing source)
    spawnSync("tar", ["-cf", join(ctx, "links.tar"), "-C", links, "w", "r"]);
    writeFileSync(join(ctx, "f"), "f\n");
    const built = await buildToLayout(
      ctx,
      "FROM scratch\nADD links.tar /\nWORKDIR /w\nCOPY f .\nWORKDIR /r/sub\nCOPY f .\n",
    );
    assertEquals(built.result.config.config?.WorkingDir, "/r/sub");
    const { files } = unpackLayout(built.layout);
    assertEquals([files["/w"]?.type, files["/target/deep"]?.type, files["/target/deep/f"]?.type], ["l", "d", "f"]);
    assertEquals([files["/rel/x/sub"]?.type, files["/rel/x/sub/f"]?.type], ["d", "f"]);
    // a component that is a file: one line naming the image path, never a host path
    const e = await assertRejects(() => buildToLayout(ctx, "FROM scratch\nCOPY f /f\nWORKDIR /f/x\n"), KilnError);
    assertEquals(e.message, "Dockerfile:3: Cannot create directory /f/x in the rootfs: /f is not a directory");
  },
});
