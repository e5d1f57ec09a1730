/**
 * A RUN that changes nothing adds no layer (issue 15 #5): on a base with /etc but no /etc/hosts or /etc/resolv.conf,
 * the sandbox's mount points for them change /etc's entries, and the times it restores must be exact (Deno's
 * node:fs stats round to milliseconds; the helper reads and writes nanoseconds) and its ctime disregarded.
 */
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertEquals } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { build } from "../../../lib/executor/mod.ts";
import { sandboxSkipReason } from "../sandbox/_helpers.ts";

Deno.test({
  name: "build(): a no-op RUN on a base with /etc but no /etc/hosts adds no layer",
  ignore: sandboxSkipReason() !== undefined,
  async fn() {
    const ctx = tempDir("kiln-noop-run-");
    copyFileSync("/bin/busybox", join(ctx, "busybox"));
    mkdirSync(join(ctx, "etc"));
    writeFileSync(join(ctx, "etc", "motd"), "hi\n");
    const r = await build({
      context: ctx,
      dockerfileText: 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc /etc\nRUN ["/bin/busybox", "true"]\n' +
        'RUN ["/bin/busybox", "sh", "-c", "cat /etc/hosts > /dev/null"]\n',
      outputs: { noPush: true },
      workDir: join(ctx, ".work"),
    });
    assertEquals(r.manifest.layers.length, 2, "the two COPYs; neither RUN adds a layer");
  },
});
