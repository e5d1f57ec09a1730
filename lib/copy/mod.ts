/**
 * The COPY/ADD engine: BuildKit's file semantics for copying into a stage rootfs — globs, directories by content,
 * `--parents`, `--exclude`, `.dockerignore`, `--chown`/`--chmod` (octal and symbolic), destination rules, tar
 * auto-extraction, http(s) and git sources, heredoc files.
 *
 * ```ts ignore
 * import { addInto, copyInto } from "./mod.ts";
 * await copyInto({ srcRoot: "/ctx", sources: ["app"], dest: "/srv/", destRoot: "/work/rootfs" });
 * await addInto({ srcRoot: "/ctx", sources: ["base.tar.gz"], dest: "/", destRoot: "/work/rootfs" });
 * ```
 *
 * @module
 */
export * from "./types.ts";
export { copyInto, expandSource, resolveDest } from "./copy.ts";
export type { ResolvedSource } from "./copy.ts";
export { addInto, isGitSource, isTarArchive, isUrlSource, parseGitSource } from "./add.ts";
export type { AddOptions } from "./add.ts";
export { copyInlineFiles } from "./heredoc.ts";
export type { CopyInlineOptions, InlineFile } from "./heredoc.ts";
export { parseChmod } from "./chmod.ts";
export type { ChmodSpec } from "./chmod.ts";
export { BadPatternError, compilePatterns, hasGlobMeta, matchGlob } from "./glob.ts";
export type { PatternMatcher } from "./glob.ts";
export { resolveInRoot } from "./resolve.ts";
export type { ResolveInRootOptions } from "./resolve.ts";
