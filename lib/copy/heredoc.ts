/**
 * `COPY <<EOF /path`: inline files from heredocs.
 *
 * @module
 */
import * as fsp from "node:fs/promises";
import { copyInto, parentOf } from "./copy.ts";
import type { CopyOptions, CopyResult } from "./types.ts";

/** One heredoc used as a COPY/ADD source: its delimiter name and its (already expanded) body. */
export interface InlineFile {
  /** The heredoc name (`EOF` in `<<EOF`); it is the file name when the destination is a directory. */
  name: string;
  /** The body, after `<<-` tab stripping and variable expansion (the parser/caller does both). */
  content: string;
}

/** Options of {@linkcode copyInlineFiles}. */
export interface CopyInlineOptions extends Omit<CopyOptions, "srcRoot" | "sources" | "ignore" | "parents"> {
  /** The heredoc sources, in order. */
  files: readonly InlineFile[];
  /** Scratch directory (default: the directory holding `destRoot`). */
  tmpDir?: string;
}

/**
 * Writes heredoc sources as files, BuildKit-style: each is a 0644 file named after its delimiter, then copied
 * with the usual COPY rules (`--chown`, `--chmod`, destination rules; several heredocs need a directory dest).
 *
 * @param options Files and destination.
 * @returns The rootfs paths that changed.
 *
 * @example Usage
 * ```ts ignore
 * import { copyInlineFiles } from "./heredoc.ts";
 * await copyInlineFiles({ files: [{ name: "EOF", content: "hello\n" }], dest: "/etc/motd", destRoot: "/work/rootfs" });
 * ```
 */
export async function copyInlineFiles(options: CopyInlineOptions): Promise<CopyResult> {
  const tmpDir = options.tmpDir ?? parentOf(options.destRoot.replace(/\/+$/, ""));
  const tmp = await fsp.mkdtemp(`${tmpDir}/.kiln-heredoc-`);
  try {
    const now = options.now ?? Date.now() / 1000;
    for (const f of options.files) {
      const p = `${tmp}/${f.name}`;
      await fsp.writeFile(p, f.content, { mode: 0o644 });
      await fsp.chmod(p, 0o644);
      await fsp.utimes(p, now, now);
    }
    const { files: _files, tmpDir: _t, ...rest } = options;
    return await copyInto({ ...rest, srcRoot: tmp, sources: options.files.map((f) => f.name) });
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}
