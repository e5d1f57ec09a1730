/**
 * The `# syntax=` and `# check=` parser directives (and their build-arg overrides `BUILDKIT_SYNTAX`,
 * `BUILDKIT_DOCKERFILE_CHECK`) and the BuildKit-steering build args kiln does not act on.
 *
 * kiln has one built-in Dockerfile frontend and cannot run frontend images: `# syntax=docker/dockerfile:*` (and
 * `docker/dockerfile-upstream`) is accepted silently, any other frontend image gets a warning naming it. Of BuildKit's
 * build checks kiln runs `NoEmptyContinuation` and `ReservedStageName`; `# check=skip=` silences them and
 * `# check=error=true` makes them fail the build, and says that the other rules are not checked. A
 * `SOURCE_DATE_EPOCH` build arg warns too: kiln's timestamps come from `--reproducible`.
 *
 * @module
 */
import type { ParseResult } from "./ast.ts";
import { DockerfileError } from "./errors.ts";
import { KilnError } from "../util/errors.ts";

/** Parsed `# check=` options. */
export interface CheckOptions {
  /** Rules not to report: a set of PascalCase rule names, or `"all"`. */
  skip: Set<string> | "all";
  /** Failed checks fail the build. */
  error: boolean;
}

/** One build-check finding. */
export interface CheckFinding {
  /** Rule name, e.g. `NoEmptyContinuation`. */
  rule: string;
  /** 1-based line. */
  line: number;
  /** One-line message (without file and line). */
  message: string;
}

/** The build checks kiln runs (BuildKit rule names). */
export const KILN_CHECK_RULES: readonly string[] = ["NoEmptyContinuation", "ReservedStageName"];

/** BuildKit-steering build args that kiln accepts but does not act on. */
const IGNORED_BUILDKIT_ARGS = new Set([
  "BUILDKIT_BUILD_NAME",
  "BUILDKIT_CACHE_MOUNT_NS",
  "BUILDKIT_CONTEXT_KEEP_GIT_DIR",
  "BUILDKIT_INLINE_CACHE",
  "BUILDKIT_MULTI_PLATFORM",
  "BUILDKIT_SBOM_SCAN_CONTEXT",
  "BUILDKIT_SBOM_SCAN_STAGE",
]);

const DOCKERFILE_FRONTEND =
  /^(?:docker\.io\/)?docker\/dockerfile(?:-upstream)?(?::[\w][\w.-]*)?(?:@sha256:[0-9a-f]{64})?$/;

function parseBool(v: string): boolean | undefined {
  const l = v.toLowerCase();
  if (["1", "t", "true"].includes(l)) return true;
  if (["0", "f", "false"].includes(l)) return false;
  return undefined;
}

/**
 * Parses a `# check=` value (`skip=A,B|all;error=true;experimental=…`).
 *
 * @param value The directive's (or `BUILDKIT_DOCKERFILE_CHECK`'s) value.
 * @returns The options, or a string describing what is wrong.
 *
 * @example Usage
 * ```ts
 * import { parseCheckDirective } from "./frontend.ts";
 * const c = parseCheckDirective("skip=JSONArgsRecommended;error=true");
 * console.assert(typeof c !== "string" && c.error && c.skip !== "all" && c.skip.has("JSONArgsRecommended"));
 * ```
 */
export function parseCheckDirective(value: string): CheckOptions | string {
  const out: CheckOptions = { skip: new Set(), error: false };
  for (const part of value.split(";")) {
    const p = part.trim();
    if (p === "") continue;
    const eq = p.indexOf("=");
    if (eq < 0) return `expected key=value, got ${JSON.stringify(p)}`;
    const key = p.slice(0, eq).trim().toLowerCase();
    const v = p.slice(eq + 1).trim();
    if (key === "skip") {
      const names = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
      if (names.some((n) => n.toLowerCase() === "all")) out.skip = "all";
      else if (out.skip !== "all") { for (const n of names) out.skip.add(n); }
    } else if (key === "error") {
      const b = parseBool(v);
      if (b === undefined) return `error=${JSON.stringify(v)} is not a boolean`;
      out.error = b;
    } else if (key === "experimental") {
      // Experimental rules: kiln runs none of them, so enabling them changes nothing.
    } else return `unknown key ${JSON.stringify(key)} (expected skip, error or experimental)`;
  }
  return out;
}

/** What {@linkcode frontendDirectives} found. */
export interface FrontendDirectives {
  /** `FILE:LINE: …` warnings (custom frontend image, `error=true` coverage, ignored BUILDKIT_* args). */
  warnings: string[];
  /** The check options in effect. */
  checks: CheckOptions;
  /** Line of the `# check=` directive (0 when it came from a build arg or is absent). */
  checkLine: number;
}

/**
 * Reads the `syntax` and `check` directives (build args `BUILDKIT_SYNTAX` and `BUILDKIT_DOCKERFILE_CHECK` win, as in
 * BuildKit) and flags BuildKit-only build args.
 *
 * @param result A parse result.
 * @param options Build args and the file name for messages.
 * @returns Warnings and the check options.
 * @throws {DockerfileError} `FILE:LINE: invalid check directive …` for a malformed `# check=` (a `KilnError` when it
 *   came from `BUILDKIT_DOCKERFILE_CHECK`).
 *
 * @example Usage
 * ```ts
 * import { parseDockerfile } from "./parser.ts";
 * import { frontendDirectives } from "./frontend.ts";
 * const d = frontendDirectives(parseDockerfile("# syntax=example.com/fe:1\nFROM scratch\n"), { buildArgs: {} });
 * console.assert(d.warnings[0]!.includes("cannot run frontend images"));
 * ```
 */
export function frontendDirectives(
  result: ParseResult,
  options: { buildArgs: Readonly<Record<string, string>>; filename?: string },
): FrontendDirectives {
  const filename = options.filename ?? result.filename;
  const warnings: string[] = [];
  const syntaxDirective = result.directives.find((d) => d.name === "syntax");
  const syntaxArg = options.buildArgs["BUILDKIT_SYNTAX"];
  const syntax = syntaxArg !== undefined && syntaxArg !== "" ? syntaxArg : syntaxDirective?.value;
  if (syntax !== undefined && syntax !== "dockerfile.v0" && !DOCKERFILE_FRONTEND.test(syntax.trim())) {
    const where = syntaxArg ? "build-arg BUILDKIT_SYNTAX" : `${filename}:${syntaxDirective!.line}: # syntax`;
    warnings.push(
      `${where}=${syntax}: kiln cannot run frontend images; building with its built-in Dockerfile frontend ` +
        `(docker/dockerfile:1 syntax) instead`,
    );
  }

  const checkDirective = result.directives.find((d) => d.name === "check");
  const checkArg = options.buildArgs["BUILDKIT_DOCKERFILE_CHECK"];
  let checks: CheckOptions = { skip: new Set(), error: false };
  let checkLine = 0;
  const text = checkArg !== undefined ? checkArg : checkDirective?.value;
  if (text !== undefined) {
    const c = parseCheckDirective(text);
    if (typeof c === "string") {
      const msg = `invalid check directive ${JSON.stringify(text)}: ${c}`;
      if (checkArg !== undefined) throw new KilnError(`build-arg BUILDKIT_DOCKERFILE_CHECK: ${msg}`);
      throw new DockerfileError(msg, { file: filename, line: checkDirective!.line });
    }
    checks = c;
    if (checkArg === undefined) checkLine = checkDirective!.line;
    if (c.error) {
      const where = checkArg !== undefined ? "build-arg BUILDKIT_DOCKERFILE_CHECK" : `${filename}:${checkLine}`;
      warnings.push(
        `${where}: check error=true: kiln runs only the build checks ${KILN_CHECK_RULES.join(", ")}; ` +
          `other BuildKit rules are not checked and cannot fail the build`,
      );
    }
  }

  for (const k of Object.keys(options.buildArgs).sort()) {
    if (IGNORED_BUILDKIT_ARGS.has(k)) warnings.push(`build-arg ${k} has no effect in kiln (BuildKit-specific)`);
    if (k === "SOURCE_DATE_EPOCH") {
      warnings.push(
        "build-arg SOURCE_DATE_EPOCH does not set kiln's timestamps (use --reproducible with the SOURCE_DATE_EPOCH " +
          "environment variable); it only reaches the Dockerfile as an ARG",
      );
    }
  }
  return { warnings, checks, checkLine };
}

/**
 * Applies check options to findings: drops skipped rules, and throws for the first remaining one when `error=true`.
 *
 * @param findings Build-check findings.
 * @param options The check options and the file name.
 * @returns `FILE:LINE: message` warnings for the findings kept.
 * @throws {DockerfileError} for the first finding when `checks.error` is set.
 *
 * @example Usage
 * ```ts
 * import { applyChecks } from "./frontend.ts";
 * const w = applyChecks([{ rule: "ReservedStageName", line: 2, message: "reserved" }], {
 *   checks: { skip: new Set(), error: false },
 *   filename: "Dockerfile",
 * });
 * console.assert(w[0] === "Dockerfile:2: reserved");
 * ```
 */
export function applyChecks(
  findings: readonly CheckFinding[],
  options: { checks: CheckOptions; filename: string },
): string[] {
  const { skip, error } = options.checks;
  const kept = skip === "all" ? [] : findings.filter((f) => !skip.has(f.rule));
  if (error && kept.length > 0) {
    const f = kept[0]!;
    throw new DockerfileError(`${f.message} (build check ${f.rule} failed, and # check=error=true)`, {
      file: options.filename,
      line: f.line,
    });
  }
  return kept.map((f) => `${options.filename}:${f.line}: ${f.message}`);
}
