/**
 * Registry errors: {@linkcode RegistryError} (HTTP status + the registry's error codes) and
 * {@linkcode ReferenceSyntaxError} (a bad image reference, with the reason).
 *
 * @module
 */
import { KilnError } from "../util/mod.ts";

/** One entry of a registry's `{"errors": [...]}` body. */
export interface RegistryDiagnostic {
  /** Error code, e.g. `MANIFEST_UNKNOWN`. */
  code: string;
  /** Message from the registry. */
  message?: string;
}

/** Fields of a {@linkcode RegistryError}. */
export interface RegistryErrorInit {
  /** Registry host, e.g. `registry-1.docker.io`. */
  registry: string;
  /** Repository, e.g. `library/busybox`. */
  repository?: string;
  /** What kiln was doing, e.g. `pull manifest latest`. */
  action: string;
  /** HTTP status (0 for network errors). */
  status: number;
  /** The registry's error codes. */
  diagnostics?: RegistryDiagnostic[];
  /** Retrying may help (429, 5xx, network). */
  temporary?: boolean;
  /** Underlying error. */
  cause?: unknown;
  /** Extra detail for the message (never credentials). */
  detail?: string;
}

function describe(init: RegistryErrorInit): string {
  const where = init.repository ? `${init.registry}/${init.repository}` : init.registry;
  const codes = (init.diagnostics ?? []).map((d) => d.message ? `${d.code} (${d.message})` : d.code);
  const status = init.status ? `HTTP ${init.status}` : "network error";
  const parts = [status, ...codes];
  if (init.detail) parts.push(init.detail);
  return `Cannot ${init.action} on ${where}: ${parts.join(": ")}`.replace(/[\r\n]+/g, " ");
}

/**
 * A registry refused a request or could not be reached. The message is one line, e.g.
 * `Cannot pull manifest latest on 127.0.0.1:5000/app: HTTP 404: MANIFEST_UNKNOWN (manifest unknown)`.
 *
 * @example Usage
 * ```ts
 * import { RegistryError } from "./errors.ts";
 * const e = new RegistryError({ registry: "r.io", repository: "a", action: "pull manifest x", status: 404, diagnostics: [{ code: "MANIFEST_UNKNOWN" }] });
 * console.assert(e.codes[0] === "MANIFEST_UNKNOWN");
 * ```
 */
export class RegistryError extends KilnError {
  /** Registry host. */
  readonly registry: string;
  /** Repository, if any. */
  readonly repository: string | undefined;
  /** HTTP status, 0 for network errors. */
  readonly status: number;
  /** The registry's diagnostics. */
  readonly diagnostics: RegistryDiagnostic[];
  /** Whether retrying may succeed. */
  readonly temporary: boolean;

  /**
   * Creates the error.
   *
   * @param init Registry, repository, status, codes.
   */
  constructor(init: RegistryErrorInit) {
    super(describe(init), init.cause === undefined ? {} : { cause: init.cause });
    this.name = "RegistryError";
    this.registry = init.registry;
    this.repository = init.repository;
    this.status = init.status;
    this.diagnostics = init.diagnostics ?? [];
    this.temporary = init.temporary ?? (init.status === 0 || init.status === 429 || init.status >= 500);
  }

  /** The registry's error codes. */
  get codes(): string[] {
    return this.diagnostics.map((d) => d.code);
  }
}

/**
 * An image reference that cannot be parsed; the message says why.
 *
 * @example Usage
 * ```ts
 * import { ReferenceSyntaxError } from "./errors.ts";
 * console.assert(new ReferenceSyntaxError("A:b", "repository must be lowercase").reference === "A:b");
 * ```
 */
export class ReferenceSyntaxError extends KilnError {
  /** The text that failed to parse. */
  readonly reference: string;
  /** The reason. */
  readonly reason: string;

  /**
   * Creates the error.
   *
   * @param reference The text.
   * @param reason Why it is invalid.
   */
  constructor(reference: string, reason: string) {
    super(`Invalid image reference ${JSON.stringify(reference)}: ${reason}`);
    this.name = "ReferenceSyntaxError";
    this.reference = reference;
    this.reason = reason;
  }
}
