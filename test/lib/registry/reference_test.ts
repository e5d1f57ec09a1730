import { assertEquals, assertThrows } from "../../assert.ts";
import { formatReference, parseReference, ReferenceSyntaxError } from "../../../lib/registry/mod.ts";

const D = `sha256:${"0123456789abcdef".repeat(4)}`;

Deno.test("parseReference() normalises like Docker", () => {
  const cases: [string, string][] = [
    ["busybox", "docker.io/library/busybox:latest"],
    ["busybox:1.36", "docker.io/library/busybox:1.36"],
    ["library/busybox", "docker.io/library/busybox:latest"],
    ["user/app", "docker.io/user/app:latest"],
    ["index.docker.io/busybox", "docker.io/library/busybox:latest"],
    ["docker.io/user/app:v1", "docker.io/user/app:v1"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/app", "localhost:5000/app:latest"],
    ["127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t"],
    ["gcr.io/p/img@" + D, "gcr.io/p/img@" + D],
    ["gcr.io/p/img:t@" + D, "gcr.io/p/img:t@" + D],
    ["my-registry.example.com:443/x_y/z.w__v-1:TAG_1.0", "my-registry.example.com:443/x_y/z.w__v-1:TAG_1.0"],
  ];
  for (const [input, want] of cases) assertEquals(formatReference(parseReference(input)), want, input);
  assertEquals(parseReference("busybox@" + D).tag, undefined);
});

Deno.test("parseReference() rejects bad references with the reason", () => {
  const bad: [string, string][] = [
    ["", "empty"],
    ["Busybox", "lowercase"],
    ["busybox:", "tag"],
    ["busybox:-x", "tag"],
    ["busybox@sha256:abc", "64"],
    ["busybox@md5:" + "a".repeat(32), "not supported"],
    ["host:99999/a", "port"],
    ["a//b", "invalid"],
    ["a b", "whitespace"],
    ["https://r.io/a", "scheme"],
    ["r.io/", "empty"],
  ];
  for (const [input, why] of bad) {
    const e = assertThrows(() => parseReference(input), ReferenceSyntaxError);
    if (!e.message.includes(why)) throw new Error(`${input}: ${e.message} lacks ${why}`);
  }
});
