/**
 * Private: reads AWS region and static credentials from the passed-in environment and the shared
 * `credentials`/`config` files, the way the AWS CLI does, without touching `process.env`.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ContextEnv } from "./types.ts";

/** Static AWS credentials. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What {@linkcode loadAwsConfig} found. */
export interface AwsConfig {
  /** Region, if configured anywhere. */
  region?: string;
  /** Static credentials, if configured; otherwise the SDK's default chain is used. */
  credentials?: AwsCredentials;
  /** The profile name in effect. */
  profile: string;
}

/**
 * Parses an INI file into sections of key/value pairs (keys lower-cased).
 *
 * @param text File content.
 * @returns Sections by name.
 */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let cur: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+|\s+$/g, "");
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const sec = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (sec) {
      cur = out[sec[1]!] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (eq > 0 && cur) cur[line.slice(0, eq).trim().toLowerCase()] = line.slice(eq + 1).trim();
  }
  return out;
}

async function readIni(path: string | undefined): Promise<Record<string, Record<string, string>>> {
  if (!path) return {};
  try {
    return parseIni(await readFile(path, "utf8"));
  } catch {
    return {};
  }
}

function staticCreds(s: Record<string, string> | undefined): AwsCredentials | undefined {
  if (!s?.aws_access_key_id || !s.aws_secret_access_key) return undefined;
  return {
    accessKeyId: s.aws_access_key_id,
    secretAccessKey: s.aws_secret_access_key,
    ...(s.aws_session_token ? { sessionToken: s.aws_session_token } : {}),
  };
}

/**
 * Resolves region and static credentials: environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 * `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_DEFAULT_REGION`), then the profile (`AWS_PROFILE`, default `default`)
 * in `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`) and `AWS_CONFIG_FILE` (default `~/.aws/config`).
 *
 * @param env Environment.
 * @returns Region, credentials and profile.
 */
export async function loadAwsConfig(env: ContextEnv): Promise<AwsConfig> {
  const profile = env.AWS_PROFILE ?? env.AWS_DEFAULT_PROFILE ?? "default";
  const home = env.HOME;
  const credFile = env.AWS_SHARED_CREDENTIALS_FILE ?? (home ? join(home, ".aws", "credentials") : undefined);
  const confFile = env.AWS_CONFIG_FILE ?? (home ? join(home, ".aws", "config") : undefined);
  const [creds, conf] = await Promise.all([readIni(credFile), readIni(confFile)]);
  const confSection = conf[profile === "default" ? "default" : `profile ${profile}`] ?? conf[profile];
  let credentials: AwsCredentials | undefined;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  } else {
    credentials = staticCreds(creds[profile]) ?? staticCreds(confSection);
  }
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? confSection?.region;
  return { profile, ...(region ? { region } : {}), ...(credentials ? { credentials } : {}) };
}
