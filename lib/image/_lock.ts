/**
 * Private: an exclusive lock file, for read-modify-write updates several processes may make at once (an OCI
 * layout's index.json). Portable (no flock: kiln also runs compiled by bun, and on NFS):
 *
 * - Taking it is `open(LOCK, O_CREAT|O_EXCL)`, then writing `{pid, host, token}` into it; releasing removes it,
 *   only if it still holds our token.
 * - A lock is stale when its holder is a dead process on this host, or when it is older than `staleMs` (default
 *   60 s; it is held for milliseconds, and the age bound also covers other hosts and reused pids, e.g. a lock left
 *   by a killed kiln that had the pid this one has). An empty lock (its holder died between creating and writing
 *   it) is judged by age alone.
 * - A stale lock is broken under a second lock, `LOCK.break` (held for microseconds, itself stale after 10 s):
 *   the breaker judges the lock again and removes it only if it is still stale, so two breakers never remove a
 *   fresh lock one of them let a third process take. Then it retries taking the lock. A lock that vanished between
 *   the failed create and the judging is never stale (it was released; removing "it" would remove the fresh lock a
 *   third process took meanwhile): the taker just tries again.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { open, readFile, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import process from "node:process";
import { AbortedError, isProcessAlive } from "../util/mod.ts";

/** Options for {@linkcode withLock}. */
export interface LockOptions {
  /** Age after which a lock is stale whoever holds it (ms, default 60 000). */
  staleMs?: number;
  /** Cancels waiting. */
  signal?: AbortSignal;
}

interface Holder {
  pid: number;
  host: string;
  token: string;
}

/** Creates `path` exclusively with `content`; false if it exists. */
async function create(path: string, content: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, "wx", 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
  try {
    await fh.writeFile(content);
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(path, { force: true });
    throw e;
  }
  return true;
}

/**
 * The state of the lock at `path`: gone (released meanwhile: take it again), held, or stale. A lock that vanished is
 * never "stale": a breaker that removed it would remove the fresh lock another process may have taken since.
 */
async function lockState(path: string, staleMs: number): Promise<"gone" | "held" | "stale"> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return "gone";
  if (Date.now() - st.mtimeMs > staleMs) return "stale";
  let holder: Holder | undefined;
  try {
    holder = JSON.parse(await readFile(path, "utf8")) as Holder;
  } catch {
    // Being written, or its writer died: the age decides. (Gone since the stat: take it again.)
    return await stat(path).then(() => "held" as const, () => "gone" as const);
  }
  if (holder.host !== hostname()) return "held";
  // Our own pid is alive: another write of this process (a lock left by a dead process that had our pid is
  // broken by age).
  return holder.pid !== process.pid && !isProcessAlive(holder.pid) ? "stale" : "held";
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(new AbortedError());
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `fn` holding the exclusive lock file `path` (see the module doc), waiting for other holders.
 *
 * @param path The lock file (its directory must exist).
 * @param fn The critical section.
 * @param options Staleness age, signal.
 * @returns What `fn` returns.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const staleMs = options.staleMs ?? 60_000;
  const token = randomUUID();
  const content = JSON.stringify({ pid: process.pid, host: hostname(), token } satisfies Holder);
  let wait = 5;
  for (;;) {
    if (options.signal?.aborted) throw new AbortedError();
    if (await create(path, content)) break;
    const state = await lockState(path, staleMs);
    if (state === "stale") await breakStale(path, staleMs);
    else if (state === "held") {
      await sleep(wait, options.signal);
      wait = Math.min(wait * 2, 100);
    }
  }
  try {
    return await fn();
  } finally {
    const now = await readFile(path, "utf8").catch(() => "");
    if (now === content) await rm(path, { force: true });
  }
}

/** Removes the stale lock `path`, serialised with other breakers by `path.break`. */
async function breakStale(path: string, staleMs: number): Promise<void> {
  const brk = `${path}.break`;
  const content = JSON.stringify({ pid: process.pid, host: hostname(), token: randomUUID() } satisfies Holder);
  if (!(await create(brk, content))) {
    // Another breaker is at it; its own lock is stale only if it died there.
    const st = await stat(brk).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > 10_000) await rm(brk, { force: true });
    await sleep(5);
    return;
  }
  try {
    if (await lockState(path, staleMs) === "stale") await rm(path, { force: true });
  } finally {
    await rm(brk, { force: true });
  }
}
