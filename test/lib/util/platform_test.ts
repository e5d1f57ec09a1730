import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { formatPlatform, KilnError, parsePlatform, parsePlatformSpec } from "../../../lib/util/mod.ts";
import * as image from "../../../lib/image/mod.ts";
import * as dockerfile from "../../../lib/dockerfile/mod.ts";
import * as oldDockerfile from "../../../lib/dockerfile/platform.ts";

Deno.test("parsePlatform() takes os/arch[/variant] as written and throws a usage error otherwise", () => {
  assertEquals(parsePlatform("linux/arm64/v8"), { os: "linux", architecture: "arm64", variant: "v8" });
  assertEquals(parsePlatform("linux/x86_64"), { os: "linux", architecture: "x86_64" });
  for (const bad of ["linux", "linux/", "a/b/c/d", "linux/am d64"]) {
    const e = assertThrows(() => parsePlatform(bad), KilnError);
    assertEquals(e.exitCode, 2);
  }
});

Deno.test("parsePlatformSpec() normalises like containerd and returns undefined when malformed", () => {
  assertEquals(parsePlatformSpec("linux/x86_64"), { os: "linux", architecture: "amd64" });
  assertEquals(parsePlatformSpec("arm", "freebsd"), { os: "freebsd", architecture: "arm", variant: "v7" });
  assertEquals(parsePlatformSpec("windows"), { os: "windows", architecture: "amd64" });
  assertEquals(parsePlatformSpec("linux//"), undefined);
  assertEquals(formatPlatform(parsePlatformSpec("macos/aarch64")!), "darwin/arm64");
});

Deno.test("one platform model: lib/image and lib/dockerfile export lib/util's functions", () => {
  assert(image.parsePlatform === parsePlatform);
  assert(image.formatPlatform === formatPlatform);
  assert(dockerfile.parsePlatformSpec === parsePlatformSpec);
  // The deprecated lib/dockerfile/platform.ts names still work.
  assertEquals(oldDockerfile.parsePlatform("linux/arm"), parsePlatformSpec("linux/arm"));
  assertEquals(oldDockerfile.formatPlatform({ os: "linux", architecture: "amd64" }), "linux/amd64");
});
