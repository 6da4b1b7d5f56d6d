import { Buffer } from 'node:buffer'
import { KeywardError } from '../core/errors.js'

// The query string as keyward reads it, in one place for extraction (credentials.ts) and for
// redaction (redact.ts): whatever can authenticate is exactly what redaction removes. The
// rules are URLSearchParams's (WHATWG application/x-www-form-urlencoded parsing), which the
// extraction used before; query.test.ts checks both agree on generated input.

const AMP = 0x26
const HASH = 0x23
const EQUALS = 0x3d
const PERCENT = 0x25
const PLUS = 0x2b
const QUESTION = 0x3f

const QUERY_PARAM_RE = /^[A-Za-z0-9_.-]{1,64}$/

/**
 * The `queryParam` option, checked: 1-64 letters, digits, `_`, `.` or `-`.
 *
 * @throws KeywardError `invalid_options` naming the option
 */
export function resolveQueryParam(value: unknown, option = 'queryParam'): string {
  const param = value ?? 'api_key'
  if (typeof param !== 'string' || !QUERY_PARAM_RE.test(param)) {
    throw new KeywardError(
      'invalid_options',
      `"${option}" must be 1-64 letters, digits, "_", "." or "-", got ${JSON.stringify(param)}`,
    )
  }
  return param
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const lower = c | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x57
  return -1
}

/**
 * Decodes one query name or value as URLSearchParams does: `+` is a space, `%XX` is the byte
 * XX (a `%` without two hex digits stays as it is), and the bytes are read as UTF-8 with
 * U+FFFD for bad sequences. Returns the input itself when it holds neither `%` nor `+`.
 */
export function decodeQueryComponent(text: string): string {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text
  if (!spaced.includes('%')) return spaced
  const bytes = Buffer.from(spaced, 'utf8')
  let w = 0
  for (let r = 0; r < bytes.length; r++) {
    const b = bytes[r]!
    if (b === PERCENT && r + 2 < bytes.length) {
      const high = hexValue(bytes[r + 1]!)
      const low = hexValue(bytes[r + 2]!)
      if (high >= 0 && low >= 0) {
        bytes[w++] = (high << 4) | low
        r += 2
        continue
      }
    }
    bytes[w++] = b
  }
  return bytes.toString('utf8', 0, w)
}

/** ASCII-only case folding of one UTF-16 code unit. */
function fold(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c
}

/**
 * True when the raw name `text[start, end)` decodes to `name`. Names without `%` or `+` are
 * compared in place; `ignoreCase` folds ASCII letters only (redaction uses it to remove
 * `API_KEY=` too, which extraction would not read).
 */
export function queryNameIs(
  text: string,
  start: number,
  end: number,
  name: string,
  ignoreCase = false,
): boolean {
  let encoded = false
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i)
    if (c === PERCENT || c === PLUS) {
      encoded = true
      break
    }
  }
  let subject = text
  let from = start
  let to = end
  if (encoded) {
    subject = decodeQueryComponent(text.slice(start, end))
    from = 0
    to = subject.length
  }
  if (to - from !== name.length) return false
  for (let i = 0; i < name.length; i++) {
    const a = subject.charCodeAt(from + i)
    const b = name.charCodeAt(i)
    if (a !== b && (!ignoreCase || fold(a) !== fold(b))) return false
  }
  return true
}

const NONE: readonly string[] = Object.freeze([])

/**
 * Every decoded value of the query parameter `name` in a request target (`/path?query` or an
 * absolute URL): the query runs from the first `?` to the first `#` after it, one leading
 * `?` is dropped, pairs are split on `&` (empty ones skipped) and each at its first `=` (none:
 * the value is empty).
 */
export function queryValues(url: string, name: string): readonly string[] {
  const q = url.indexOf('?')
  if (q === -1) return NONE
  let end = url.indexOf('#', q)
  if (end === -1) end = url.length
  let at = url.charCodeAt(q + 1) === QUESTION ? q + 2 : q + 1
  let values: string[] | undefined
  while (at < end) {
    let stop = url.indexOf('&', at)
    if (stop === -1 || stop > end) stop = end
    let eq = url.indexOf('=', at)
    if (eq === -1 || eq > stop) eq = stop
    if (stop > at && queryNameIs(url, at, eq, name)) {
      const value = eq === stop ? '' : decodeQueryComponent(url.slice(eq + 1, stop))
      if (values === undefined) values = [value]
      else values.push(value)
    }
    at = stop + 1
  }
  return values ?? NONE
}

/** Where a value ends in a URL or a log line: `&`, `#`, a space, tab or line break, or the end. */
function valueEnd(text: string, start: number): number {
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === AMP || c === HASH || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) return i
  }
  return text.length
}

/**
 * `text` with the value of every pair named `name` (decoded as `queryNameIs` does, ASCII case
 * ignored) replaced by `replacement`. A pair starts after any `?` or `&`, so this works on a
 * URL and on a whole log line; its value runs from the first `=` to `valueEnd`. Request
 * targets never contain spaces or line breaks (Node refuses them, fetch encodes them), so in
 * a log line those end the URL, while quotes and `;` do not: they may be part of a key.
 */
export function replaceQueryValues(text: string, name: string, replacement: string): string {
  let out = ''
  let copied = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c !== QUESTION && c !== AMP) continue
    const start = i + 1
    const stop = valueEnd(text, start)
    let eq = start
    while (eq < stop && text.charCodeAt(eq) !== EQUALS) eq++
    if (eq === stop || !queryNameIs(text, start, eq, name, true)) continue
    out += text.slice(copied, eq + 1) + replacement
    copied = stop
    i = stop - 1
  }
  return copied === 0 ? text : out + text.slice(copied)
}
