import * as fs from "node:fs";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { copyInto, resolveDest } from "../../../lib/copy/copy.ts";
import { copyInlineFiles } from "../../../lib/copy/heredoc.ts";
import { compilePatterns } from "../../../lib/copy/glob.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { isRoot } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";

function setup(): { ctx: string; root: string; outside: string; cleanup(): void } {
  const base = tempDir("kiln-copy-");
  const ctx = `${base}/ctx`;
  const root = `${base}/rootfs`;
  const outside = `${base}/outside`;
  for (const d of [ctx, root, outside, `${ctx}/src/sub`, `${ctx}/docs`, `${root}/etc`, `${root}/srv`]) {
    fs.mkdirSync(d, { recursive: true });
  }
  fs.writeFileSync(`${ctx}/a.txt`, "A");
  fs.writeFileSync(`${ctx}/b.txt`, "B");
  fs.writeFileSync(`${ctx}/c.md`, "C");
  fs.writeFileSync(`${ctx}/src/main.go`, "package main");
  fs.writeFileSync(`${ctx}/src/sub/x.go`, "package sub");
  fs.writeFileSync(`${ctx}/src/sub/x_test.go`, "package sub");
  fs.writeFileSync(`${ctx}/docs/readme.md`, "doc");
  fs.chmodSync(`${ctx}/src`, 0o700);
  fs.chmodSync(`${ctx}/src/main.go`, 0o600);
  fs.utimesSync(`${ctx}/a.txt`, 1000, 1000);
  fs.symlinkSync("a.txt", `${ctx}/link-to-a`);
  fs.symlinkSync("../main.go", `${ctx}/src/sub/rel-link`);
  fs.linkSync(`${ctx}/src/sub/x.go`, `${ctx}/src/hard.go`);
  return { ctx, root, outside, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}

function st(p: string): fs.Stats {
  return fs.lstatSync(p);
}

Deno.test("resolveDest() applies WORKDIR and trailing slash rules", () => {
  assertEquals(resolveDest("app/", "/srv"), { path: "/srv/app", isDir: true });
  assertEquals(resolveDest("x", "/srv"), { path: "/srv/x", isDir: false });
  assertEquals(resolveDest(".", "/w"), { path: "/w", isDir: true });
  assertEquals(resolveDest("/abs/../y", "/w"), { path: "/y", isDir: false });
});

Deno.test("copyInto() copies files, globs and directories by content with 0:0 and source modes", async () => {
  const t = setup();
  try {
    if (isRoot()) fs.chownSync(`${t.ctx}/a.txt`, 1234, 1234);
    const r = await copyInto({
      srcRoot: t.ctx,
      sources: ["*.txt", "src"],
      dest: "app/",
      workdir: "/srv",
      destRoot: t.root,
    });
    assertEquals(fs.readFileSync(`${t.root}/srv/app/a.txt`, "utf8"), "A");
    assertEquals(fs.readFileSync(`${t.root}/srv/app/b.txt`, "utf8"), "B");
    assertEquals(fs.readFileSync(`${t.root}/srv/app/main.go`, "utf8"), "package main"); // by content
    assert(!fs.existsSync(`${t.root}/srv/app/src`));
    assertEquals(st(`${t.root}/srv/app/main.go`).mode & 0o7777, 0o600);
    assertEquals(st(`${t.root}/srv/app/a.txt`).mtimeMs, 1000_000);
    assertEquals(st(`${t.root}/srv/app/a.txt`).uid, 0);
    assertEquals(st(`${t.root}/srv/app`).mode & 0o7777, 0o755); // created dest dir
    assertEquals(fs.readlinkSync(`${t.root}/srv/app/sub/rel-link`), "../main.go"); // nested symlink kept
    // hardlinks inside the copy stay hardlinks
    assertEquals(st(`${t.root}/srv/app/hard.go`).ino, st(`${t.root}/srv/app/sub/x.go`).ino);
    assert(r.changedPaths.includes("/srv/app/a.txt") && r.changedPaths.includes("/srv/app"));
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInto() follows a source symlink and renames a single file", async () => {
  const t = setup();
  try {
    await copyInto({ srcRoot: t.ctx, sources: ["link-to-a"], dest: "/etc/renamed", destRoot: t.root });
    assert(st(`${t.root}/etc/renamed`).isFile());
    assertEquals(fs.readFileSync(`${t.root}/etc/renamed`, "utf8"), "A");
    // a file to an existing directory without trailing slash goes inside it
    await copyInto({ srcRoot: t.ctx, sources: ["b.txt"], dest: "/etc", destRoot: t.root });
    assert(fs.existsSync(`${t.root}/etc/b.txt`));
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInto() keeps an existing destination directory's metadata and overwrites nested ones", async () => {
  const t = setup();
  try {
    fs.mkdirSync(`${t.root}/tmp`);
    fs.chmodSync(`${t.root}/tmp`, 0o1777);
    await copyInto({ srcRoot: t.ctx, sources: ["docs"], dest: "/tmp", destRoot: t.root });
    assertEquals(st(`${t.root}/tmp`).mode & 0o7777, 0o1777);
    assert(fs.existsSync(`${t.root}/tmp/readme.md`));
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInto() follows a destination symlink inside the rootfs and never escapes it", async () => {
  const t = setup();
  try {
    fs.symlinkSync("/srv", `${t.root}/app`);
    await copyInto({ srcRoot: t.ctx, sources: ["a.txt"], dest: "/app/", destRoot: t.root });
    assert(fs.existsSync(`${t.root}/srv/a.txt`));
    // an absolute link that would point outside resolves inside the rootfs
    fs.symlinkSync(t.outside, `${t.root}/evil`);
    fs.symlinkSync("../../../../../../../../..", `${t.root}/up`);
    await copyInto({ srcRoot: t.ctx, sources: ["b.txt"], dest: "/evil/", destRoot: t.root });
    await copyInto({ srcRoot: t.ctx, sources: ["c.md"], dest: "/up/x/", destRoot: t.root });
    assertEquals(fs.readdirSync(t.outside), []);
    assert(fs.existsSync(`${t.root}${t.outside}/b.txt`));
    assert(fs.existsSync(`${t.root}/x/c.md`));
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInto() applies --chown to files and created parents, --chmod octal and symbolic", async () => {
  const t = setup();
  try {
    await copyInto({
      srcRoot: t.ctx,
      sources: ["src"],
      dest: "/opt/deep/app/",
      destRoot: t.root,
      chown: { uid: 1000, gid: 1001 },
      chmod: "u=rwX,go=rX",
    });
    for (const p of ["/opt", "/opt/deep", "/opt/deep/app", "/opt/deep/app/main.go", "/opt/deep/app/sub"]) {
      assertEquals([st(t.root + p).uid, st(t.root + p).gid], [1000, 1001], p);
    }
    assertEquals(st(`${t.root}/opt/deep/app/main.go`).mode & 0o7777, 0o644);
    assertEquals(st(`${t.root}/opt/deep/app/sub`).mode & 0o7777, 0o755);
    assertEquals(st(`${t.root}/opt`).mode & 0o7777, 0o755);
    await copyInto({ srcRoot: t.ctx, sources: ["a.txt"], dest: "/bin/tool", destRoot: t.root, chmod: "4755" });
    assertEquals(st(`${t.root}/bin/tool`).mode & 0o7777, 0o4755);
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInto() keeps source owners with keepOwnership (COPY --from)", { ignore: !isRoot() }, async () => {
  const t = setup();
  try {
    fs.chownSync(`${t.ctx}/b.txt`, 42, 43);
    await copyInto({ srcRoot: t.ctx, sources: ["b.txt"], dest: "/", destRoot: t.root, keepOwnership: true });
    assertEquals([st(`${t.root}/b.txt`).uid, st(`${t.root}/b.txt`).gid], [42, 43]);
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInto() honours --exclude and .dockerignore", async () => {
  const t = setup();
  try {
    await copyInto({
      srcRoot: t.ctx,
      sources: ["*"],
      dest: "/x/",
      destRoot: t.root,
      exclude: ["*.md", "**/*_test.go"],
    });
    assert(fs.existsSync(`${t.root}/x/a.txt`));
    assert(!fs.existsSync(`${t.root}/x/c.md`));
    assert(!fs.existsSync(`${t.root}/x/sub/x_test.go`));
    assert(fs.existsSync(`${t.root}/x/sub/x.go`));
    const ignore = compilePatterns(["b.txt", "src/sub"]);
    await copyInto({ srcRoot: t.ctx, sources: [".", "a.txt"], dest: "/y/", destRoot: t.root, ignore });
    assert(fs.existsSync(`${t.root}/y/a.txt`) && !fs.existsSync(`${t.root}/y/b.txt`));
    assert(fs.existsSync(`${t.root}/y/src/main.go`) && !fs.existsSync(`${t.root}/y/src/sub/x.go`));
    await assertRejects(
      () => copyInto({ srcRoot: t.ctx, sources: ["b.txt"], dest: "/z", destRoot: t.root, ignore }),
      KilnError,
      "not found",
    );
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInto() --parents keeps paths, with ./ pivots and **", async () => {
  const t = setup();
  try {
    await copyInto({
      srcRoot: t.ctx,
      sources: ["src/sub/x.go", "docs/*.md"],
      dest: "/p/",
      destRoot: t.root,
      parents: true,
    });
    assert(fs.existsSync(`${t.root}/p/src/sub/x.go`) && fs.existsSync(`${t.root}/p/docs/readme.md`));
    assertEquals(st(`${t.root}/p/src`).mode & 0o7777, 0o700); // parent takes the source dir's mode
    await copyInto({ srcRoot: t.ctx, sources: ["./src/./sub/*.go"], dest: "/q/", destRoot: t.root, parents: true });
    assert(fs.existsSync(`${t.root}/q/sub/x.go`) && !fs.existsSync(`${t.root}/q/src`));
    await copyInto({ srcRoot: t.ctx, sources: ["**/*.go"], dest: "/r/", destRoot: t.root, parents: true });
    assert(fs.existsSync(`${t.root}/r/src/main.go`) && fs.existsSync(`${t.root}/r/src/sub/x_test.go`));
    assert(!fs.existsSync(`${t.root}/r/a.txt`));
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInto() errors clearly for missing sources and bad destinations", async () => {
  const t = setup();
  try {
    await assertRejects(
      () => copyInto({ srcRoot: t.ctx, sources: ["*.nope"], dest: "/", destRoot: t.root, location: "Dockerfile:7" }),
      KilnError,
      'Dockerfile:7: COPY: no source files match "*.nope"',
    );
    await assertRejects(
      () => copyInto({ srcRoot: t.ctx, sources: ["a.txt", "b.txt"], dest: "/newfile", destRoot: t.root }),
      KilnError,
      "must be a directory",
    );
    fs.writeFileSync(`${t.root}/etc/file`, "x");
    await assertRejects(
      () => copyInto({ srcRoot: t.ctx, sources: ["src"], dest: "/etc/file", destRoot: t.root }),
      KilnError,
      "not a directory",
    );
    await assertRejects(
      () => copyInto({ srcRoot: t.ctx, sources: ["a.txt"], dest: "/", destRoot: t.root, chmod: "bogus" }),
      KilnError,
      "Invalid --chmod",
    );
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInlineFiles() writes heredoc files 0644 and honours --chmod", async () => {
  const t = setup();
  try {
    await copyInlineFiles({ files: [{ name: "EOF", content: "hi\n" }], dest: "/etc/motd", destRoot: t.root });
    assertEquals(fs.readFileSync(`${t.root}/etc/motd`, "utf8"), "hi\n");
    assertEquals(st(`${t.root}/etc/motd`).mode & 0o7777, 0o644);
    await copyInlineFiles({
      files: [{ name: "one", content: "1" }, { name: "two", content: "2" }],
      dest: "/h/",
      destRoot: t.root,
      chmod: "0755",
    });
    assertEquals(fs.readFileSync(`${t.root}/h/two`, "utf8"), "2");
    assertEquals(st(`${t.root}/h/one`).mode & 0o7777, 0o755);
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInto() leaves out .dockerignored directories whole unless an exception keeps something", async () => {
  const t = setup();
  try {
    const ignore = compilePatterns(["src", "!src/sub/x.go", "docs"]);
    await copyInto({ srcRoot: t.ctx, sources: ["."], dest: "/w/", destRoot: t.root, ignore });
    assert(!fs.existsSync(`${t.root}/w/docs`));
    assert(fs.existsSync(`${t.root}/w/src/sub/x.go`) && !fs.existsSync(`${t.root}/w/src/main.go`));
  } finally {
    t.cleanup();
  }
});

Deno.test("copyInto() writes through a destination symlink to a file, even a dangling one, inside the rootfs", async () => {
  const t = setup();
  try {
    fs.writeFileSync(`${t.root}/etc/target`, "old");
    fs.symlinkSync("/etc/target", `${t.root}/to-file`);
    fs.symlinkSync("/nonexistent/deep", `${t.root}/dangling`);
    await copyInto({ srcRoot: t.ctx, sources: ["a.txt"], dest: "/to-file", destRoot: t.root });
    await copyInto({ srcRoot: t.ctx, sources: ["b.txt"], dest: "/dangling", destRoot: t.root });
    assertEquals(fs.readFileSync(`${t.root}/etc/target`, "utf8"), "A");
    assert(fs.lstatSync(`${t.root}/to-file`).isSymbolicLink());
    assertEquals(fs.readFileSync(`${t.root}/nonexistent/deep`, "utf8"), "B");
    assert(!fs.existsSync("/nonexistent"));
  } finally {
    t.cleanup();
  }
});
