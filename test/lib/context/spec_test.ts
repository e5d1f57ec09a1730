import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { ContextError, parseContextSpec, parseGitOptions, redact } from "../../../lib/context/mod.ts";
import { UsageError } from "../../../lib/util/errors.ts";

Deno.test("parseContextSpec() picks the source by scheme", () => {
  assertEquals(parseContextSpec("/workspace"), { kind: "dir", path: "/workspace" });
  assertEquals(parseContextSpec("rel/dir"), { kind: "dir", path: "rel/dir" });
  assertEquals(parseContextSpec("dir:///ws"), { kind: "dir", path: "/ws" });
  assertEquals(parseContextSpec("tar:///tmp/c.tar.gz"), { kind: "tar", path: "/tmp/c.tar.gz" });
  assertEquals(parseContextSpec("tar://stdin"), { kind: "stdin" });
  assertEquals(parseContextSpec("s3://b/dir/c.tar.gz"), { kind: "s3", bucket: "b", key: "dir/c.tar.gz" });
  assertEquals(parseContextSpec("s3://b"), { kind: "s3", bucket: "b", key: "context.tar.gz" });
  assertEquals(parseContextSpec("gs://b/c.tar.gz"), { kind: "gcs", bucket: "b", object: "c.tar.gz" });
  assertEquals(parseContextSpec("https://example.com/c.tar.gz"), {
    kind: "https",
    url: "https://example.com/c.tar.gz",
  });
  assertEquals(parseContextSpec("http://127.0.0.1:8/c.tar.gz"), { kind: "https", url: "http://127.0.0.1:8/c.tar.gz" });
});

Deno.test("parseContextSpec() reads git URLs the way kaniko and BuildKit write them", () => {
  assertEquals(parseContextSpec("git://github.com/o/r.git"), { kind: "git", url: "https://github.com/o/r.git" });
  assertEquals(parseContextSpec("git://github.com/o/r.git#refs/heads/dev"), {
    kind: "git",
    url: "https://github.com/o/r.git",
    ref: "refs/heads/dev",
  });
  assertEquals(parseContextSpec("git://h/o/r#refs/pull/1/head#0123456789012345678901234567890123456789"), {
    kind: "git",
    url: "https://h/o/r",
    ref: "refs/pull/1/head",
    commit: "0123456789012345678901234567890123456789",
  });
  assertEquals(parseContextSpec("git://h/o/r.git#v1:sub/dir", { GIT_PULL_METHOD: "http" }), {
    kind: "git",
    url: "http://h/o/r.git",
    ref: "v1",
    subdir: "sub/dir",
  });
  assertEquals(parseContextSpec("https://tok@h/o/r.git#main"), {
    kind: "git",
    url: "https://tok@h/o/r.git",
    ref: "main",
  });
  assertThrows(() => parseContextSpec("git://h/r", { GIT_PULL_METHOD: "ssh" }), ContextError, "GIT_PULL_METHOD");
});

Deno.test("parseContextSpec() recognises Azure hosts and a connection string's BlobEndpoint", () => {
  const s = parseContextSpec("https://acct.blob.core.windows.net/ctr/dir/c.tar.gz");
  assertEquals(s, {
    kind: "azure",
    url: "https://acct.blob.core.windows.net/ctr/dir/c.tar.gz",
    account: "acct",
    container: "ctr",
    blob: "dir/c.tar.gz",
    endpoint: "https://acct.blob.core.windows.net",
  });
  assertEquals(parseContextSpec("https://a.blob.core.chinacloudapi.cn/c/b.tgz").kind, "azure");
  assertEquals(parseContextSpec("https://a.blob.core.usgovcloudapi.net/c/b.tgz").kind, "azure");
  const env = {
    AZURE_STORAGE_CONNECTION_STRING:
      "AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:10500/devstoreaccount1;",
  };
  const e = parseContextSpec("http://127.0.0.1:10500/devstoreaccount1/ctr/c.tar.gz", env);
  assert(e.kind === "azure");
  assertEquals([e.account, e.container, e.blob], ["devstoreaccount1", "ctr", "c.tar.gz"]);
  // without the connection string, the same URL is a plain tarball download
  assertEquals(parseContextSpec("http://127.0.0.1:10500/devstoreaccount1/ctr/c.tar.gz").kind, "https");
  assertThrows(() => parseContextSpec("https://acct.blob.core.windows.net/ctr"), ContextError, "CONTAINER/BLOB");
});

Deno.test("parseContextSpec() rejects unknown schemes with a usage error", () => {
  const e = assertThrows(() => parseContextSpec("ftp://h/c.tar"), ContextError, 'unknown scheme "ftp://"');
  assertEquals(e.exitCode, 2);
  assertEquals(e.message.split("\n").length, 1);
  assertThrows(() => parseContextSpec(""), ContextError, "empty context");
  assertThrows(() => parseContextSpec("s3://"), ContextError, "missing bucket");
});

Deno.test("parseGitOptions() parses kaniko's --git values", () => {
  assertEquals(
    parseGitOptions(["branch=dev", "single-branch=true,recurse-submodules=true", "insecure-skip-tls=false"]),
    {
      branch: "dev",
      singleBranch: true,
      recurseSubmodules: true,
      insecureSkipTls: false,
    },
  );
  assertThrows(() => parseGitOptions(["depth=1"]), UsageError, 'Invalid --git key "depth"');
  assertThrows(() => parseGitOptions(["single-branch=maybe"]), UsageError, "expected true or false");
  assertThrows(() => parseGitOptions(["branch"]), UsageError, "expected key=value");
});

Deno.test("redact() hides credentials in URLs", () => {
  assertEquals(redact("cannot clone https://user:pw@h/r.git"), "cannot clone https://***@h/r.git");
  assertEquals(redact("https://h/r.git"), "https://h/r.git");
});
