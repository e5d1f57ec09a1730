/**
 * `resolveDockerfile()`: finds the Dockerfile given by `--dockerfile` (relative to the context, absolute, or an
 * http(s) URL) and the `.dockerignore` that goes with it.
 *
 * @module
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { Writable } from "node:stream";
import { createWriteStream } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { KilnError } from "../util/mod.ts";
import { redact } from "./errors.ts";
import { download } from "./https.ts";
import { contextPath, fileKind, relativeToContext } from "./_in_context.ts";

/** Options for {@linkcode resolveDockerfile}. */
export interface ResolveDockerfileOptions {
  /** Where a downloaded Dockerfile is stored (a fresh `dockerfile-XXXXXX` directory). */
  workDir: string;
  /** Also try a relative path against this directory when it is not found in the context (kaniko tries both). */
  cwd?: string;
  /** Cancels a download. */
  signal?: AbortSignal;
  /** The fetch used for URLs (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** The Dockerfile to build. */
export interface ResolvedDockerfile {
  /** Absolute path of the Dockerfile (for one in the context: with its symlinks resolved inside the context). */
  path: string;
  /** `<Dockerfile>.dockerignore` if it exists, else `<context>/.dockerignore` if it exists (resolved likewise). */
  ignoreFile?: string;
  /** Removes a downloaded Dockerfile (no-op otherwise). */
  cleanup(): Promise<void>;
}

async function isFile(path: string): Promise<boolean> {
  return (await fileKind(path)) === "file";
}

/** `path` opened as kiln opens it (see lib/context/_in_context.ts), or undefined when it is no regular file. */
async function findFile(contextDir: string, path: string): Promise<string | undefined> {
  let host: string;
  try {
    host = contextPath(contextDir, path).host;
  } catch {
    return undefined; // e.g. a symlink loop in the context: no such file
  }
  return (await isFile(host)) ? host : undefined;
}

/**
 * Finds the Dockerfile named by `--dockerfile`. An `http(s)://` URL is downloaded into `workDir`; an absolute
 * path is used as is; a relative path is looked up in the context, then (if `cwd` is given) in `cwd`. A path
 * inside the context (and its `.dockerignore`) is resolved like a COPY source: symlinks are followed only within
 * the context, as if it were `/`, so the returned `path` is always inside it. Throws a KilnError (exit code 2)
 * naming the places tried when there is no such file.
 *
 * @param spec The `--dockerfile` value (kaniko's default is `Dockerfile`).
 * @param contextDir The resolved context directory.
 * @param options Work directory, cwd, signal, fetch.
 * @returns The Dockerfile path, its ignore file and a cleanup.
 *
 * @example Usage
 * ```ts ignore
 * import { resolveDockerfile } from "./dockerfile.ts";
 * const df = await resolveDockerfile("docker/Dockerfile.prod", "/workspace", { workDir: "/tmp/kiln" });
 * console.log(df.path, df.ignoreFile);
 * ```
 */
export async function resolveDockerfile(
  spec: string,
  contextDir: string,
  options: ResolveDockerfileOptions,
): Promise<ResolvedDockerfile> {
  const ignoreFor = async (path: string): Promise<string | undefined> =>
    (await findFile(contextDir, `${path}.dockerignore`)) ??
      (await findFile(contextDir, join(contextDir, ".dockerignore")));
  if (/^https?:\/\//i.test(spec)) {
    const shown = redact(spec);
    await mkdir(options.workDir, { recursive: true });
    const dir = await mkdtemp(join(options.workDir, "dockerfile-"));
    const cleanup = () => rm(dir, { recursive: true, force: true });
    try {
      const res = await download(spec, `Dockerfile ${shown}`, {
        ...(options.fetch ? { fetch: options.fetch } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const path = join(dir, "Dockerfile");
      await res.body!.pipeTo(Writable.toWeb(createWriteStream(path)) as WritableStream<Uint8Array>);
      const ctxIgnore = await findFile(contextDir, join(contextDir, ".dockerignore"));
      return { path, ...(ctxIgnore ? { ignoreFile: ctxIgnore } : {}), cleanup };
    } catch (e) {
      await cleanup();
      if (e instanceof KilnError) {
        throw new KilnError(e.message.replace("Cannot fetch build context Dockerfile", "Cannot download Dockerfile"), {
          cause: e,
        });
      }
      throw e;
    }
  }
  const tried: string[] = [];
  const candidates = isAbsolute(spec)
    ? [spec]
    : [...new Set([resolve(contextDir, spec), ...(options.cwd ? [resolve(options.cwd, spec)] : [])])];
  for (const c of candidates) {
    // A path in the context is read like a COPY source: its symlinks cannot lead out of the context.
    const rel = relativeToContext(contextDir, c);
    tried.push(rel === undefined ? c : `${rel || "."} in the build context`);
    const path = await findFile(contextDir, c);
    if (path) {
      const ignoreFile = await ignoreFor(path);
      return { path, ...(ignoreFile ? { ignoreFile } : {}), cleanup: async () => {} };
    }
  }
  throw new KilnError(`Cannot find Dockerfile "${spec}": no such file (tried ${tried.join(", ")})`, { exitCode: 2 });
}
