import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { assertEquals } from "../../assert.ts";
import { loadAwsConfig, parseIni } from "../../../lib/context/_aws_config.ts";
import { tempDir } from "../../fixtures/temp.ts";

Deno.test("loadAwsConfig() reads the environment, then the profile in the shared files", async () => {
  const dir = tempDir("kiln-aws-");
  try {
    await writeFile(
      join(dir, "credentials"),
      "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n[ci]\naws_access_key_id=C\naws_secret_access_key=CS\naws_session_token=T\n",
    );
    await writeFile(join(dir, "config"), "[default]\nregion = eu-west-1\n[profile ci]\nregion=ap-south-1\n");
    const files = { AWS_SHARED_CREDENTIALS_FILE: join(dir, "credentials"), AWS_CONFIG_FILE: join(dir, "config") };
    assertEquals(await loadAwsConfig(files), {
      profile: "default",
      region: "eu-west-1",
      credentials: { accessKeyId: "D", secretAccessKey: "DS" },
    });
    assertEquals(await loadAwsConfig({ ...files, AWS_PROFILE: "ci" }), {
      profile: "ci",
      region: "ap-south-1",
      credentials: { accessKeyId: "C", secretAccessKey: "CS", sessionToken: "T" },
    });
    assertEquals(
      await loadAwsConfig({ ...files, AWS_ACCESS_KEY_ID: "E", AWS_SECRET_ACCESS_KEY: "ES", AWS_REGION: "us-west-2" }),
      { profile: "default", region: "us-west-2", credentials: { accessKeyId: "E", secretAccessKey: "ES" } },
    );
    // HOME/.aws is the default location; nothing there means the SDK chain decides
    assertEquals(await loadAwsConfig({ HOME: dir }), { profile: "default" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("parseIni() reads sections and ignores comments", () => {
  assertEquals(parseIni("# c\n[a]\nK = v\n; x\n[b c]\nk2=v=2\n"), { a: { k: "v" }, "b c": { k2: "v=2" } });
});
