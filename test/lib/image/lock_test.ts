/**
 * The layout lock (lib/image/_lock.ts) under contention: many critical sections in one process and in several
 * processes never overlap and lose no update; stale locks (dead holder, too old) are broken, a live holder's never.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { withLock } from "../../../lib/image/_lock.ts";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";

const LOCK_MODULE = new URL("../../../lib/image/_lock.ts", import.meta.url).href;

/** A read-modify-write of the counter file with awaits between the read and the write. */
async function increment(counter: string): Promise<void> {
  const n = Number(await readFile(counter, "utf8"));
  await new Promise((r) => setTimeout(r, Math.random() * 2));
  await writeFile(counter, String(n + 1));
}

Deno.test("withLock(): 60 concurrent read-modify-writes in one process neither overlap nor lose an update", async () => {
  const dir = tempDir("kiln-lock-");
  const counter = join(dir, "n");
  await writeFile(counter, "0");
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 60 }, () =>
      withLock(join(dir, "index.json.lock"), async () => {
        most = Math.max(most, ++inside);
        await increment(counter);
        inside--;
      })),
  );
  assertEquals(most, 1);
  assertEquals(await readFile(counter, "utf8"), "60");
});

Deno.test("withLock(): 4 processes × 25 read-modify-writes lose no update", async () => {
  const dir = tempDir("kiln-lock-");
  const counter = join(dir, "n");
  await writeFile(counter, "0");
  const script = `
    import { withLock } from ${JSON.stringify(LOCK_MODULE)};
    import { readFile, writeFile } from "node:fs/promises";
    const [lock, counter] = Deno.args;
    await Promise.all(Array.from({ length: 25 }, () => withLock(lock, async () => {
      const n = Number(await readFile(counter, "utf8"));
      await new Promise((r) => setTimeout(r, Math.random() * 2));
      await writeFile(counter, String(n + 1));
    })));`;
  const procs = Array.from({ length: 4 }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-check", script, join(dir, "index.json.lock"), counter],
      stdout: "inherit",
      stderr: "inherit",
    }).output());
  for (const p of await Promise.all(procs)) assert(p.success);
  assertEquals(await readFile(counter, "utf8"), "100");
});

Deno.test("withLock(): a dead holder's or a too old lock is broken; a live holder's is waited for", async () => {
  const dir = tempDir("kiln-lock-");
  const lock = join(dir, "l");
  // A process that has exited: its lock is stale at once.
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  await writeFile(lock, JSON.stringify({ pid: dead.pid, host: Deno.hostname(), token: "x" }));
  assertEquals(await withLock(lock, () => Promise.resolve("taken")), "taken");
  // Another live process's lock is waited for until the signal gives up.
  const live = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    await writeFile(lock, JSON.stringify({ pid: live.pid, host: Deno.hostname(), token: "y" }));
    await assertRejects(() => withLock(lock, () => Promise.resolve(), { signal: AbortSignal.timeout(200) }));
    assertEquals(JSON.parse(await readFile(lock, "utf8")).token, "y", "a live holder's lock stays");
    // The same lock older than staleMs is broken.
    await new Promise((r) => setTimeout(r, 60));
    assertEquals(await withLock(lock, () => Promise.resolve("taken"), { staleMs: 50 }), "taken");
  } finally {
    live.kill();
    await live.status;
  }
});
