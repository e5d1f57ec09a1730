/**
 * A small command-line flag parser with kaniko's conventions: `--flag`, `--flag=value`, `--flag value`,
 * booleans as `--flag`, `--flag=true`, `--flag=false`, repeatable flags, aliases (old camelCase names),
 * and single-letter short forms. Unknown flags are usage errors.
 *
 * `node:util` parseArgs cannot take `--cache=true` for a boolean, which kaniko's documentation uses
 * everywhere, so kiln carries this parser instead.
 *
 * @module
 */
import { UsageError } from "../lib/util/mod.ts";

/** How one flag is declared. */
export interface FlagSpec {
  /** Canonical kebab-case name, without dashes. */
  name: string;
  /** `boolean` takes no value (or `=true|false`), `string` one value (last wins), `list` repeats. */
  type: "boolean" | "string" | "list";
  /** One-letter short form. */
  short?: string;
  /** Other accepted names (e.g. kaniko's camelCase spellings). */
  aliases?: readonly string[];
  /** Help text. */
  help: string;
  /** Placeholder for the value in help, e.g. `PATH`. */
  value?: string;
  /** Default shown in help. */
  default?: string;
  /** Environment variable consulted when the flag is absent. */
  env?: string;
  /** Hidden from help (still accepted). */
  hidden?: boolean;
}

/** Parsed flags keyed by canonical name, plus positional arguments. */
export interface ParsedFlags {
  /** boolean → boolean, string → string, list → string[] (only flags that were given or came from env). */
  values: Record<string, boolean | string | string[]>;
  /** Positional arguments in order. */
  positionals: string[];
}

function parseBool(name: string, v: string): boolean {
  const l = v.toLowerCase();
  if (["true", "1", "yes", "t"].includes(l)) return true;
  if (["false", "0", "no", "f"].includes(l)) return false;
  throw new UsageError(`Invalid value for --${name}: "${v}" (expected true or false)`);
}

/**
 * Parses `args` against `specs`.
 *
 * @param args Command-line words after the subcommand.
 * @param specs Declared flags.
 * @param env Environment, for flags with an `env` fallback.
 * @returns Values and positionals.
 *
 * @example Usage
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const r = parseFlags(["--no-push=true", "-d", "a", "--destination=b"], [
 *   { name: "no-push", type: "boolean", help: "" },
 *   { name: "destination", short: "d", type: "list", help: "" },
 * ]);
 * console.assert(r.values["no-push"] === true);
 * ```
 */
export function parseFlags(
  args: readonly string[],
  specs: readonly FlagSpec[],
  env: Readonly<Record<string, string | undefined>> = {},
): ParsedFlags {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    for (const a of s.aliases ?? []) byName.set(a, s);
    if (s.short) byName.set(s.short, s);
  }
  const values: Record<string, boolean | string | string[]> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf("=");
    const key = eq >= 0 ? body.slice(0, eq) : body;
    let inline: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    let spec = (long || key.length === 1) ? byName.get(key) : undefined;
    if (!long && key.length > 1 && !spec) {
      // -dVALUE short form with attached value
      spec = byName.get(key[0]!);
      if (spec && spec.short === key[0] && spec.type !== "boolean") inline = body.slice(1);
      else spec = undefined;
    }
    if (!spec) throw new UsageError(`Unknown flag: ${long ? "--" : "-"}${key}`);
    if (spec.type === "boolean") {
      values[spec.name] = inline === undefined ? true : parseBool(spec.name, inline);
      continue;
    }
    let v = inline;
    if (v === undefined) {
      if (i + 1 >= args.length) throw new UsageError(`Flag --${spec.name} needs a value`);
      v = args[++i]!;
    }
    if (spec.type === "string") values[spec.name] = v;
    else {
      const prev = values[spec.name];
      values[spec.name] = Array.isArray(prev) ? [...prev, v] : [v];
    }
  }
  for (const s of specs) {
    if (values[s.name] !== undefined || !s.env) continue;
    const e = env[s.env];
    if (e === undefined || e === "") continue;
    values[s.name] = s.type === "boolean" ? parseBool(s.name, e) : s.type === "list" ? e.split(",") : e;
  }
  return { values, positionals };
}

/**
 * Renders help for a command's flags, one per line, aligned.
 *
 * @param specs Declared flags.
 * @returns Help text.
 *
 * @example Usage
 * ```ts
 * import { formatFlagHelp } from "./flags.ts";
 * console.assert(formatFlagHelp([{ name: "x", type: "boolean", help: "do x" }]).includes("--x"));
 * ```
 */
export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.filter((s) => !s.hidden).map((s) => {
    const names = [s.short ? `-${s.short}, ` : "    ", `--${s.name}`].join("");
    const val = s.type === "boolean" ? "" : `=${s.value ?? "VALUE"}`;
    const extra: string[] = [];
    if (s.type === "list") extra.push("repeatable");
    if (s.aliases?.length) extra.push(`alias ${s.aliases.map((a) => "--" + a).join(", ")}`);
    if (s.env) extra.push(`env ${s.env}`);
    if (s.default !== undefined) extra.push(`default ${s.default}`);
    return [names + val, s.help + (extra.length ? ` (${extra.join("; ")})` : "")] as const;
  });
  const w = Math.min(44, Math.max(0, ...rows.map(([a]) => a.length)));
  return rows.map(([a, b]) => `  ${a.padEnd(w)}  ${b}`).join("\n");
}

/**
 * Reads a string flag from parsed values.
 *
 * @param v Parsed values.
 * @param name Flag name.
 * @returns The string or undefined.
 *
 * @example Usage
 * ```ts
 * import { str } from "./flags.ts";
 * console.assert(str({ a: "x" }, "a") === "x");
 * ```
 */
export function str(v: ParsedFlags["values"], name: string): string | undefined {
  const x = v[name];
  return typeof x === "string" ? x : undefined;
}

/**
 * Reads a list flag from parsed values (empty if absent).
 *
 * @param v Parsed values.
 * @param name Flag name.
 * @returns The list.
 *
 * @example Usage
 * ```ts
 * import { list } from "./flags.ts";
 * console.assert(list({}, "a").length === 0);
 * ```
 */
export function list(v: ParsedFlags["values"], name: string): string[] {
  const x = v[name];
  return Array.isArray(x) ? x : [];
}

/**
 * Reads a boolean flag from parsed values (false if absent).
 *
 * @param v Parsed values.
 * @param name Flag name.
 * @returns The boolean.
 *
 * @example Usage
 * ```ts
 * import { bool } from "./flags.ts";
 * console.assert(bool({ a: true }, "a"));
 * ```
 */
export function bool(v: ParsedFlags["values"], name: string): boolean {
  return v[name] === true;
}

/**
 * A string flag's spec (`--name VALUE`).
 *
 * @param name Canonical kebab-case name.
 * @param help Help text.
 * @param extra Short form, aliases, value placeholder, default, env.
 * @returns The spec.
 */
export const S = (name: string, help: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({
  name,
  type: "string",
  help,
  ...extra,
});

/**
 * A boolean flag's spec (`--name`, `--name=false`).
 *
 * @param name Canonical kebab-case name.
 * @param help Help text.
 * @param extra Short form, aliases, env.
 * @returns The spec.
 */
export const B = (name: string, help: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({
  name,
  type: "boolean",
  help,
  ...extra,
});

/**
 * A repeatable flag's spec (`--name A --name B`).
 *
 * @param name Canonical kebab-case name.
 * @param help Help text.
 * @param extra Short form, aliases, value placeholder, env.
 * @returns The spec.
 */
export const L = (name: string, help: string, extra: Partial<FlagSpec> = {}): FlagSpec => ({
  name,
  type: "list",
  help,
  ...extra,
});
