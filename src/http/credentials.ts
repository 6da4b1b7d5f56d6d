import type { ResolvedApiKeyOptions } from './options.js'
import { queryValues } from './query.js'

/**
 * The little an adapter tells the core about a request. Adapters build one per request from
 * their framework's object; nothing here copies the headers.
 */
export interface RequestView {
  readonly method: string
  /**
   * Every value received for a header (lowercase name): `undefined` when absent, a string for
   * one line, a list when the header came on several lines. Views that can only see joined
   * values (fetch `Headers`) return the joined string; the comma rule below still catches it.
   */
  header(name: string): string | readonly string[] | undefined
  /** The request target as received: `/path?query` or an absolute URL. */
  readonly url: string
  /** Client address from the socket, when known. */
  readonly ip: string | undefined
  /**
   * True when the server dropped header lines past its limit (Node's `maxHeadersCount`): a
   * second credential may be among them, so the request is never authenticated. Views of
   * runtimes that never drop lines leave it out.
   */
  readonly headersTruncated?: boolean
}

/** Returned by `extractCredential` when the request carries more than one credential. */
export const AMBIGUOUS: unique symbol = Symbol('key_ambiguous')

/** True for HTTP optional whitespace (space, horizontal tab). */
function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09
}

/** Trims surrounding spaces and tabs only; allocates nothing when there are none. */
export function trimOws(value: string): string {
  let start = 0
  let end = value.length
  while (start < end && isOws(value.charCodeAt(start))) start++
  while (end > start && isOws(value.charCodeAt(end - 1))) end--
  return start === 0 && end === value.length ? value : value.slice(start, end)
}

/**
 * Case-insensitive ASCII comparison of `value[start, end)` with a lowercase `word` made of
 * letters, digits and `-` (header names, auth schemes), without allocating.
 */
export function equalsLowerAscii(value: string, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false
  for (let i = 0; i < word.length; i++) {
    // OR-ing 0x20 folds A-Z onto a-z and leaves digits and '-' as they are
    if ((value.charCodeAt(start + i) | 0x20) !== word.charCodeAt(i)) return false
  }
  return true
}

/**
 * The credential of an `Authorization` value whose scheme is enabled, or `null` when the
 * scheme is another one (Basic, Digest…). Parsing is exact: `<scheme> 1*SP <credential>`,
 * the scheme compared case-insensitively, the credential only trimmed.
 */
export function parseAuthorization(value: string, bearer: boolean, apiKey: boolean): string | null {
  let start = 0
  while (start < value.length && isOws(value.charCodeAt(start))) start++
  let end = start
  while (end < value.length && !isOws(value.charCodeAt(end))) end++
  if (
    (bearer && equalsLowerAscii(value, start, end, 'bearer')) ||
    (apiKey && equalsLowerAscii(value, start, end, 'apikey'))
  )
    return trimOws(value.slice(end))
  return null
}

/**
 * Finds the one credential of a request in the enabled sources: the string, `null` when there
 * is none, or `AMBIGUOUS` when there are several — a repeated `X-API-Key` (on several lines,
 * or joined into `"a, b"` by Node or fetch), two `Authorization` lines, two sources at once.
 * Keys never contain commas, so a comma in a credential always means a joined list.
 */
export function extractCredential(
  options: ResolvedApiKeyOptions<never>,
  view: RequestView,
): string | null | typeof AMBIGUOUS {
  let found: string | null = null
  if (options.useHeader) {
    const value = view.header('x-api-key')
    if (value !== undefined) {
      if (typeof value !== 'string' || value.includes(',')) return AMBIGUOUS
      found = trimOws(value)
    }
  }
  if (options.useBearer || options.useApiKeyScheme) {
    const value = view.header('authorization')
    if (value !== undefined) {
      if (typeof value !== 'string') return AMBIGUOUS
      const token = parseAuthorization(value, options.useBearer, options.useApiKeyScheme)
      if (token !== null) {
        if (found !== null || token.includes(',')) return AMBIGUOUS
        found = token
      }
    }
  }
  if (options.useQuery) {
    const values = queryValues(view.url, options.queryParam)
    if (values.length > 1 || (values.length === 1 && found !== null)) return AMBIGUOUS
    if (values.length === 1) found = trimOws(values[0]!)
  }
  return found
}

/** True for a CORS preflight: `OPTIONS` with `Access-Control-Request-Method`. */
export function isPreflight(view: RequestView): boolean {
  return view.method === 'OPTIONS' && view.header('access-control-request-method') !== undefined
}
