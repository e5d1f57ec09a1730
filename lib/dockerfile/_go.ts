/**
 * Small ports of Go standard-library behaviour that BuildKit's parser relies on: `unicode.IsSpace`,
 * `strings.TrimSpace`, `strconv.Quote`, `strconv.ParseBool`, `time.ParseDuration`, and UTF-8 decoding that keeps
 * invalid bytes (as lone surrogates U+DC80–U+DCFF, like Python's "surrogateescape").
 *
 * @module
 */

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/**
 * Go's `unicode.IsSpace`.
 *
 * @param cp A code point.
 * @returns Whether it is white space by Go's definition.
 */
export function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 || cp === 0xa0;
  return cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029 || cp === 0x202f ||
    cp === 0x205f || cp === 0x3000;
}

/**
 * Go's `strings.TrimSpace`.
 *
 * @param s Input.
 * @returns `s` without leading and trailing Go white space.
 */
export function goTrimSpace(s: string): string {
  return goTrimRight(goTrimLeft(s));
}

/**
 * Go's `strings.TrimLeftFunc(s, unicode.IsSpace)`.
 *
 * @param s Input.
 * @returns `s` without leading white space.
 */
export function goTrimLeft(s: string): string {
  let i = 0;
  while (i < s.length) {
    const cp = s.codePointAt(i)!;
    if (!isGoSpace(cp)) break;
    i += cp > 0xffff ? 2 : 1;
  }
  return i === 0 ? s : s.slice(i);
}

/**
 * Go's `strings.TrimRightFunc(s, unicode.IsSpace)` (all Go spaces are in the BMP).
 *
 * @param s Input.
 * @returns `s` without trailing white space.
 */
export function goTrimRight(s: string): string {
  let j = s.length;
  while (j > 0 && isGoSpace(s.charCodeAt(j - 1))) j--;
  return j === s.length ? s : s.slice(0, j);
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/**
 * Go's `strconv.Quote`. Lone surrogates U+DC80–U+DCFF stand for invalid UTF-8 bytes and print as `\xHH`;
 * other lone surrogates print as the bytes Go would see for them.
 *
 * @param s Input.
 * @returns The double-quoted Go literal.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0x22) out += '\\"';
    else if (cp === 0x5c) out += "\\\\";
    else if (cp === 0x20 || (cp > 0x20 && cp < 0x7f)) out += ch;
    else if (cp < 0x20 || cp === 0x7f) {
      switch (cp) {
        case 0x07:
          out += "\\a";
          break;
        case 0x08:
          out += "\\b";
          break;
        case 0x0c:
          out += "\\f";
          break;
        case 0x0a:
          out += "\\n";
          break;
        case 0x0d:
          out += "\\r";
          break;
        case 0x09:
          out += "\\t";
          break;
        case 0x0b:
          out += "\\v";
          break;
        default:
          out += "\\x" + hex(cp, 2);
      }
    } else if (cp >= 0xdc80 && cp <= 0xdcff) out += "\\x" + hex(cp - 0xdc00, 2);
    else if (cp >= 0xd800 && cp <= 0xdfff) {
      // A lone surrogate: Go would hold its (invalid) 3-byte encoding.
      out += "\\x" + hex(0xe0 | (cp >> 12), 2) + "\\x" + hex(0x80 | ((cp >> 6) & 0x3f), 2) + "\\x" +
        hex(0x80 | (cp & 0x3f), 2);
    } else if (PRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xffff) out += "\\u" + hex(cp, 4);
    else out += "\\U" + hex(cp, 8);
  }
  return out + '"';
}

/**
 * Decodes UTF-8 like Go sees it: valid sequences become characters, each invalid byte becomes the lone
 * surrogate U+DC00+byte (so it can be printed back as `\xHH`). A leading BOM is kept.
 *
 * @param bytes UTF-8 (or not) input.
 * @returns The decoded text.
 */
export function decodeUtf8Lossless(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // fall through to the byte-wise decoder
  }
  const parts: string[] = [];
  let chunk: number[] = [];
  const flush = () => {
    if (chunk.length) parts.push(String.fromCodePoint(...chunk));
    chunk = [];
  };
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    let cp = -1;
    let n = 1;
    if (b0 < 0x80) cp = b0;
    else if (b0 >= 0xc2 && b0 <= 0xdf) {
      const b1 = bytes[i + 1];
      if (b1 !== undefined && (b1 & 0xc0) === 0x80) {
        cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
        n = 2;
      }
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      const b1 = bytes[i + 1], b2 = bytes[i + 2];
      if (b1 !== undefined && b2 !== undefined && (b1 & 0xc0) === 0x80 && (b2 & 0xc0) === 0x80) {
        const c = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
        if (c >= 0x800 && (c < 0xd800 || c > 0xdfff)) {
          cp = c;
          n = 3;
        }
      }
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      const b1 = bytes[i + 1], b2 = bytes[i + 2], b3 = bytes[i + 3];
      if (
        b1 !== undefined && b2 !== undefined && b3 !== undefined && (b1 & 0xc0) === 0x80 && (b2 & 0xc0) === 0x80 &&
        (b3 & 0xc0) === 0x80
      ) {
        const c = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
        if (c >= 0x10000 && c <= 0x10ffff) {
          cp = c;
          n = 4;
        }
      }
    }
    chunk.push(cp < 0 ? 0xdc00 + b0 : cp);
    if (chunk.length >= 4096) flush();
    i += n;
  }
  flush();
  return parts.join("");
}

/**
 * Number of bytes `s` occupies in UTF-8 (lone surrogates U+DC80–U+DCFF count as the one byte they stand for).
 *
 * @param s Input.
 * @returns Byte length.
 */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else if (c >= 0xdc80 && c <= 0xdcff) n += 1;
    else n += 3;
  }
  return n;
}

/**
 * Go's `strconv.ParseBool`.
 *
 * @param s Input.
 * @returns The boolean, or undefined when `s` is not a Go boolean.
 */
export function goParseBool(s: string): boolean | undefined {
  switch (s) {
    case "1":
    case "t":
    case "T":
    case "true":
    case "TRUE":
    case "True":
      return true;
    case "0":
    case "f":
    case "F":
    case "false":
    case "FALSE":
    case "False":
      return false;
  }
  return undefined;
}

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Go's `time.ParseDuration`, in nanoseconds.
 *
 * @param s Input such as `30s`, `1m30s`, `1.5h`, `-2ms` or `0`.
 * @returns Nanoseconds, or undefined when `s` is not a Go duration.
 */
export function goParseDuration(s: string): number | undefined {
  let rest = s;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest[0] === "-") sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return undefined;
  let total = 0;
  const re = /^([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== "") {
    const m = re.exec(rest);
    if (!m || m[1] === "" || m[1] === ".") return undefined;
    total += Number(m[1]) * UNIT_NS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  if (total > 9223372036854775807) return undefined;
  return sign * Math.round(total);
}
