/**
 * Assertions for kiln's tests (jsr:@std/assert is unreachable here), built on node:assert.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  msg === undefined ? nodeAssert.ok(cond) : nodeAssert.ok(cond, msg);
}

/** Asserts deep strict equality. */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  msg === undefined ? nodeAssert.deepStrictEqual(actual, expected) : nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Asserts deep inequality. */
export function assertNotEquals(actual: unknown, expected: unknown, msg?: string): void {
  msg === undefined
    ? nodeAssert.notDeepStrictEqual(actual, expected)
    : nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** Asserts `s` matches `re`. */
export function assertMatch(s: string, re: RegExp, msg?: string): void {
  msg === undefined ? nodeAssert.match(s, re) : nodeAssert.match(s, re, msg);
}

/** Asserts `s` contains `sub`. */
export function assertStringIncludes(s: string, sub: string, msg?: string): void {
  if (!s.includes(sub)) nodeAssert.fail(msg ?? `Expected ${JSON.stringify(s)} to include ${JSON.stringify(sub)}`);
}

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/** Asserts `fn` throws (optionally an instance of `cls` whose message includes `includes`); returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  cls?: ErrorClass<E>,
  includes?: string,
): E {
  try {
    fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as E;
  }
  nodeAssert.fail("Expected function to throw");
}

/** Asserts the promise rejects (optionally with `cls`, message including `includes`); returns the error. */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  cls?: ErrorClass<E>,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as E;
  }
  nodeAssert.fail("Expected promise to reject");
}

function checkError(e: unknown, cls?: ErrorClass<Error>, includes?: string): void {
  if (cls && !(e instanceof cls)) {
    nodeAssert.fail(`Expected ${cls.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  if (includes !== undefined) {
    const msg = e instanceof Error ? e.message : String(e);
    if (!msg.includes(includes)) {
      nodeAssert.fail(`Expected error message to include ${JSON.stringify(includes)}, got ${JSON.stringify(msg)}`);
    }
  }
}
