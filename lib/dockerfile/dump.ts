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
  let s = node.keyword;
  if (node.flags.length > 0) s += " [" + node.flags.map(goQuote).join(" ") + "]";
  if (node.child) s += " (" + dumpNode(node.child) + ")";
  for (const a of node.args) s += " " + goQuote(a);
  return goTrimSpace(s);
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
