/**
 * Tar archives: a streaming, deterministic USTAR/PAX writer and a streaming reader (PAX, GNU long names, base-256).
 *
 * ```ts
 * import { readTar, TarWriterStream } from "./mod.ts";
 * const tar = ReadableStream.from([
 *   { header: { path: "hello", type: "file" as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 5 },
 *     body: new Blob(["world"]).stream() },
 * ]).pipeThrough(new TarWriterStream());
 * for await (const e of readTar(tar)) console.log(e.header.path, await new Response(e.body).text());
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./errors.ts";
export * from "./writer.ts";
export * from "./reader.ts";
