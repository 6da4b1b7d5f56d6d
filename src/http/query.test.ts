import { describe, expect, it } from 'vitest'
import { decodeQueryComponent, queryNameIs, queryValues, resolveQueryParam } from './query.js'

/** A small deterministic generator (mulberry32), so a failure names a reproducible case. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// pieces that exercise every rule: separators, encodings good and bad, UTF-8 good and bad,
// a BOM, the parameter's own letters (no lone surrogates: no request target can hold one)
const PIECES = [
  'a',
  'p',
  'i',
  '_',
  'k',
  'e',
  'y',
  'api_key',
  '%61',
  '%5F',
  '%5f',
  '%6B',
  '+',
  '%2B',
  '%20',
  '%',
  '%4',
  '%zz',
  '%%',
  '=',
  '%3D',
  '&',
  '%26',
  '#',
  '?',
  ';',
  '"',
  "'",
  '%22',
  'é',
  '%C3%A9',
  '%C3',
  '%A9',
  '%FF',
  '%EF%BB%BF',
  '\uFEFF',
  '%E2%82',
  ' ',
]

/**
 * The WHATWG rules as reference: URLSearchParams on the text with every non-ASCII character
 * written as its UTF-8 %XX bytes, which is what the standard does
 * first. Node's own URLSearchParams departs from it for raw non-ASCII characters next to a
 * %-escape (it keeps only the low byte of each: "š" becomes "a"), so it is only asked about
 * ASCII text.
 */
function ascii(text: string): string {
  return text.replace(/[^\x00-\x7f]/gu, (c) => encodeURIComponent(c))
}

function generate(next: () => number, length: number): string {
  let out = ''
  for (let i = 0; i < length; i++) out += PIECES[Math.floor(next() * PIECES.length)]
  return out
}

describe('query parsing agrees with URLSearchParams', () => {
  it('decodeQueryComponent on generated names and values', () => {
    const next = random(1)
    for (let i = 0; i < 3000; i++) {
      const text = generate(next, 1 + Math.floor(next() * 8)).replace(/[&=#]/g, '')
      const expected = [...new URLSearchParams(`x=${ascii(text)}`).values()][0]
      expect([text, decodeQueryComponent(text)]).toEqual([text, expected])
    }
  })

  it('queryValues on generated request targets', () => {
    const next = random(2)
    for (let i = 0; i < 3000; i++) {
      const url = `/p?${generate(next, 1 + Math.floor(next() * 12))}`
      const q = url.indexOf('?')
      const hash = url.indexOf('#', q)
      const search = ascii(hash === -1 ? url.slice(q + 1) : url.slice(q + 1, hash))
      for (const name of ['api_key', 'a', 'é', '']) {
        expect([url, name, queryValues(url, name)]).toEqual([
          url,
          name,
          new URLSearchParams(search).getAll(name),
        ])
      }
    }
  })

  it.each([
    ['/orders?api_key=k', ['k']],
    ['/orders?%61pi_key=k', ['k']],
    ['/orders?api_%6Bey=k', ['k']],
    ['/orders?%61%70%69%5f%6b%65%79=k', ['k']],
    ['/orders??api_key=k', ['k']],
    ['/orders?api_key=a=b&api_key', ['a=b', '']],
    ['/orders?api_key=a%26b+c#api_key=x', ['a&b c']],
    ['/orders?API_KEY=k', []],
    ['/orders?x=1;api_key=k', []],
    ['/orders', []],
    // Node's URLSearchParams would read "š" as "a" here (see ascii() above)
    ['/orders?\u0161pi_%6Bey=k', []],
  ])('%s -> %j', (url, values) => {
    expect(queryValues(url, 'api_key')).toEqual(values)
  })
})

describe('queryNameIs', () => {
  it.each([
    ['api_key', false, true],
    ['API_KEY', false, false],
    ['API_KEY', true, true],
    ['%41PI_KEY', true, true],
    ['api_key+', true, false],
    ['api_ke', true, false],
    ['api_kez', true, false],
    // U+212A KELVIN SIGN lowercases to "k" in Unicode; names fold ASCII only
    ['api_\u212Aey', true, false],
  ])('%j (ignore case: %s) -> %s', (name, ignoreCase, expected) => {
    expect(queryNameIs(`?${name}=`, 1, name.length + 1, 'api_key', ignoreCase)).toBe(expected)
  })
})

describe('resolveQueryParam', () => {
  it('defaults to api_key and refuses what cannot be a plain name', () => {
    expect(resolveQueryParam(undefined)).toBe('api_key')
    expect(resolveQueryParam('key.v2-x')).toBe('key.v2-x')
    expect(() => resolveQueryParam('a b')).toThrow(
      '"queryParam" must be 1-64 letters, digits, "_", "." or "-", got "a b"',
    )
    expect(() => resolveQueryParam(5)).toThrow(/"queryParam" must be/)
  })
})
