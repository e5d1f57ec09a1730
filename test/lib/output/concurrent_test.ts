/**
 * Concurrent writers (separate processes) of one OCI layout and one digest file, and a SIGTERM during the first
 * write of a layout (issue 11, defect 4).
 */
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { assert, assertEquals } from "../../assert.ts";
import { layoutImage, REF_NAME_ANNOTATION } from "../../../lib/image/mod.ts";
import { REPO_ROOT } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";

const DENO = join(REPO_ROOT, "node_modules/.bin/deno");
const WRITER = join(REPO_ROOT, "test/lib/output/_writer.ts");

interface Child {
  code: Promise<number>;
  out: () => string;
  kill(sig: Deno.Signal): void;
  started: Promise<void>;
}

/** Runs test/lib/output/_writer.ts (Deno.Command: node:child_process reports no exit code after kill()). */
function writer(args: string[]): Child {
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", "--cached-only", WRITER, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let onStart = () => {};
  const started = new Promise<void>((r) => (onStart = r));
  const read = async (s: ReadableStream<Uint8Array>) => {
    for await (const d of s.pipeThrough(new TextDecoderStream())) {
      out += d;
      if (out.includes("writing")) onStart();
    }
  };
  const done = Promise.all([read(child.stdout), read(child.stderr)]);
  return {
    code: done.then(() => child.status).then((s) => s.code),
    out: () => out,
    kill: (sig) => child.kill(sig),
    started,
  };
}

/** Everything below `dir` whose name marks a temp or lock file. */
function debris(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true }).map(String).filter((p) => /kiln-tmp|\.tmp-|\.lock/.test(p));
}

Deno.test("writeOutputs() from 6 processes at once into one new OCI layout keeps every tag", async () => {
  const base = tempDir("kiln-layout-race-");
  try {
    for (let round = 0; round < 3; round++) {
      const dir = join(base, `layout${round}`);
      const tags = Array.from({ length: 6 }, (_, i) => `t${i}`);
      const kids = tags.map((t) => writer(["layout", dir, t]));
      const codes = await Promise.all(kids.map((k) => k.code));
      assertEquals(codes, tags.map(() => 0), kids.map((k) => k.out()).join("\n"));
      const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
      const names = index.manifests.map((d: { annotations?: Record<string, string> }) =>
        d.annotations?.[REF_NAME_ANNOTATION]
      );
      assertEquals(names.sort(), tags);
      // Each tag names the image its writer wrote, and all of its blobs are there.
      for (const [i, t] of tags.entries()) {
        const img = await layoutImage(dir, { tag: t });
        assertEquals(`ok ${await img.digest()} 1`, kids[i]!.out().trim());
        for (const l of await img.layers()) await new Response(await l.compressed()).arrayBuffer();
      }
      assertEquals(readFileSync(join(dir, "oci-layout"), "utf8"), '{"imageLayoutVersion":"1.0.0"}');
      assertEquals(debris(base), []);
    }
    // And into the existing layout, 4 more at once.
    const dir = join(base, "layout0");
    const kids = ["u0", "u1", "u2", "u3"].map((t) => writer(["layout", dir, t]));
    assertEquals(await Promise.all(kids.map((k) => k.code)), [0, 0, 0, 0], kids.map((k) => k.out()).join("\n"));
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    assertEquals(index.manifests.length, 10);
    assertEquals(debris(base), []);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

Deno.test("writeOutputs() from 8 processes at once into one --digest-file all succeed", async () => {
  const base = tempDir("kiln-digest-race-");
  try {
    const file = join(base, "out/digest");
    const kids = Array.from({ length: 8 }, (_, i) => writer(["digest", file, `t${i}`]));
    const codes = await Promise.all(kids.map((k) => k.code));
    assertEquals(codes, kids.map(() => 0), kids.map((k) => k.out()).join("\n"));
    const digests = kids.map((k) => k.out().trim().split(" ")[1]);
    assert(digests.includes(readFileSync(file, "utf8")));
    assertEquals(readdirSync(join(base, "out")), ["digest"]);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

Deno.test("SIGTERM during the first write of an OCI layout leaves no layout and no temp files", async () => {
  const base = tempDir("kiln-layout-term-");
  try {
    // A new layout: nothing at all is left.
    const dir = join(base, "new");
    let k = writer(["layout", dir, "a", "50"]);
    await k.started;
    await new Promise((r) => setTimeout(r, 200));
    k.kill("SIGTERM");
    // Stopped at the signal, not written to the end: exit 1 with the abort error (a finished write exits 0).
    assertEquals(await k.code, 1, k.out());
    assertEquals(k.out().trim().split("\n").at(-1), `error Writing OCI layout ${dir} was aborted`);
    assertEquals(readdirSync(base), []);
    // An existing layout: its index and tags are untouched, no temp blob is left.
    k = writer(["layout", dir, "first"]);
    assertEquals(await k.code, 0, k.out());
    const before = readFileSync(join(dir, "index.json"), "utf8");
    const blobs = readdirSync(join(dir, "blobs/sha256")).sort();
    k = writer(["layout", dir, "b", "50"]);
    await k.started;
    await new Promise((r) => setTimeout(r, 200));
    k.kill("SIGTERM");
    assertEquals(await k.code, 1, k.out());
    assertEquals(readFileSync(join(dir, "index.json"), "utf8"), before);
    assertEquals(readdirSync(join(dir, "blobs/sha256")).sort(), blobs);
    assertEquals(readdirSync(dir).sort(), ["blobs", "index.json", "oci-layout"]);
    assertEquals(debris(base), []);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

Deno.test("writeLayout() breaks a stale index.json.lock (dead holder, or too old) and waits for a live one", async () => {
  const { appendLayers, emptyImage, writeLayout } = await import("../../../lib/image/mod.ts");
  const { randomLayer } = await import("../image/_helpers.ts");
  const { hostname } = await import("node:os");
  const { utimesSync, writeFileSync } = await import("node:fs");
  const base = tempDir("kiln-layout-lock-");
  try {
    const dir = join(base, "layout");
    await writeLayout(dir, appendLayers(emptyImage(), [randomLayer(100)]), { tags: ["a"] });
    const lock = join(dir, "index.json.lock");
    // Held by a process that is gone.
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    writeFileSync(lock, JSON.stringify({ pid: dead.pid, host: hostname(), token: "x" }));
    await writeLayout(dir, appendLayers(emptyImage(), [randomLayer(100)]), { tags: ["b"] });
    assert(!existsSync(lock));
    // Held by a live process (this one's parent) on another host, but for too long.
    writeFileSync(lock, JSON.stringify({ pid: Deno.ppid, host: "elsewhere", token: "y" }));
    utimesSync(lock, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    await writeLayout(dir, appendLayers(emptyImage(), [randomLayer(100)]), { tags: ["c"] });
    // Held by a live process right now: the writer waits until it is released.
    writeFileSync(lock, JSON.stringify({ pid: Deno.ppid, host: hostname(), token: "z" }));
    let done = false;
    const p = writeLayout(dir, appendLayers(emptyImage(), [randomLayer(100)]), { tags: ["d"] }).then(
      () => (done = true),
    );
    await new Promise((r) => setTimeout(r, 300));
    assert(!done, "waited for the live holder");
    rmSync(lock);
    await p;
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    assertEquals(
      index.manifests.map((d: { annotations?: Record<string, string> }) => d.annotations?.[REF_NAME_ANNOTATION]),
      ["a", "b", "c", "d"],
    );
    assertEquals(debris(base), []);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
