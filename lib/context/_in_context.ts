/**
 * Private: reads files kiln itself takes from the build context (the Dockerfile, `.dockerignore`) the way COPY
 * reads its sources: symlinks are followed only inside the context, as if it were `/` (absolute targets restart
 * at the context root, `..` stops there), so a context cannot make kiln read a host file such as
 * `/proc/self/environ`.
 *
 * @module
 */
import { stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { resolveInRootSync } from "../fs/mod.ts";

/** A path as kiln should open it. */
export interface ContextPath {
  /** Host path to open: inside the context when `rel` is set, else the path as given. */
  host: string;
  /** Lexical path relative to the context (`/`-separated) when the given path is inside it. */
  rel?: string;
}

/**
 * The lexical context-relative path of `path`, or undefined when `path` is not inside `contextDir`.
 *
 * @param contextDir Context directory.
 * @param path Absolute host path.
 * @returns `a/b` for `<contextDir>/a/b`, `""` for the context itself.
 */
export function relativeToContext(contextDir: string, path: string): string | undefined {
  const rel = relative(resolve(contextDir), resolve(path));
  if (rel === "..") return undefined;
  if (rel.startsWith("../") || isAbsolute(rel)) return undefined;
  return rel;
}

/**
 * Where kiln should open `path`: a path lexically inside `contextDir` is resolved within the context (symlinks
 * confined to it); any other path (an absolute `--dockerfile` elsewhere, one in the current directory) is the
 * user's own choice and is returned unchanged.
 *
 * @param contextDir Context directory.
 * @param path Absolute host path.
 * @returns The host path to open and, for context paths, the context-relative name for messages.
 */
export function contextPath(contextDir: string, path: string): ContextPath {
  const rel = relativeToContext(contextDir, path);
  if (rel === undefined) return { host: path };
  return { host: resolveInRootSync(resolve(contextDir), rel).hostPath, rel };
}

/**
 * The kind of file at `host` (followed), or undefined when there is none.
 *
 * @param host Host path.
 * @returns `file`, `dir`, `other` or undefined.
 */
export async function fileKind(host: string): Promise<"file" | "dir" | "other" | undefined> {
  try {
    const st = await stat(host);
    return st.isFile() ? "file" : st.isDirectory() ? "dir" : "other";
  } catch {
    return undefined;
  }
}
