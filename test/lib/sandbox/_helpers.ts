/**
 * Shared setup for the sandbox tests: the kiln-run helper, busybox rootfs fixtures, tree snapshots.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { DEFAULT_HELPER_PATH } from "../../../lib/sandbox/mod.ts";
import { hasBusybox, makeBusyboxRootfs } from "../../fixtures/busybox_rootfs.ts";
import { isRoot, REPO_ROOT } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";

/** Builds the helper if it is missing (needs cc); returns whether it exists. */
export function ensureHelper(): boolean {
  const dir = `${REPO_ROOT}/native/helper`;
  const newest = Math.max(
    ...readdirSync(dir).filter((n) => /\.[ch]$/.test(n)).map((n) => statSync(`${dir}/${n}`).mtimeMs),
  );
  const stale = !existsSync(DEFAULT_HELPER_PATH) || newest > statSync(DEFAULT_HELPER_PATH).mtimeMs;
  if (stale) spawnSync("sh", [`${REPO_ROOT}/native/helper/build.sh`], { stdio: "ignore" });
  return existsSync(DEFAULT_HELPER_PATH);
}

/** Why sandbox tests cannot run here, or undefined. */
export function sandboxSkipReason(): string | undefined {
  if (!isRoot()) return "not root";
  if (!hasBusybox()) return "no /bin/busybox (busybox-static)";
  if (!ensureHelper()) return "kiln-run helper not built (no C compiler)";
  return undefined;
}

/** A temp dir holding a busybox rootfs (`root`) and a scratch dir (`work`); dispose() removes both. */
export interface Fixture {
  dir: string;
  root: string;
  work: string;
  dispose(): Promise<void>;
}

/** Creates a {@linkcode Fixture} (in a temp dir of test/fixtures/temp.ts: removed after the test at the latest). */
export function makeFixture(): Promise<Fixture> {
  const dir = tempDir("kiln-sandbox-test-");
  const root = makeBusyboxRootfs(`${dir}/rootfs`);
  const work = `${dir}/work`;
  return Promise.resolve({ dir, root, work, dispose: () => rm(dir, { recursive: true, force: true }) });
}

/** Every path under `root` with its type, mode, owner, size, mtime and link target. */
export function treeState(root: string): Map<string, string> {
  const out = new Map<string, string>();
  function walk(rel: string): void {
    const p = root + rel;
    const st = lstatSync(p, { bigint: true });
    const link = st.isSymbolicLink() ? readlinkSync(p) : "";
    out.set(rel || "/", `${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeNs}:${link}`);
    if (st.isDirectory()) { for (const name of readdirSync(p).sort()) walk(`${rel}/${name}`); }
  }
  walk("");
  return out;
}

/** Paths added, removed or changed between two {@linkcode treeState}s. */
export function treeDiff(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) out.push(k);
  for (const k of before.keys()) if (!after.has(k)) out.push(`-${k}`);
  return out.sort();
}

/** PIDs of host processes whose root directory is `root`. */
export function processesRootedAt(root: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/root`) === root) out.push(Number(name));
    } catch {
      // gone or not ours to see
    }
  }
  return out;
}
