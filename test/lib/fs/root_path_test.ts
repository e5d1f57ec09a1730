/**
 * Root-confined path resolution (lib/fs/root_path.ts) is a security boundary: every escape case runs against every
 * form of it, the deprecated entry points (lib/copy/resolve.ts, lib/fs/_extract_resolve.ts) and lib/sandbox's
 * adapter included, and they must all agree.
 */
import { existsSync, lstatSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import {
  createRootResolver,
  extractEntries,
  resolveInRoot,
  type ResolveInRootOptions,
  resolveInRootSync,
  SymlinkLoopError,
} from "../../../lib/fs/mod.ts";
import { resolveInRoot as copyResolveInRoot } from "../../../lib/copy/resolve.ts";
import { resolveInRoot as extractResolveInRoot } from "../../../lib/fs/_extract_resolve.ts";
import { resolveInRoot as sandboxResolveInRoot } from "../../../lib/sandbox/_root_path.ts";
import { SandboxError } from "../../../lib/sandbox/errors.ts";
import type { TarEntry } from "../../../lib/tar/mod.ts";
import { KilnError } from "../../../lib/util/mod.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../../assert.ts";
import { tempDir } from "../../fixtures/temp.ts";

/** One form of the resolver: host path for `path`, or throws. */
interface Form {
  name: string;
  followLastOnly?: boolean;
  resolve(root: string, path: string, options: ResolveInRootOptions): string | Promise<string>;
}

const host = (root: string, rel: string) => rel === "" ? root : `${root}/${rel}`;
const warm = new Map<string, ReturnType<typeof createRootResolver>>();

const FORMS: Form[] = [
  { name: "resolveInRootSync", resolve: (root, p, o) => resolveInRootSync(root, p, o).hostPath },
  { name: "resolveInRoot (async)", resolve: async (root, p, o) => (await resolveInRoot(root, p, o)).hostPath },
  { name: "createRootResolver (cold)", resolve: (root, p, o) => host(root, createRootResolver(root).resolve(p, o)) },
  {
    name: "createRootResolver (warm cache)",
    resolve(root, p, o) {
      let r = warm.get(root);
      if (!r) warm.set(root, r = createRootResolver(root));
      // Resolve every prefix first, so that the answer comes from cached directory resolutions.
      const comps = p.split("/");
      for (let i = 1; i < comps.length; i++) r.resolve(comps.slice(0, i).join("/"));
      r.resolve(p, o);
      return host(root, r.resolve(p, o));
    },
  },
  { name: "lib/copy resolveInRoot (deprecated)", resolve: (root, p, o) => copyResolveInRoot(root, p, o) },
  {
    name: "lib/fs/_extract_resolve resolveInRoot (deprecated)",
    resolve: (root, p, o) => host(root, extractResolveInRoot(root, p, o.followLast ?? true)),
  },
  {
    name: "lib/sandbox resolveInRoot",
    followLastOnly: true,
    resolve: async (root, p) => (await sandboxResolveInRoot(root, p)).hostPath,
  },
];

/**
 * A rootfs whose `etc/passwd` is not the host's, and a sibling directory `outside` standing for the host.
 * Returns the rootfs.
 */
function makeTree(base: string): string {
  const root = `${base}/root`;
  const outside = `${base}/outside`;
  mkdirSync(`${root}/etc`, { recursive: true });
  mkdirSync(`${root}/a/b`, { recursive: true });
  mkdirSync(`${root}/dir`);
  mkdirSync(outside);
  writeFileSync(`${root}/etc/passwd`, "root:x:0:0::/root:/bin/sh\n");
  writeFileSync(`${root}/file`, "x");
  writeFileSync(`${outside}/secret`, "host");
  symlinkSync("/etc", `${root}/abs`); // absolute symlink
  symlinkSync("../../../../../../../../etc", `${root}/up`); // ../../.. symlink
  symlinkSync("/a/b", `${root}/dir/link`); // link/.. goes to the link target's parent
  symlinkSync(outside, `${root}/host`); // an absolute link to a host path: restarts at the root
  symlinkSync("../../outside", `${root}/rel-out`); // a relative link that climbs out of the root
  symlinkSync("missing/../host", `${root}/tricky`); // `..` after a missing component resumes the walk
  symlinkSync("/loop", `${root}/loop`); // symlink loops
  symlinkSync("ping", `${root}/pong`);
  symlinkSync("pong", `${root}/ping`);
  symlinkSync("/no/such/dir", `${root}/dangling`); // dangling links
  symlinkSync("../../nowhere", `${root}/dangling-up`);
  symlinkSync("file/x", `${root}/under-file`);
  return root;
}

// Shared by the tests below, removed when the file ends.
const BASE = realpathSync(tempDir("kiln-rootpath-"));
const ROOT = makeTree(BASE);

/** [path, followLast, expected path relative to the root]. */
const CASES: [string, boolean, string][] = [
  ["abs/passwd", true, "etc/passwd"],
  ["/abs/passwd", true, "etc/passwd"],
  ["abs", false, "abs"],
  ["abs", true, "etc"],
  ["up/passwd", true, "etc/passwd"],
  ["/dir/link/..", true, "a"],
  ["dir/link/../b", true, "a/b"],
  ["abs/..", true, ""],
  ["up/../../..", true, ""],
  ["../../etc/passwd", true, "etc/passwd"],
  ["/../../../outside/secret", true, "outside/secret"],
  ["..", true, ""],
  ["host/secret", true, outsideRel()],
  ["rel-out/secret", true, "outside/secret"],
  ["tricky/secret", true, outsideRel()],
  ["tricky", false, "tricky"],
  ["dangling", true, "no/such/dir"],
  ["dangling/f", true, "no/such/dir/f"],
  ["dangling", false, "dangling"],
  ["dangling-up/x", true, "nowhere/x"],
  ["missing/../abs/passwd", true, "etc/passwd"],
  ["missing/x/../../abs", true, "etc"],
  ["under-file/y", true, "file/x/y"],
  ["file/x/../../abs", true, "etc"],
  ["./a/./b//", true, "a/b"],
  ["", true, ""],
];

/** `host` points at `<base>/outside`; inside the root that is `<base without the leading />/outside`. */
function outsideRel(): string {
  return `${BASE.slice(1)}/outside/secret`;
}

/** No component of `path`'s existing prefix is a symlink: opening it cannot leave the root. */
function assertNoSymlinkOnTheWay(path: string, followLast: boolean): void {
  const comps = path.slice(ROOT.length + 1).split("/").filter(Boolean);
  for (let i = 1; i <= comps.length; i++) {
    if (!followLast && i === comps.length) break;
    const p = `${ROOT}/${comps.slice(0, i).join("/")}`;
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    assert(!st.isSymbolicLink(), `${p} is a symlink`);
  }
}

Deno.test("root path resolution: every escape case, every form", async (t) => {
  for (const form of FORMS) {
    await t.step(form.name, async () => {
      for (const [path, followLast, want] of CASES) {
        if (!followLast && form.followLastOnly) continue;
        const got = await form.resolve(ROOT, path, { followLast });
        assertEquals(got, host(ROOT, want), `${path} (followLast ${followLast})`);
        assert(got === ROOT || got.startsWith(`${ROOT}/`), got);
        assertNoSymlinkOnTheWay(got, followLast);
      }
    });
  }
});

Deno.test("root path resolution: symlink loops fail as a KilnError in every form", async (t) => {
  for (const form of FORMS) {
    await t.step(form.name, async () => {
      for (const path of ["loop", "loop/x", "ping", "/dir/../pong/x"]) {
        const e = await assertRejects(async () => await form.resolve(ROOT, path, {}), KilnError);
        assert(/too many (levels of )?symbolic links/.test(e.message), e.message);
      }
    });
  }
  assertThrows(() => resolveInRootSync(ROOT, "loop"), SymlinkLoopError, "Cannot resolve loop: too many levels");
  await assertRejects(() => sandboxResolveInRoot(ROOT, "/loop"), SandboxError, "too many symbolic links");
});

Deno.test("resolveInRootSync() and resolveInRoot() report existence and the first missing component", async () => {
  const cases: [string, { exists: boolean; firstMissing?: string; imagePath: string }][] = [
    ["abs/passwd", { exists: true, imagePath: "/etc/passwd" }],
    ["dangling/f", { exists: false, firstMissing: "/no", imagePath: "/no/such/dir/f" }],
    ["missing/../etc", { exists: true, imagePath: "/etc" }],
    ["file/x", { exists: false, firstMissing: "/file/x", imagePath: "/file/x" }],
    ["/", { exists: true, imagePath: "/" }],
  ];
  for (const [path, want] of cases) {
    for (const got of [resolveInRootSync(ROOT, path), await resolveInRoot(ROOT, path)]) {
      const { hostPath: _, ...rest } = got;
      assertEquals(rest, want, path);
    }
  }
  assertEquals(resolveInRootSync(`${ROOT}/`, "abs").hostPath, `${ROOT}/etc`);
  assertEquals(resolveInRootSync(ROOT, "dangling", { followLast: false }).exists, true);
});

Deno.test("createRootResolver() cache: clear() after a symlink is replaced", () => {
  const base = realpathSync(tempDir("kiln-rootpath-"));
  mkdirSync(`${base}/x`);
  mkdirSync(`${base}/y`);
  symlinkSync("/x", `${base}/l`);
  const r = createRootResolver(base);
  assertEquals(r.resolve("l/f"), "x/f");
  rmSync(`${base}/l`);
  symlinkSync("/y", `${base}/l`);
  r.clear();
  assertEquals(r.resolve("l/f"), "y/f");
});

Deno.test("extractEntries() never writes through a symlink reached by `..` after a missing component", async () => {
  const base = realpathSync(tempDir("kiln-rootpath-"));
  mkdirSync(`${base}/root`);
  mkdirSync(`${base}/outside`);
  writeFileSync(`${base}/outside/victim`, "host");
  const hdr = (path: string, type: TarEntry["header"]["type"], linkname?: string): TarEntry => ({
    header: { path, type, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, ...(linkname ? { linkname } : {}) },
  });
  const entries: TarEntry[] = [
    hdr("host", "symlink", `${base}/outside`),
    hdr("tricky", "symlink", "missing/../host"),
    hdr("tricky/victim", "file"),
  ];
  await extractEntries(ReadableStream.from(entries), `${base}/root`, { ownership: false });
  assertEquals(Deno.readTextFileSync(`${base}/outside/victim`), "host");
  assert(existsSync(`${base}/root${base}/outside/victim`), "the file lands inside the root");
});
