/**
 * `kiln login REGISTRY -u USER (--password-stdin | -p PASSWORD)`: stores credentials in Docker's config.json
 * (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), as the kaniko fork's `executor login` does, so a CI
 * job can log in once and then build and push. Other registries' entries and every other key of the file are kept;
 * the file is replaced atomically and created with mode 0600. The credentials are not checked against the registry
 * (no network: a build or `kiln push` says which source it used when they are refused).
 *
 * @module
 */
import { mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type { CliCommand } from "../command.ts";
import { bool, type FlagSpec, parseFlags, str } from "../flags.ts";
import { KilnError, UsageError, writeFileAtomic } from "../../lib/util/mod.ts";
import { DOCKER_HUB, normalizeRegistry } from "../../lib/registry/mod.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "username", short: "u", type: "string", value: "USER", help: "User name" },
  { name: "password", short: "p", type: "string", value: "PASSWORD", help: "Password (prefer --password-stdin)" },
  { name: "password-stdin", type: "boolean", help: "Read the password from standard input" },
];

/** `kiln login`. */
export const loginCommand: CliCommand = {
  name: "login",
  summary: "Store registry credentials in Docker's config.json (kaniko fork's executor login)",
  usage: 'kiln login [flags] REGISTRY   e.g. echo "$TOKEN" | kiln login registry.example -u ci --password-stdin',
  flags: FLAGS,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, FLAGS, io.env);
    if (positionals.length !== 1) throw new UsageError("kiln login needs one REGISTRY (see kiln login --help)");
    const username = str(values, "username");
    if (!username) throw new UsageError("kiln login: --username is required");
    let password = str(values, "password");
    const fromStdin = bool(values, "password-stdin");
    if (password !== undefined && fromStdin) {
      throw new UsageError("kiln login: give --password or --password-stdin, not both");
    }
    if (fromStdin) password = (await new Response(io.stdin()).text()).replace(/\r?\n$/, "");
    if (!password) {
      throw new UsageError(
        fromStdin
          ? "kiln login: the password read from stdin is empty"
          : "kiln login: give the password with --password-stdin (or --password)",
      );
    }
    const registry = normalizeRegistry(positionals[0]!.replace(/^[a-z]+:\/\//i, "").split("/")[0]!);
    const key = registry === DOCKER_HUB ? "https://index.docker.io/v1/" : registry;
    const dir = io.env.DOCKER_CONFIG || join(io.env.HOME ?? homedir(), ".docker");
    const path = join(dir, "config.json");
    let cfg: Record<string, unknown> = {};
    const text = await readFile(path, "utf8").catch((e) => {
      if ((e as { code?: string }).code === "ENOENT") return undefined;
      throw new KilnError(`Cannot read ${path}: ${(e as Error).message}`);
    });
    if (text !== undefined && text.trim() !== "") {
      try {
        cfg = JSON.parse(text);
      } catch {
        throw new KilnError(`Cannot update ${path}: it is not valid JSON`);
      }
    }
    const auths = { ...(cfg.auths as Record<string, unknown> | undefined) };
    auths[key] = { auth: Buffer.from(`${username}:${password}`).toString("base64") };
    cfg.auths = auths;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, JSON.stringify(cfg, null, "\t") + "\n", { what: "Docker config", mode: 0o600 });
    await io.stderr(`Login for ${registry} saved in ${path}\n`);
    return 0;
  },
};
