/**
 * Layer-cache keys: a rolling chain. Each step's key is the sha256 of a framed encoding of the previous key and of
 * canonical JSON of the step's parts (lib/executor/_cache.ts says which parts a step has), so equal inputs give equal
 * keys and any change of an input — however small — changes this key and every later one.
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * JSON with object keys sorted and `undefined` members left out, so that equal values always give equal text.
 *
 * @param value A JSON-like value (objects, arrays, strings, numbers, booleans, null).
 * @returns The canonical text.
 *
 * @example Usage
 * ```ts
 * import { canonicalJson } from "./key.ts";
 * console.assert(canonicalJson({ b: 1, a: [true, undefined] }) === canonicalJson({ a: [true, undefined], b: 1 }));
 * ```
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(",")}]`;
  const keys = Object.keys(value as Record<string, unknown>).filter((k) =>
    (value as Record<string, unknown>)[k] !== undefined
  ).sort();
  return `{${
    keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")
  }}`;
}

/**
 * The next key of the chain: `sha256(len(prev) prev len(parts) parts)` over UTF-8, as 64 hex characters (a valid
 * registry tag).
 *
 * @param prev The previous key ("" for the first).
 * @param parts What the step depends on (canonical JSON is taken).
 * @returns The key.
 *
 * @example Usage
 * ```ts
 * import { chainKey } from "./key.ts";
 * const a = chainKey("", { base: "sha256:00" });
 * console.assert(a.length === 64 && chainKey(a, { run: "x" }) !== chainKey(a, { run: "y" }));
 * ```
 */
export function chainKey(prev: string, parts: unknown): string {
  const h = createHash("sha256");
  for (const s of [prev, canonicalJson(parts)]) {
    const b = new TextEncoder().encode(s);
    h.update(`${b.byteLength}:`);
    h.update(b);
  }
  return h.digest("hex");
}
