/**
 * Private: leaves paths out of one snapshot's changes — the targets of a RUN step's `--mount`s in in-place mode,
 * where a mount lives on the real `/` and what it showed (or the mount point kiln made for it) must not reach the
 * layer. The snapshotter's own ignore list is fixed for the whole build (a path added to it later would turn into a
 * whiteout), so the step's targets are taken out of that step's diff instead.
 *
 * @module
 */
import { lstat } from "node:fs/promises";
import type { DiffEntriesOptions, LayerDiff } from "../fs/mod.ts";
import type { TarEntry } from "../tar/mod.ts";
import { KilnError, readFileStream } from "../util/mod.ts";

/**
 * A view of `diff` without `paths` (image paths such as `/run/secrets/x`) and everything below them: no entries,
 * whiteouts or opaque markers for them (their changes are read once, from the diff's entry list, to count the rest). A hardlink whose first link was left out becomes a regular file (read from
 * `root`). `entryCount` and `contentBytes` stay those of `diff` (upper bounds; only used for logging).
 *
 * @param diff The snapshot's changes.
 * @param paths Image paths to leave out (absolute or relative to the rootfs).
 * @param root The rootfs on the host (where the snapshot was taken).
 * @param options `keepSelf`: drop only what is below each path, not the path itself.
 * @returns The filtered diff; `diff` itself when `paths` is empty.
 *
 * @example Usage
 * ```ts ignore
 * const diff = withoutPaths(await snapshotter.diff(), ["/run/secrets/token"], "/");
 * ```
 */
export function withoutPaths(
  diff: LayerDiff,
  paths: readonly string[],
  root: string,
  options: { keepSelf?: boolean } = {},
): LayerDiff {
  const drop = [...new Set(paths.map((p) => p.split("/").filter((c) => c !== "" && c !== ".").join("/")))];
  if (drop.length === 0) return diff;
  if (drop.includes("")) throw new KilnError("Cannot leave the root directory out of a snapshot (a RUN --mount on /)");
  // keepSelf: only what is below each path goes (VOLUME: the directory stays, what RUN writes in it does not).
  const under = options.keepSelf
    ? (p: string) => drop.some((d) => p.startsWith(d + "/"))
    : (p: string) => drop.some((d) => p === d || p.startsWith(d + "/"));
  const counts = { added: 0, modified: 0, deleted: 0, opaque: 0 };
  for (const c of diff.changes()) if (!under(c.path)) counts[c.kind]++;
  const empty = counts.added + counts.modified + counts.deleted + counts.opaque === 0;
  const base = root.replace(/\/+$/, "");
  return {
    empty,
    counts,
    entryCount: diff.entryCount,
    contentBytes: diff.contentBytes,
    *changes() {
      for (const c of diff.changes()) if (!under(c.path)) yield c;
    },
    entries(options?: DiffEntriesOptions): ReadableStream<TarEntry> {
      if (empty) return new ReadableStream<TarEntry>({ start: (c) => c.close() });
      const reader = diff.entries(options).getReader();
      // first link left out → the entry that now carries the content
      const moved = new Map<string, string>();
      return new ReadableStream<TarEntry>({
        async pull(controller) {
          for (;;) {
            const r = await reader.read();
            if (r.done) {
              controller.close();
              return;
            }
            const e = r.value;
            const h = e.header;
            if (under(changedPath(h.path))) {
              await e.body?.cancel();
              if (h.type === "file") moved.set(h.path, "");
              continue;
            }
            if (h.type === "hardlink" && h.linkname !== undefined && moved.has(h.linkname)) {
              const first = moved.get(h.linkname)!;
              if (first !== "") {
                controller.enqueue({ header: { ...h, linkname: first } });
                return;
              }
              moved.set(h.linkname, h.path);
              const host = `${base}/${h.path}`;
              const size = (await lstat(host)).size;
              const body = readFileStream(host);
              const { linkname: _l, ...rest } = h;
              controller.enqueue({ header: { ...rest, type: "file", size }, body });
              return;
            }
            controller.enqueue(e);
            return;
          }
        },
        cancel: (reason) => reader.cancel(reason),
      }, { highWaterMark: 0 });
    },
  };
}

/** The path an entry changes: a whiteout's target, an opaque marker's directory, else the entry's own path. */
function changedPath(entryPath: string): string {
  const p = entryPath.replace(/^\.?\/+/, "").replace(/\/+$/, "");
  const k = p.lastIndexOf("/");
  const dir = k < 0 ? "" : p.slice(0, k);
  const name = p.slice(k + 1);
  if (name === ".wh..wh..opq") return dir;
  if (name.startsWith(".wh.")) return (dir === "" ? "" : dir + "/") + name.slice(4);
  return p;
}
