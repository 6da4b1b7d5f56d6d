// The proxy's paths: one normal form, in which route rules are matched and requests forwarded,
// so that the path a rule allowed is exactly the path the upstream receives. Servers disagree
// on `%2e`, `//`, `%2F` and `..;`; every form a server behind could read as another path is
// either rewritten into the normal form here or refused.

/** A path in normal form, or why the request path cannot have one. */
export type NormalizedPath =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly reason: string }

const HEX = '0123456789ABCDEF'

/** RFC 3986 unreserved characters: decoded when percent-encoded. */
function isUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || // -
    c === 0x2e || // .
    c === 0x5f || // _
    c === 0x7e // ~
  )
}

/** Kept as they are: unreserved, sub-delims, ":" and "@" (RFC 3986 pchar without "%"). */
function isPlainPathChar(c: number): boolean {
  // sub-delims: ! $ & ' ( ) * + , ; =
  return (
    isUnreserved(c) ||
    c === 0x3a ||
    c === 0x40 ||
    c === 0x21 ||
    c === 0x24 ||
    (c >= 0x26 && c <= 0x2c) ||
    c === 0x3b ||
    c === 0x3d
  )
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

function encoded(byte: number): string {
  return `%${HEX[byte >> 4]}${HEX[byte & 15]}`
}

/** A segment that some servers read as "." or "..": `..;x` (Tomcat and Spring drop `;…`). */
function isDotWithParameters(segment: string): boolean {
  const semicolon = segment.indexOf(';')
  if (semicolon < 0) return false
  const head = segment.slice(0, semicolon)
  return head === '.' || head === '..'
}

function refused(reason: string): NormalizedPath {
  return { ok: false, reason }
}

/**
 * The normal form of a request path (the part of the request target before `?`):
 * - percent-encoded unreserved characters are decoded (`%2e` is `.`, `%41` is `A`), other
 *   escapes are kept with uppercase hex, and characters outside RFC 3986 are percent-encoded
 *   (bytes as they arrived);
 * - `.` and `..` segments are resolved (RFC 3986 §5.2.4; `..` never climbs above `/`);
 * - empty segments (`//`) are dropped; a final `/` stays.
 * Refused: a target that does not start with `/`, a malformed escape, an encoded `/` or `\`
 * (a server behind may decode it into a separator), a raw `\`, a control character, and a
 * `.`/`..` segment followed by `;` parameters.
 *
 * @example
 * normalizePath('/a/./b//%2e%2e/c') // { ok: true, path: '/a/c' }
 * normalizePath('/a%2F..%2Fadmin')  // { ok: false, reason: … }
 */
export function normalizePath(raw: string): NormalizedPath {
  if (raw.charCodeAt(0) !== 0x2f) return refused('the path must start with "/"')
  // the common case: nothing to decode, encode or resolve, no empty segment
  let plain = true
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c === 0x2f) {
      if (raw.charCodeAt(i + 1) === 0x2f || raw.charCodeAt(i + 1) === 0x2e) {
        plain = false
        break
      }
    } else if (!isPlainPathChar(c)) {
      plain = false
      break
    }
  }
  if (plain) return { ok: true, path: raw }

  const segments: string[] = []
  let segment = ''
  for (let i = 1; i <= raw.length; i++) {
    const c = i === raw.length ? 0x2f : raw.charCodeAt(i)
    if (c === 0x2f) {
      segments.push(segment)
      segment = ''
    } else if (c === 0x25) {
      const hi = hexValue(raw.charCodeAt(i + 1))
      const lo = hexValue(raw.charCodeAt(i + 2))
      if (hi < 0 || lo < 0)
        return refused('the path has a "%" that does not start a percent-encoded byte (%XX)')
      const byte = hi * 16 + lo
      if (byte === 0x2f || byte === 0x5c)
        return refused(
          'the path has an encoded "/" or "\\" (%2F, %5C), which a server behind may decode into a separator',
        )
      if (byte < 0x20 || byte === 0x7f) return refused('the path has an encoded control character')
      segment += isUnreserved(byte) ? String.fromCharCode(byte) : encoded(byte)
      i += 2
    } else if (c === 0x5c) {
      return refused('the path has a "\\", which some servers read as "/"')
    } else if (c < 0x20 || c === 0x7f) {
      return refused('the path has a control character')
    } else if (isPlainPathChar(c)) {
      segment += raw[i]
    } else if (c <= 0xff) {
      // Node gives the request line as latin1: each code is one byte as it arrived
      segment += encoded(c)
    } else {
      return refused('the path has a character that is not a byte')
    }
  }

  const out: string[] = []
  let trailingSlash = false
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!
    const last = i === segments.length - 1
    if (s === '.' || s === '..') {
      if (s === '..') out.pop()
      // "/a/b/.." is "/a/": the directory the last segment named
      if (last) trailingSlash = true
    } else if (s === '') {
      if (last) trailingSlash = true
    } else if (isDotWithParameters(s)) {
      return refused(
        'the path has a "." or ".." segment with ";" parameters, which some servers read as "." or ".."',
      )
    } else {
      out.push(s)
      trailingSlash = false
    }
  }
  const path = `/${out.join('/')}`
  return { ok: true, path: trailingSlash && out.length > 0 ? `${path}/` : path }
}

/** One segment of a path pattern. */
type PatternPart =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'one' }
  | { readonly kind: 'rest' }

/** A compiled path pattern of a route rule or an upstream prefix. */
export interface PathPattern {
  /** As written in the configuration. */
  readonly source: string
  readonly parts: readonly PatternPart[]
}

/**
 * Compiles a rule's path pattern: literal segments, `*` or `:name` for exactly one non-empty
 * segment, and a final `**` for any number of segments (none included). Literal segments are
 * taken in the normal form requests are matched in.
 *
 * @example
 * compilePattern('/orders/:id/items') ; compilePattern('/files/**')
 * @throws Error with a sentence saying what is wrong with the pattern
 */
export function compilePattern(source: string): PathPattern {
  if (!source.startsWith('/')) throw new Error('must start with "/"')
  if (source === '/') return { source, parts: [{ kind: 'literal', text: '' }] }
  const raw = source.slice(1).split('/')
  const parts: PatternPart[] = []
  for (let i = 0; i < raw.length; i++) {
    const s = raw[i]!
    const last = i === raw.length - 1
    if (s === '**') {
      if (!last) throw new Error('may have "**" only as its last segment')
      parts.push({ kind: 'rest' })
    } else if (s === '*' || /^:[A-Za-z_][A-Za-z0-9_]*$/.test(s)) {
      parts.push({ kind: 'one' })
    } else if (s.includes('*')) {
      throw new Error(
        'may use "*" only as a whole segment ("*" for one segment, a final "**" for any number)',
      )
    } else if (s === '' && !last) {
      throw new Error('must not have empty segments ("//")')
    } else {
      const normal = normalizePath(`/${s}`)
      if (!normal.ok) throw new Error(`has a segment that cannot be matched: ${normal.reason}`)
      if (s === '.' || s === '..')
        throw new Error(
          'must be written in normal form: without "." or ".." segments (write the path they lead to)',
        )
      if (normal.path !== `/${s}`)
        throw new Error(
          `must be written in normal form: "${s}" is "${normal.path.slice(1)}" once normalised`,
        )
      parts.push({ kind: 'literal', text: s })
    }
  }
  return { source, parts }
}

/**
 * Whether a normalised path, split at "/" after its leading one (`'/a/b/'` is
 * `['a', 'b', '']`), matches the pattern.
 */
export function matchPattern(pattern: PathPattern, segments: readonly string[]): boolean {
  const { parts } = pattern
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    if (part.kind === 'rest') return true
    const s = segments[i]
    if (s === undefined) return false
    if (part.kind === 'one') {
      if (s === '') return false
    } else if (part.text !== s) return false
  }
  return segments.length === parts.length
}
