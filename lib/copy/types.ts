/**
 * Types of the COPY/ADD engine.
 *
 * @module
 */

/** A numeric owner, already resolved by the caller (in the destination rootfs, for `--chown`). */
export interface CopyOwner {
  /** User id. */
  uid: number;
  /** Group id. */
  gid: number;
}

/**
 * Decides whether a context path is left out (`.dockerignore`). `path` is relative to the source root,
 * `/`-separated, without a leading `/`. Any object with this method fits (lib/context's matcher, or
 * {@linkcode compilePatterns} from ./glob.ts).
 */
export interface PathMatcher {
  /** True if the path is excluded. */
  matches(path: string): boolean;
  /**
   * Optional: true if the excluded directory `path` can be skipped whole (no `!` exception could re-include
   * anything below it). Without it, excluded directories are walked and left out when nothing in them is kept.
   */
  canSkipDir?(path: string): boolean;
}

/** Options shared by {@linkcode copyInto} and {@linkcode addInto}. */
export interface CopyOptions {
  /** Absolute host path the sources are read from: the context directory, a stage's rootfs or an extracted image. */
  srcRoot: string;
  /** Source paths or globs, already variable-expanded, relative to `srcRoot` (a leading `/` is the same). */
  sources: readonly string[];
  /** Destination as written (after expansion); a trailing `/` means a directory; relative to `workdir`. */
  dest: string;
  /** The stage's WORKDIR (default `/`). */
  workdir?: string;
  /** Absolute host path of the stage rootfs everything is written into (never escaped). */
  destRoot: string;
  /** `--chown`, resolved by the caller. Without it: 0:0, or the source owner when `keepOwnership` is set. */
  chown?: CopyOwner;
  /**
   * Keep the source files' uid/gid when there is no `--chown` (BuildKit does for `COPY --from=<stage|image>`;
   * context files are always 0:0). Default false.
   */
  keepOwnership?: boolean;
  /** `--chmod`: octal (`0644`) or symbolic (`u=rwX,go=rX`). */
  chmod?: string;
  /** `--parents`: keep each source's parent directories (from the root, or from a `./` pivot). */
  parents?: boolean;
  /** `--exclude` patterns (repeatable), `.dockerignore` syntax, matched relative to each source. */
  exclude?: readonly string[];
  /** `.dockerignore` matcher; only for context sources (paths relative to `srcRoot`). */
  ignore?: PathMatcher;
  /** `--link`: accepted; the copy is the same (kiln snapshots the paths it wrote either way). */
  link?: boolean;
  /** Instruction name for messages (default `COPY`). */
  instruction?: string;
  /** Where the instruction is, for messages, e.g. `Dockerfile:12`. */
  location?: string;
  /** What `srcRoot` is, for messages (default `the build context`). */
  srcDescription?: string;
  /** Modification time (seconds since the epoch) for directories the copy creates (default: now). */
  now?: number;
  /** Cancels the copy between files. */
  signal?: AbortSignal;
  /**
   * Collect {@linkcode CopyResult.changedPaths} (default true). A caller that snapshots the rootfs anyway passes
   * false: the list of a 200,000-file COPY costs ~20 MiB.
   */
  changedPaths?: boolean;
}

/** What a copy changed. */
export interface CopyResult {
  /** Every path created or modified, absolute inside the rootfs (`/app/x`), parents before children (empty when
   * {@linkcode CopyOptions.changedPaths} is false). */
  changedPaths: string[];
}
