/**
 * placeMountsInPlace(), `RUN --mount` without mount privileges, on a temp root: every source lands at its target for
 * the step and afterwards the root is exactly as before — the original target back, created parents gone, the
 * parent's times restored to the nanosecond (with the real helper) — while a cache keeps what the step wrote and a
 * read-only source is never changed.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";
import { REPO_ROOT } from "../../fixtures/tools.ts";
import { placeMountsInPlace } from "../../../lib/executor/mounts/in_place.ts";
import { KilnError } from "../../../lib/util/errors.ts";

const HELPER = join(REPO_ROOT, "native/helper/build/kiln-run");
const setTimes = (p: string, a: bigint, m: bigint) =>
  Promise.resolve(spawnSync(HELPER, ["--set-times", p, String(a), String(m)]).status === 0);
const getTimes = (p: string) => {
  const [a, m] = spawnSync(HELPER, ["--get-times", p], { encoding: "utf8" }).stdout.trim().split(" ");
  return Promise.resolve(a && m ? { atimeNs: BigInt(a), mtimeNs: BigInt(m) } : undefined);
};

Deno.test({
  name: "placeMountsInPlace() puts sources in place and everything back exactly",
  ignore: !existsSync(HELPER),
  async fn() {
    const t = tempDir("kiln-inplace-");
    const root = join(t, "root"), work = join(t, "work");
    mkdirSync(join(root, "var/cache/app"), { recursive: true });
    writeFileSync(join(root, "var/cache/app/original"), "the image's\n");
    mkdirSync(join(work, "cache"), { recursive: true });
    writeFileSync(join(work, "cache/kept"), "from an earlier build\n");
    mkdirSync(join(t, "ctx"));
    writeFileSync(join(t, "ctx/hello"), "context\n");
    const before = (await getTimes(join(root, "var/cache")))!;
    const placed = await placeMountsInPlace([
      { type: "bind", source: join(work, "cache"), target: "/var/cache/app" },
      { type: "bind", source: join(t, "ctx"), target: "/new/deep/ctx", readonly: true },
      { type: "tmpfs", target: "/scratch" },
    ], { root, stashDir: join(work, "stash"), setTimes, getTimes, location: "Dockerfile:3" });
    // The step's view.
    assertEquals(readFileSync(join(root, "var/cache/app/kept"), "utf8"), "from an earlier build\n");
    assert(!existsSync(join(root, "var/cache/app/original")), "the target's own content is moved aside");
    assertEquals(readFileSync(join(root, "new/deep/ctx/hello"), "utf8"), "context\n");
    assert(lstatSync(join(root, "scratch")).isDirectory());
    // The step writes everywhere.
    writeFileSync(join(root, "var/cache/app/new"), "written by the step\n");
    writeFileSync(join(root, "new/deep/ctx/hello"), "changed\n");
    writeFileSync(join(root, "scratch/t"), "t\n");
    await placed.restore();
    assertEquals(readFileSync(join(root, "var/cache/app/original"), "utf8"), "the image's\n");
    assert(
      !existsSync(join(root, "var/cache/app/kept")) && !existsSync(join(root, "new")) &&
        !existsSync(join(root, "scratch")),
    );
    assertEquals(readFileSync(join(work, "cache/new"), "utf8"), "written by the step\n", "the cache keeps it");
    assertEquals(readFileSync(join(t, "ctx/hello"), "utf8"), "context\n", "a read-only source is never changed");
    const after = (await getTimes(join(root, "var/cache")))!;
    assertEquals(after.mtimeNs, before.mtimeNs);
    assert(placed.restoredDirs.includes("var/cache"), placed.restoredDirs.join());
  },
});

Deno.test("placeMountsInPlace() refuses the root as a target and leaves nothing behind", async () => {
  const t = tempDir("kiln-inplace-bad-");
  const root = join(t, "root");
  mkdirSync(join(root, "keep"), { recursive: true });
  await assertRejects(
    () =>
      placeMountsInPlace([{ type: "tmpfs", target: "/a" }, { type: "tmpfs", target: "/" }], {
        root,
        stashDir: join(t, "stash"),
        setTimes: () => Promise.resolve(true),
        getTimes: () => Promise.resolve(undefined),
        location: "Dockerfile:2",
      }),
    KilnError,
    "Dockerfile:2: RUN --mount target /: cannot mount over the root",
  );
  assert(!existsSync(join(root, "a")), "the first mount was undone");
  assert(existsSync(join(root, "keep")));
});
