/**
 * Leaf utilities shared by every kiln module: errors, digests, logging, atomic output files, lexical paths, the
 * platform model, `exists()`, credential redaction for messages, `mapLimit()`, the addon loader and chunk pools for
 * layer streams. lib/util imports nothing else from kiln.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./digest.ts";
export * from "./logger.ts";
export * from "./atomic_file.ts";
export * from "./path.ts";
export * from "./platform.ts";
export * from "./exists.ts";
export * from "./redact.ts";
export * from "./map_limit.ts";
export * from "./process.ts";
export * from "./addon.ts";
export * from "./chunk_pool.ts";
export * from "./file_stream.ts";
export * from "./format.ts";
