/**
 * Leaf utilities shared by every kiln module: errors, digests, logging, atomic output files, lexical paths, the
 * platform model, `exists()` and credential redaction for messages. lib/util imports nothing else from kiln.
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
