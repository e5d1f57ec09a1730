/** build() with its work dir inside the context: `COPY .` copies the context, not the build's own rootfs. */
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { assertEquals } from "../../assert.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { buildToLayout, leftovers, makeContext, unpackLayout } from "./_helpers.ts";

Deno.test({
  name: "build() with --work-dir inside the context leaves the work dir out of COPY .",
  ignore: skipUnless("work dir in context", "umoci", "python3"),
  async fn() {
    const ctx = makeContext({ "src/main.c": "int main(){}\n", ".work/": "" });
    const work = join(ctx, ".work");
    const cleanups = [ctx];
    try {
      const { layout } = await buildToLayout(ctx, "FROM scratch\nCOPY . /c/\n", { workDir: work });
      cleanups.push(dirname(layout));
      const { files, rootfs } = unpackLayout(layout);
      cleanups.push(dirname(rootfs));
      assertEquals(Object.keys(files).sort(), ["/c", "/c/src", "/c/src/main.c"]);
      assertEquals(leftovers(work), []);
    } finally {
      for (const d of cleanups) rmSync(d, { recursive: true, force: true });
    }
  },
});
