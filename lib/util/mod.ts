/**
 * Leaf utilities shared by every kiln module: errors, digests, logging, atomic output files.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./digest.ts";
export * from "./logger.ts";
export * from "./atomic_file.ts";
