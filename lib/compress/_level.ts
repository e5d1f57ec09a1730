/**
 * Private: compression level validation.
 *
 * @module
 */

/** Returns `level` or throws a RangeError naming the codec and the allowed range. */
export function checkLevel(level: number, max: number, what: string): number {
  if (!Number.isInteger(level) || level < 0 || level > max) {
    throw new RangeError(`Cannot compress with ${what}: level ${level} is not an integer from 0 to ${max}`);
  }
  return level;
}
