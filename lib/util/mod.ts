/**
 * Leaf utilities shared by every kiln module: errors, digests, logging.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./digest.ts";
export * from "./logger.ts";
