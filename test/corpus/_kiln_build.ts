/**
 * Builds one corpus case with kiln's library `build()` (used by test/lib/corpus_test.ts when the `kiln build` CLI
 * is not there). Usage: `deno run -A test/corpus/_kiln_build.ts '<BuildOptions JSON>'`; prints the digest.
 *
 * @module
 */
import { build } from "../../lib/build/build.ts";
import type { BuildOptions } from "../../lib/build/types.ts";

const options = JSON.parse(Deno.args[0] ?? "{}") as BuildOptions;
try {
  const r = await build(options);
  console.log(r.digest);
} catch (e) {
  console.error((e as Error).message);
  Deno.exit(1);
}
