/**
 * The CLI as a real child process on hostile Dockerfiles: values that double on every ARG stop at a one-line
 * `Dockerfile:LINE:` error (not a V8 out-of-memory crash), and a 10 MB heredoc costs about its size in memory.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { assert, assertEquals } from "../assert.ts";
import { kiln } from "./_helpers.ts";
import { tempDir } from "../fixtures/temp.ts";

async function withContext<T>(dockerfile: string, fn: (ctx: string, root: string) => Promise<T>): Promise<T> {
  const root = tempDir("kiln-limits-");
  try {
    const ctx = join(root, "ctx");
    await mkdir(ctx);
    await writeFile(join(ctx, "Dockerfile"), dockerfile);
    return await fn(ctx, root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const doubling = Array(30).fill("ARG a=${a}${a}\n").join("");
for (
  const [name, dockerfile, line] of [
    ["in a stage", "FROM scratch\nARG a=0123456789abcdef\n" + doubling + "LABEL x=$a\n", 19],
    ["before FROM (global)", "ARG a=0123456789abcdef\n" + doubling + "FROM scratch\n", 18],
    ["through ENV", "FROM scratch\nENV a=0123456789abcdef\n" + doubling.replaceAll("ARG", "ENV"), 19],
  ] as const
) {
  Deno.test(`kiln build: ARG a=\${a}\${a} thirty times ${name} fails at 1 MiB with Dockerfile:LINE`, async () => {
    await withContext(dockerfile, async (ctx, root) => {
      const work = join(root, "work");
      const r = await kiln(["build", "--no-push", "--tar-path", join(root, "i.tar"), "-c", ctx, "--work-dir", work])
        .done;
      assertEquals(r.code, 1, r.stderr);
      const lines = r.stderr.trimEnd().split("\n");
      // 16 B doubled 16 times is 1 MiB: the 17th doubling is refused.
      assertEquals(
        lines.at(-1),
        `Dockerfile:${line}: failed to process "\${a}\${a}": the expanded value is larger than 1 MiB, the most substitutions may add to a word`,
      );
      assert(!r.stderr.includes("internal error") && !r.stderr.includes("    at "), r.stderr);
      assertEquals(existsSync(work) ? await readdir(work) : [], []);
    });
  });
}

/** Peak RSS in kB of a `kiln build` of `dockerfile` (GNU time's %M, the last stderr line). */
async function peakRss(dockerfile: string): Promise<number> {
  return await withContext(dockerfile, async (ctx, root) => {
    const r = await kiln(["build", "--no-push", "--tar-path", join(root, "i.tar"), "-c", ctx, "-v", "warn"], {
      wrap: ["/usr/bin/time", "-f", "%M"],
    }).done;
    assertEquals(r.code, 0, r.stderr);
    assert(existsSync(join(root, "i.tar")));
    const kb = Number(r.stderr.trimEnd().split("\n").at(-1));
    assert(kb > 0, r.stderr);
    return kb;
  });
}

Deno.test({
  name: "kiln build: a 10 MB COPY heredoc with variables costs about its size in memory, not 80 times it",
  ignore: !existsSync("/usr/bin/time"),
  async fn() {
    const line = "The quick brown fox jumps over the lazy dog, $NAME says, 0123456789\n";
    const heredoc = (n: number) => `FROM scratch\nARG NAME=kiln\nCOPY <<EOF /big.txt\n${line.repeat(n)}EOF\n`;
    const small = await peakRss(heredoc(10));
    const big = await peakRss(heredoc(Math.ceil(10 * 1024 * 1024 / line.length)));
    console.error(`peak RSS: 1-line heredoc ${small} kB, 10 MB heredoc ${big} kB`);
    // Measured: 67 MB → 161 MB, most of it V8's young generation (before: 67 MB → 780 MB, a rope of one string
    // per character, a second one for word splitting, and the body's lines joined again).
    assert(big - small < 130 * 1024, `peak RSS ${small} kB → ${big} kB for a 10 MB heredoc`);
  },
});
