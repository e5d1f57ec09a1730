import * as fs from "node:fs";
import { spawnSync } from "node:child_process";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { addInto, isGitSource, isTarArchive, parseGitSource } from "../../../lib/copy/add.ts";
import { KilnError } from "../../../lib/util/errors.ts";
import { skipUnless } from "../../fixtures/tools.ts";
import { tempDir } from "../../fixtures/temp.ts";

function setup(): { base: string; ctx: string; root: string; cleanup(): void } {
  const base = tempDir("kiln-add-");
  const ctx = `${base}/ctx`;
  const root = `${base}/work/rootfs`;
  fs.mkdirSync(`${ctx}/tree/dir`, { recursive: true });
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(`${ctx}/tree/dir/f.txt`, "inside");
  fs.symlinkSync("dir/f.txt", `${ctx}/tree/ln`);
  fs.utimesSync(`${ctx}/tree/dir/f.txt`, 5000, 5000);
  return { base, ctx, root, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}

function tar(ctx: string, name: string, flag: string): void {
  const r = spawnSync("tar", ["-C", `${ctx}/tree`, `-c${flag}f`, `${ctx}/${name}`, "--owner=7", "--group=8", "."]);
  if (r.status !== 0) throw new Error(String(r.stderr));
}

Deno.test("parseGitSource() and isGitSource() split URL, ref and subdir", () => {
  assertEquals(parseGitSource("https://h/r.git#v1:docs"), { url: "https://h/r.git", ref: "v1", subdir: "docs" });
  assertEquals(parseGitSource("https://h/r.git"), { url: "https://h/r.git" });
  assert(isGitSource("https://h/r.git#main") && isGitSource("git@github.com:a/b.git"));
  assert(!isGitSource("https://h/file.tar.gz"));
});

Deno.test("addInto() extracts local tars by content (plain, gzip, bzip2, xz, zstd)", {
  ignore: skipUnless("addInto tar", "tar", "bzip2", "xz", "zstd"),
}, async () => {
  const t = setup();
  try {
    const kinds: [string, string][] = [["plain.bin", ""], ["g.tgz", "z"], ["b.tbz", "j"], ["x.txz", "J"], [
      "z.tzst",
      "--zstd ",
    ]];
    for (const [name, flag] of kinds) {
      if (flag.startsWith("--")) {
        const r = spawnSync("tar", [
          "-C",
          `${t.ctx}/tree`,
          "--zstd",
          "-cf",
          `${t.ctx}/${name}`,
          "--owner=7",
          "--group=8",
          ".",
        ]);
        assertEquals(r.status, 0);
      } else tar(t.ctx, name, flag);
      assert(await isTarArchive(`${t.ctx}/${name}`), name);
      await addInto({ srcRoot: t.ctx, sources: [name], dest: `/out/${name}/`, destRoot: t.root });
      const d = `${t.root}/out/${name}`;
      assertEquals(fs.readFileSync(`${d}/dir/f.txt`, "utf8"), "inside", name);
      assertEquals(fs.readlinkSync(`${d}/ln`), "dir/f.txt");
      assertEquals(fs.statSync(`${d}/dir/f.txt`).mtimeMs, 5000_000);
      assertEquals(fs.statSync(`${d}/dir/f.txt`).uid, 7); // tar owners kept without --chown
      assertEquals(fs.statSync(d).uid, 7); // the `./` entry applies to the destination directory
    }
    // a compressed non-tar is copied as a file; unpack:false copies the archive itself
    fs.writeFileSync(`${t.ctx}/plain.txt`, "not a tar");
    spawnSync("gzip", ["-k", `${t.ctx}/plain.txt`]);
    assert(!(await isTarArchive(`${t.ctx}/plain.txt.gz`)));
    await addInto({ srcRoot: t.ctx, sources: ["plain.txt.gz"], dest: "/f/", destRoot: t.root });
    assert(fs.statSync(`${t.root}/f/plain.txt.gz`).isFile());
    await addInto({ srcRoot: t.ctx, sources: ["g.tgz"], dest: "/keep/", destRoot: t.root, unpack: false });
    assert(fs.statSync(`${t.root}/keep/g.tgz`).isFile());
    await addInto({ srcRoot: t.ctx, sources: ["g.tgz"], dest: "/own/", destRoot: t.root, chown: { uid: 9, gid: 9 } });
    assertEquals(fs.statSync(`${t.root}/own/dir/f.txt`).uid, 9);
  } finally {
    t.cleanup();
  }
});

Deno.test(
  "addInto() rejects tar entries escaping the destination",
  { ignore: skipUnless("escape", "python3") },
  async () => {
    const t = setup();
    try {
      const py = `import tarfile,io\nt=tarfile.open('${t.ctx}/evil.tar','w')\ni=tarfile.TarInfo('../../escape')\n` +
        `i.size=1\nt.addfile(i,io.BytesIO(b'x'))\nt.close()`;
      assertEquals(spawnSync("python3", ["-c", py]).status, 0);
      await assertRejects(
        () =>
          addInto({ srcRoot: t.ctx, sources: ["evil.tar"], dest: "/x/", destRoot: t.root, location: "Dockerfile:2" }),
        KilnError,
        "escapes the destination",
      );
      assert(!fs.existsSync(`${t.base}/escape`) && !fs.existsSync(`${t.base}/work/escape`));
    } finally {
      t.cleanup();
    }
  },
);

Deno.test("addInto() downloads URLs: mode 600, Last-Modified, checksum, HTTP errors", async () => {
  const t = setup();
  const body = "downloaded\n";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const u = new URL(req.url);
    if (u.pathname === "/missing") return new Response("no", { status: 404 });
    if (u.pathname === "/private" && req.headers.get("authorization") !== "Bearer tok") {
      return new Response("denied", { status: 401 });
    }
    return new Response(body, { headers: { "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT" } });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    await addInto({ srcRoot: t.ctx, sources: [`${base}/files/tool.sh`], dest: "/usr/local/bin/", destRoot: t.root });
    const p = `${t.root}/usr/local/bin/tool.sh`;
    assertEquals(fs.readFileSync(p, "utf8"), body);
    assertEquals(fs.statSync(p).mode & 0o7777, 0o600);
    assertEquals(fs.statSync(p).mtimeMs, Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"));
    const sum = "sha256:" +
      (await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body)).then((b) =>
        Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("")
      ));
    await addInto({
      srcRoot: t.ctx,
      sources: [`${base}/a`],
      dest: "/named",
      destRoot: t.root,
      checksum: sum,
      chmod: "755",
    });
    assertEquals(fs.statSync(`${t.root}/named`).mode & 0o7777, 0o755);
    await assertRejects(
      () =>
        addInto({
          srcRoot: t.ctx,
          sources: [`${base}/a`],
          dest: "/bad",
          destRoot: t.root,
          checksum: "sha256:" + "0".repeat(64),
          location: "Dockerfile:3",
        }),
      KilnError,
      "Dockerfile:3: ADD: checksum mismatch",
    );
    assert(!fs.existsSync(`${t.root}/bad`));
    await assertRejects(
      () => addInto({ srcRoot: t.ctx, sources: [`${base}/missing`], dest: "/m", destRoot: t.root }),
      KilnError,
      "HTTP 404",
    );
    await assertRejects(
      () => addInto({ srcRoot: t.ctx, sources: [`${base}/private`], dest: "/p", destRoot: t.root }),
      KilnError,
      "HTTP 401",
    );
    const host = `127.0.0.1:${server.addr.port}`;
    await addInto({
      srcRoot: t.ctx,
      sources: [`${base}/private`],
      dest: "/p",
      destRoot: t.root,
      authorization: (h) => Promise.resolve(h === host ? "Bearer tok" : undefined),
    });
    assertEquals(fs.readFileSync(`${t.root}/p`, "utf8"), body);
    assertEquals(fs.readdirSync(`${t.base}/work`), ["rootfs"]); // no scratch left behind
  } finally {
    await server.shutdown();
    t.cleanup();
  }
});

Deno.test("addInto() restores xattrs (security.capability) from PAX headers", {
  ignore: skipUnless("xattrs", "python3", "root"),
}, async () => {
  const t = setup();
  try {
    const py = "import tarfile,io\nt=tarfile.open('" + t.ctx + "/caps.tar','w',format=tarfile.PAX_FORMAT)\n" +
      "i=tarfile.TarInfo('ping');i.size=2;i.mode=0o755\n" +
      "i.pax_headers={'SCHILY.xattr.security.capability':bytes([0,0,0,2,0,32,0,0,0,32,0,0,0,0,0,0,0,0,0,0]).decode('latin-1'),'SCHILY.xattr.user.k':'v'}\n" +
      "t.addfile(i,io.BytesIO(b'hi'));t.close()";
    assertEquals(spawnSync("python3", ["-c", py]).status, 0);
    await addInto({ srcRoot: t.ctx, sources: ["caps.tar"], dest: "/c/", destRoot: t.root });
    const { lgetxattr } = await import("../../../lib/fs/syscalls.ts");
    assertEquals(lgetxattr(`${t.root}/c/ping`, "security.capability")?.length, 20);
    assertEquals(new TextDecoder().decode(lgetxattr(`${t.root}/c/ping`, "user.k")), "v");
  } finally {
    t.cleanup();
  }
});

Deno.test("addInto() adds git sources (ref, subdir, --keep-git-dir, commit checksum)", {
  ignore: skipUnless("addInto git", "git"),
}, async () => {
  const { git, startGitServer } = await import("../../fixtures/git_server.ts");
  const t = setup();
  const projectRoot = `${t.base}/repos`;
  const src = `${t.base}/src`;
  fs.mkdirSync(`${src}/docs`, { recursive: true });
  git(src, "init", "-q", "-b", "main");
  fs.writeFileSync(`${src}/README`, "v1\n");
  fs.writeFileSync(`${src}/docs/guide.md`, "guide\n");
  fs.writeFileSync(`${src}/docs/run.sh`, "#!/bin/sh\n", { mode: 0o700 });
  git(src, "add", ".");
  git(src, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "one");
  git(src, "tag", "v1");
  const v1 = git(src, "rev-parse", "HEAD").trim();
  fs.writeFileSync(`${src}/README`, "v2\n");
  git(src, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-am", "two");
  fs.mkdirSync(projectRoot);
  git(t.base, "clone", "-q", "--bare", src, `${projectRoot}/repo.git`);
  const server = await startGitServer({ projectRoot });
  try {
    const url = `${server.url}/repo.git`;
    await addInto({ srcRoot: t.ctx, sources: [url], dest: "/main/", destRoot: t.root, tmpDir: t.base });
    assertEquals(fs.readFileSync(`${t.root}/main/README`, "utf8"), "v2\n");
    assert(!fs.existsSync(`${t.root}/main/.git`));
    await addInto({ srcRoot: t.ctx, sources: [`${url}#v1:docs`], dest: "/docs", destRoot: t.root, tmpDir: t.base });
    assertEquals(fs.readFileSync(`${t.root}/docs/guide.md`, "utf8"), "guide\n");
    await addInto({
      srcRoot: t.ctx,
      sources: [`${url}#v1`],
      dest: "/kept/",
      destRoot: t.root,
      keepGitDir: true,
      checksum: v1.slice(0, 12),
      tmpDir: t.base,
    });
    assertEquals(fs.readFileSync(`${t.root}/kept/README`, "utf8"), "v1\n");
    assert(fs.existsSync(`${t.root}/kept/.git`));
    // the kept .git is a usable repository at the tagged commit
    assertEquals(git(`${t.root}/kept`, "-c", "safe.directory=*", "rev-parse", "HEAD").trim(), v1);
    // git's modes (644, 755 for executables and directories), whatever the umask
    const mask = Deno.umask(0o077);
    try {
      await addInto({ srcRoot: t.ctx, sources: [url], dest: "/modes/", destRoot: t.root, tmpDir: t.base });
    } finally {
      Deno.umask(mask);
    }
    assertEquals(
      ["/modes", "/modes/README", "/modes/docs", "/modes/docs/run.sh"].map((p) =>
        fs.statSync(`${t.root}${p}`).mode & 0o7777
      ),
      [0o755, 0o644, 0o755, 0o755],
    );
    // an abbreviated commit sha as the ref
    await addInto({ srcRoot: t.ctx, sources: [`${url}#${v1.slice(0, 10)}`], dest: "/short/", destRoot: t.root });
    assertEquals(fs.readFileSync(`${t.root}/short/README`, "utf8"), "v1\n");
    await assertRejects(
      () =>
        addInto({
          srcRoot: t.ctx,
          sources: [`${url}#v1`],
          dest: "/bad/",
          destRoot: t.root,
          checksum: "deadbeef",
          tmpDir: t.base,
          location: "Dockerfile:5",
        }),
      KilnError,
      "Dockerfile:5: ADD: checksum mismatch",
    );
  } finally {
    await server.close();
    t.cleanup();
  }
});

Deno.test("addInto() clones private git repositories with GIT_USERNAME/GIT_PASSWORD or GIT_TOKEN", {
  ignore: skipUnless("addInto git auth", "git"),
}, async () => {
  const { git, startGitServer } = await import("../../fixtures/git_server.ts");
  const t = setup();
  const src = `${t.base}/src`;
  fs.mkdirSync(src);
  git(src, "init", "-q", "-b", "main");
  fs.writeFileSync(`${src}/secret.txt`, "private\n");
  git(src, "add", ".");
  git(src, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "one");
  fs.mkdirSync(`${t.base}/repos/private`, { recursive: true });
  git(t.base, "clone", "-q", "--bare", src, `${t.base}/repos/private/repo.git`);
  const server = await startGitServer({ projectRoot: `${t.base}/repos` });
  try {
    const url = `${server.url}/private/repo.git#main`;
    const add = (dest: string, gitEnv?: Record<string, string>) =>
      addInto({
        srcRoot: t.ctx,
        sources: [url],
        dest,
        destRoot: t.root,
        tmpDir: t.base,
        location: "Dockerfile:3",
        ...(gitEnv ? { gitEnv } : {}),
      });
    await add("/a/", { GIT_USERNAME: "kiln", GIT_PASSWORD: "s3cret" });
    assertEquals(fs.readFileSync(`${t.root}/a/secret.txt`, "utf8"), "private\n");
    await add("/b/", { GIT_USERNAME: "kiln", GIT_TOKEN: "s3cret" });
    assertEquals(fs.readFileSync(`${t.root}/b/secret.txt`, "utf8"), "private\n");
    await assertRejects(() => add("/c/"), KilnError, "Dockerfile:3: ADD: cannot clone");
    const e = await assertRejects(() => add("/c/"), KilnError, "credentials required (GIT_USERNAME/GIT_PASSWORD");
    assert(!e.message.includes("\n"));
    const wrong = await assertRejects(
      () => add("/d/", { GIT_USERNAME: "kiln", GIT_PASSWORD: "wrong" }),
      KilnError,
      "the server rejected the credentials",
    );
    assert(!wrong.message.includes("wrong"), wrong.message);
    assert(!fs.existsSync(`${t.root}/c`) && fs.readdirSync(t.base).every((n) => !n.startsWith(".kiln-git-")));
  } finally {
    await server.close();
    t.cleanup();
  }
});
