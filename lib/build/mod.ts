/**
 * @deprecated lib/build moved to lib/executor; import from lib/executor/mod.ts. This path is kept for one release
 * (see CHANGELOG.md).
 *
 * @module
 */
export * from "../executor/mod.ts";
