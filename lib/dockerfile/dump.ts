/**
 * BuildKit's AST dump (`Node.Dump()`), the format of BuildKit's parser `result` files.
 *
 * @module
 */
import type { Node, ParseResult } from "./ast.ts";
import { goQuote, goTrimSpace } from "./_go.ts";

/**
 * Dumps one node as BuildKit does, without the outer parentheses: `run ["--mount=..."] "echo hi"`.
 *
 * @param node A node.
 * @returns The dump.
 */
export function dumpNode(node: Node): string {
  // Iterative, so a long `ONBUILD ONBUILD ...` chain cannot overflow the stack.
  const chain: Node[] = [];
  for (let n: Node | undefined = node; n; n = n.child) chain.push(n);
  let inner = "";
  for (let i = chain.length - 1; i >= 0; i--) {
    const n = chain[i]!;
    let s = n.keyword;
    if (n.flags.length > 0) s += " [" + n.flags.map(goQuote).join(" ") + "]";
    if (n.child) s += " (" + inner + ")";
    for (const a of n.args) s += " " + goQuote(a);
    // Go trims each level; only an empty keyword can leave a leading space (trimming a long rope flattens it).
    inner = n.keyword === "" ? goTrimSpace(s) : s;
  }
  return inner;
}

/**
 * Dumps a parse result in the exact format of BuildKit's `result` files: one `(instr)` line per instruction,
 * Go-quoted strings, ending with a newline.
 *
 * @param result A parse result.
 * @returns The dump text.
 *
 * @example Usage
 * ```ts
 * import { dumpBuildkit } from "./dump.ts";
 * import { parseDockerfile } from "./parser.ts";
 * const text = dumpBuildkit(parseDockerfile('FROM scratch\nCMD ["a", "b"]\n'));
 * console.assert(text === '(from "scratch")\n(cmd "a" "b")\n');
 * ```
 */
export function dumpBuildkit(result: ParseResult): string {
  return result.nodes.map((n) => "(" + dumpNode(n) + ")").join("\n").trim() + "\n";
}
