/**
 * Architecture test (like go-containerregistry's cmd/crane/depcheck_test.go and deno std's `lint:circular`): reads
 * every static import of lib/, cli/ and mod.ts and fails on
 *
 * (a) a cycle between lib/ folders,
 * (b) an arrow between lib/ folders that ARCHITECTURE.md does not allow,
 * (c) an import of another folder's file other than its mod.ts,
 * (d) lib/ importing cli/.
 *
 * The allowed arrows are the `- from -> to` lines of the "Allowed arrows" section of ARCHITECTURE.md at the
 * repository root. Imports are read with a
 * small tokenizer (comments, JSDoc examples, strings, template literals and regular expressions are skipped), so
 * only real `import … from "x"`, `import "x"` and `export … from "x"` statements count; dynamic `import()` does
 * not.
 *
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./assert.ts";

const REPO = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));

/**
 * Imports that break rule (c) today and cannot be fixed yet. THIS LIST MUST SHRINK: never add to it; remove an
 * entry as soon as its import goes through the folder's mod.ts. `from` is a file or a folder prefix (ending in
 * `/`), `to` likewise.
 */
const DEEP_IMPORT_EXCEPTIONS: { from: string; to: string; why: string }[] = [
  {
    from: "lib/build/",
    to: "lib/executor/",
    why: "lib/build is the deprecated old path of lib/executor (one release), re-exporting its files",
  },
  {
    from: "lib/dockerfile/",
    to: "lib/util/errors.ts",
    why: "lib/dockerfile's files are being reworked for the one instruction model (issue 12)",
  },
];

/** A static import: the importing file and the imported one, both repository-relative. */
export interface ImportEdge {
  from: string;
  to: string;
  /** `import type`/`export type`, or every name marked `type`: erased, no run-time dependency. */
  typeOnly: boolean;
}

/** A static import statement's specifier and whether it is erased at run time. */
export interface ImportStatement {
  specifier: string;
  typeOnly: boolean;
}

type Token = { kind: "word" | "string" | "punct"; value: string };

/** Characters after which a `/` starts a regular expression rather than a division. */
const BEFORE_REGEX = new Set([..."(,=:[!&|?{};+-*%<>~^".split(""), "${"]);
const KEYWORDS_BEFORE_REGEX = new Set([
  "return",
  "typeof",
  "case",
  "do",
  "else",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "yield",
  "await",
  "instanceof",
]);

/**
 * Splits TypeScript source into words, string literals and punctuation, dropping comments, template-literal text
 * and regular expressions (the expressions inside `${}` are tokenized).
 *
 * @param src The source text.
 * @returns The tokens.
 */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  // Brace depth at which each open template literal's `${` started.
  const templates: number[] = [];
  let depth = 0;
  let i = 0;
  const last = (): Token | undefined => out[out.length - 1];
  const regexAllowed = (): boolean => {
    const t = last();
    if (!t) return true;
    if (t.kind === "punct") return BEFORE_REGEX.has(t.value);
    if (t.kind === "word") return KEYWORDS_BEFORE_REGEX.has(t.value);
    return false;
  };
  /** Skips template text from `i` (just after a backtick or a closing `}`) to its end or to the next `${`. */
  const templateText = (): void => {
    while (i < src.length) {
      const c = src[i]!;
      if (c === "\\") i += 2;
      else if (c === "`") {
        i++;
        out.push({ kind: "string", value: "`template`" });
        return;
      } else if (c === "$" && src[i + 1] === "{") {
        i += 2;
        templates.push(depth);
        depth++;
        out.push({ kind: "punct", value: "${" });
        return;
      } else i++;
    }
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === "/" && src[i + 1] === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end < 0 ? src.length : end + 2;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      let value = "";
      while (j < src.length && src[j] !== c && src[j] !== "\n") {
        if (src[j] === "\\") {
          value += src[j + 1] ?? "";
          j += 2;
        } else value += src[j++];
      }
      out.push({ kind: "string", value });
      i = j + 1;
    } else if (c === "`") {
      i++;
      templateText();
    } else if (c === "/" && regexAllowed()) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== "\n") {
        const d = src[j]!;
        if (d === "\\") j++;
        else if (d === "[") inClass = true;
        else if (d === "]") inClass = false;
        else if (d === "/" && !inClass) break;
        j++;
      }
      j++;
      while (j < src.length && /[a-z]/i.test(src[j]!)) j++;
      out.push({ kind: "punct", value: "regex" });
      i = j;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[\w$]/.test(src[j]!)) j++;
      out.push({ kind: "word", value: src.slice(i, j) });
      i = j;
    } else if (/\s/.test(c)) {
      i++;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[\w.]/.test(src[j]!)) j++;
      out.push({ kind: "word", value: src.slice(i, j) });
      i = j;
    } else {
      if (c === "{") depth++;
      else if (c === "}") {
        depth--;
        if (templates.length > 0 && templates[templates.length - 1] === depth) {
          templates.pop();
          i++;
          templateText();
          continue;
        }
      }
      out.push({ kind: "punct", value: c });
      i++;
    }
  }
  return out;
}

/** True for a clause `{ type A, type B as C }` (every name marked `type`). */
function allNamesTyped(clause: Token[]): boolean {
  if (clause[0]?.value !== "{" || clause[clause.length - 1]?.value !== "}") return false;
  const groups: Token[][] = [[]];
  for (const t of clause.slice(1, -1)) {
    if (t.kind === "punct" && t.value === ",") groups.push([]);
    else groups[groups.length - 1]!.push(t);
  }
  const names = groups.filter((g) => g.length > 0);
  return names.length > 0 && names.every((g) => g[0]!.value === "type" && g[1]?.kind === "word");
}

/**
 * The static `import`/`export … from` statements of a source.
 *
 * @param src The source text.
 * @returns Their specifiers (and whether each is type-only), in order.
 */
export function importStatements(src: string): ImportStatement[] {
  const toks = tokenize(src);
  const out: ImportStatement[] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.kind !== "word" || (t.value !== "import" && t.value !== "export")) continue;
    const prev = toks[i - 1];
    if (prev?.kind === "punct" && prev.value === ".") continue; // x.import
    const next = toks[i + 1];
    if (!next) continue;
    if (t.value === "import" && next.kind === "string") {
      out.push({ specifier: next.value, typeOnly: false }); // import "x";
      continue;
    }
    if (t.value === "import" && next.kind === "punct" && (next.value === "(" || next.value === ".")) continue;
    const typeKeyword = next.kind === "word" && next.value === "type";
    if (t.value === "export") {
      // Only re-exports: `export {…} from`, `export * from`, `export type {…} from`.
      const n = typeKeyword ? toks[i + 2] : next;
      if (!n || n.kind !== "punct" || (n.value !== "{" && n.value !== "*")) continue;
    }
    for (let j = i + 1; j < toks.length; j++) {
      const u = toks[j]!;
      if (u.kind === "punct" && u.value === ";") break;
      if (u.kind === "word" && u.value === "from" && toks[j + 1]?.kind === "string") {
        out.push({ specifier: toks[j + 1]!.value, typeOnly: typeKeyword || allNamesTyped(toks.slice(i + 1, j)) });
        break;
      }
      if (u.kind === "string") break; // not an import clause
    }
  }
  return out;
}

/**
 * The module specifiers of a source's static `import`/`export … from` statements.
 *
 * @param src The source text.
 * @returns The specifiers, in order.
 */
export function importSpecifiers(src: string): string[] {
  return importStatements(src).map((s) => s.specifier);
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(REPO, dir)).sort()) {
    const rel = `${dir}/${name}`;
    if (statSync(join(REPO, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (/\.(ts|js|mjs)$/.test(name)) out.push(rel);
  }
  return out;
}

/**
 * Every static import from lib/, cli/ and mod.ts into the repository (npm:, node: and URL imports left out).
 *
 * @returns The edges, file to file, repository-relative.
 */
export function repoImports(): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const from of ["mod.ts", ...sourceFiles("lib"), ...sourceFiles("cli")]) {
    for (const { specifier, typeOnly } of importStatements(readFileSync(join(REPO, from), "utf8"))) {
      if (!specifier.startsWith(".")) continue;
      edges.push({ from, to: relative(REPO, join(REPO, dirname(from), specifier)), typeOnly });
    }
  }
  return edges;
}

/**
 * The unit a file belongs to: `lib/<folder>` for lib/ subfolders, the file itself for lib/*.ts (lib/version.ts),
 * `cli` for cli/, `mod.ts` for the root module; undefined outside.
 *
 * @param file Repository-relative path.
 * @returns The unit.
 */
export function folderOf(file: string): string | undefined {
  const parts = file.split("/");
  if (parts[0] === "lib") return parts.length > 2 ? `lib/${parts[1]}` : file;
  if (parts[0] === "cli") return "cli";
  if (file === "mod.ts") return "mod.ts";
  return undefined;
}

/** The `- lib/x -> lib/y, lib/z` lines of ARCHITECTURE.md's "Allowed arrows" section, one `a -> b` per arrow. */
export function allowedArrows(): Set<string> {
  const text = readFileSync(join(REPO, "ARCHITECTURE.md"), "utf8");
  const section = /^## Allowed arrows\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(text)?.[1] ?? "";
  const arrows = new Set<string>();
  for (const m of section.matchAll(/^- (lib\/[\w.]+) -> (.+)$/gm)) {
    for (const to of m[2]!.split(",")) arrows.add(`${m[1]} -> ${to.trim()}`);
  }
  return arrows;
}

/** The folder graph of lib/ (arrow -> number of imports). */
function libGraph(edges: ImportEdge[]): Map<string, number> {
  const g = new Map<string, number>();
  for (const e of edges) {
    const a = folderOf(e.from), b = folderOf(e.to);
    if (!a?.startsWith("lib/") || !b?.startsWith("lib/") || a === b) continue;
    const k = `${a} -> ${b}`;
    g.set(k, (g.get(k) ?? 0) + 1);
  }
  return g;
}

/** Cycles of a directed graph given as `a -> b` arrows (Tarjan's strongly connected components of size > 1). */
export function cycles(arrows: Iterable<string>): string[][] {
  const adj = new Map<string, string[]>();
  for (const a of arrows) {
    const [from, to] = a.split(" -> ") as [string, string];
    adj.set(from, [...(adj.get(from) ?? []), to]);
    if (!adj.has(to)) adj.set(to, []);
  }
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of adj.get(v)!) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || adj.get(v)!.includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...adj.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

function matches(pattern: string, file: string): boolean {
  return pattern.endsWith("/") ? file.startsWith(pattern) : file === pattern;
}

/** Imports of another lib/ folder's file other than its mod.ts. */
function deepImports(edges: ImportEdge[]): ImportEdge[] {
  return edges.filter((e) => {
    const a = folderOf(e.from), b = folderOf(e.to);
    // lib/version.ts is a one-file unit: importing it is importing its "mod".
    if (a === b || !b?.startsWith("lib/") || b.endsWith(".ts")) return false;
    return e.to !== `${b}/mod.ts`;
  });
}

const EDGES = repoImports();

Deno.test("arch: the import reader sees real imports only", () => {
  const src = [
    '/** @example\n * ```ts\n * import { x } from "./doc.ts";\n * ```\n */',
    'import { a,\n  type b } from "./a.ts";',
    "// import c from './comment.ts';",
    'const s = "import d from \'./string.ts\'"; const g = "src/**/*.ts";',
    "const t = `import e from './template.ts' ${'x'.replace(/'/g, '')}`;",
    'const u = `${a}=${/[\\s"=]/.test(a) ? "import" : `${"x"}`}`;',
    'export * from "./b.ts";',
    'export type { C } from "./c.ts";',
    'export const f = () => import("./dynamic.ts");',
    'import "./side.ts";',
    "const r = /\"/; export { y } from './y.ts';",
    "if (import.meta.main) {}",
  ].join("\n");
  assertEquals(importSpecifiers(src), ["./a.ts", "./b.ts", "./c.ts", "./side.ts", "./y.ts"]);
});

Deno.test("arch: the import reader tells type-only imports apart", () => {
  const src = [
    'import type { A } from "./a.ts";',
    'import { type B, type C as D } from "./b.ts";',
    'import { type E, f } from "./c.ts";',
    'import g from "./d.ts";',
    'export type { H } from "./e.ts";',
    'export * from "./f.ts";',
  ].join("\n");
  assertEquals(importStatements(src).map((s) => s.typeOnly), [true, true, false, false, true, false]);
});

Deno.test("arch: the import reader finds imports in every folder", () => {
  const folders = new Set(EDGES.map((e) => folderOf(e.from)));
  for (const f of ["mod.ts", "cli", "lib/util", "lib/fs", "lib/image", "lib/registry", "lib/dockerfile"]) {
    assert(folders.has(f), `no import read from ${f}`);
  }
  for (const e of EDGES) {
    assert(statSync(join(REPO, e.to), { throwIfNoEntry: false }), `${e.from}: ${e.to} does not exist`);
  }
});

Deno.test("arch: (a) no cycle between lib/ folders", () => {
  assertEquals(cycles(libGraph(EDGES).keys()), []);
});

Deno.test("arch: (a) no run-time import cycle between files (barrels included)", () => {
  // Type-only imports are erased, so they cannot make a cycle at run time.
  const runtime = EDGES.filter((e) => !e.typeOnly).map((e) => `${e.from} -> ${e.to}`);
  assertEquals(cycles(runtime), []);
});

Deno.test("arch: (b) every arrow between lib/ folders is allowed in ARCHITECTURE.md", () => {
  const allowed = allowedArrows();
  assert(allowed.size > 10, "ARCHITECTURE.md lists no arrows");
  const bad = [...libGraph(EDGES)].filter(([a]) => !allowed.has(a)).map(([a, n]) => `${a} (${n} imports)`);
  assertEquals(bad, [], "arrows not in ARCHITECTURE.md");
  // The intended layering, whatever ARCHITECTURE.md says: the allowed arrows have no cycle, lib/util is a leaf,
  // lib/image knows no registry, lib/dockerfile imports only lib/util.
  assertEquals(cycles(allowed), []);
  const from = (f: string) => [...allowed].filter((a) => a.startsWith(`${f} -> `));
  assertEquals(from("lib/util"), []);
  assert(!allowed.has("lib/image -> lib/registry"), "lib/image must not import lib/registry");
  assertEquals(from("lib/dockerfile"), ["lib/dockerfile -> lib/util"]);
});

Deno.test("arch: (c) imports of another folder go through its mod.ts", () => {
  const bad = deepImports(EDGES)
    .filter((e) => !DEEP_IMPORT_EXCEPTIONS.some((x) => matches(x.from, e.from) && matches(x.to, e.to)))
    .map((e) => `${e.from} -> ${e.to}`);
  assertEquals(bad, [], "deep imports (import the folder's mod.ts, exporting what is missing from it)");
});

Deno.test("arch: (c) every exception is still needed (the list only shrinks)", () => {
  const deep = deepImports(EDGES);
  for (const x of DEEP_IMPORT_EXCEPTIONS) {
    assert(
      deep.some((e) => matches(x.from, e.from) && matches(x.to, e.to)),
      `exception ${x.from} -> ${x.to} is no longer needed: remove it`,
    );
  }
});

Deno.test("arch: (d) lib/ never imports cli/", () => {
  const bad = EDGES.filter((e) => e.from.startsWith("lib/") && e.to.startsWith("cli/")).map((e) =>
    `${e.from} -> ${e.to}`
  );
  assertEquals(bad, []);
});

Deno.test("arch: deno.json exports name folder barrels", () => {
  const exports = JSON.parse(readFileSync(join(REPO, "deno.json"), "utf8")).exports as Record<string, string>;
  assertEquals(exports["."], "./mod.ts");
  for (const [name, path] of Object.entries(exports)) {
    if (name === ".") continue;
    assertEquals(path, `./lib/${name.slice(2)}/mod.ts`, name);
    assert(statSync(join(REPO, path), { throwIfNoEntry: false }), `${name}: ${path} does not exist`);
  }
  for (const name of ["./image", "./registry", "./dockerfile", "./tar", "./executor"]) assert(name in exports, name);
});
