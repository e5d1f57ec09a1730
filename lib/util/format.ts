/**
 * Human-readable quantities for log lines.
 *
 * @module
 */

/**
 * A byte count as log lines show it (1024-based, one decimal): `512 B`, `27.7 kB`, `64.0 MB`, `2.00 GB`.
 *
 * @param n Bytes.
 * @returns The text.
 *
 * @example Usage
 * ```ts
 * import { formatBytes } from "./format.ts";
 * console.assert(formatBytes(28334) === "27.7 kB");
 * ```
 */
export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}
