// Prints "<passed> <failed>" from a Deno junit report. Skipped (ignored) tests count as neither.
import { readFileSync } from "node:fs";
const xml = readFileSync(process.argv[2], "utf8");
let passed = 0, failed = 0, skipped = 0;
for (const m of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
  const body = m[2] ?? "";
  if (/<failure\b|<error\b/.test(body)) failed++;
  else if (/<skipped\b/.test(body)) skipped++;
  else passed++;
}
console.log(`${passed} ${failed}`);
if (skipped) console.error(`(${skipped} skipped, listed above with their reasons)`);
