import { describe, expect, it } from 'vitest'
import {
  AMBIGUOUS,
  extractCredential,
  parseAuthorization,
  type RequestView,
  trimOws,
} from './credentials.js'
import { resolveApiKeyOptions } from './options.js'

const keyward = { verify: async () => ({ ok: false, code: 'key_invalid' }) as const }
const quiet = { warn() {} }
const all = resolveApiKeyOptions({
  keyward,
  sources: ['x-api-key', 'bearer', 'apikey', 'query'],
  logger: quiet,
})
const defaults = resolveApiKeyOptions({ keyward })

function view(headers: Record<string, string | string[]>, url = '/orders'): RequestView {
  return { method: 'GET', url, ip: undefined, header: (name) => headers[name] }
}

describe('parseAuthorization', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['BEARER  abc  ', 'abc'],
    ['Bearer\tabc', 'abc'],
    ['Bearer', ''],
    ['Bearer a b', 'a b'],
    ['ApiKey abc', 'abc'],
    ['apikey abc', 'abc'],
    ['Bearerabc', null],
    ['Basic dXNlcjpwYXNz', null],
    ['Bearer-x abc', null],
    ['', null],
  ])('%j -> %j', (value, expected) => {
    expect(parseAuthorization(value, true, true)).toBe(expected)
  })

  it('ignores schemes that are off', () => {
    expect(parseAuthorization('ApiKey abc', true, false)).toBeNull()
    expect(parseAuthorization('Bearer abc', false, true)).toBeNull()
  })
})

describe('trimOws', () => {
  it('trims spaces and tabs only, and returns the same string when there is nothing to trim', () => {
    expect(trimOws(' \tab c\t ')).toBe('ab c')
    const s = 'abc'
    expect(trimOws(s)).toBe(s)
    expect(trimOws('\u00a0abc')).toBe('\u00a0abc')
  })
})

describe('extractCredential', () => {
  it.each([
    ['nothing', {}, '/orders', null],
    ['X-API-Key', { 'x-api-key': 'k1' }, '/orders', 'k1'],
    ['Bearer', { authorization: 'Bearer k1' }, '/orders', 'k1'],
    ['query', {}, '/orders?a=1&api_key=k1', 'k1'],
    ['query with a fragment', {}, '/orders?api_key=k1#x', 'k1'],
    ['percent-encoded query name', {}, '/orders?api%5Fkey=k1', 'k1'],
    ['X-API-Key on two lines', { 'x-api-key': ['k1', 'k2'] }, '/orders', AMBIGUOUS],
    ['X-API-Key joined by Node', { 'x-api-key': 'k1, k2' }, '/orders', AMBIGUOUS],
    [
      'Authorization on two lines',
      { authorization: ['Bearer k1', 'Bearer k2'] },
      '/orders',
      AMBIGUOUS,
    ],
    [
      'Authorization joined by fetch',
      { authorization: 'Bearer k1, Bearer k2' },
      '/orders',
      AMBIGUOUS,
    ],
    ['header and Bearer', { 'x-api-key': 'k1', authorization: 'Bearer k1' }, '/orders', AMBIGUOUS],
    ['header and query', { 'x-api-key': 'k1' }, '/orders?api_key=k1', AMBIGUOUS],
    ['query twice', {}, '/orders?api_key=k1&api_key=k2', AMBIGUOUS],
    ['header and Basic', { 'x-api-key': 'k1', authorization: 'Basic abc' }, '/orders', 'k1'],
  ] as const)('%s', (_name, headers, url, expected) => {
    expect(extractCredential(all, view(headers as Record<string, string>, url))).toBe(expected)
  })

  it('only reads the enabled sources', () => {
    expect(extractCredential(defaults, view({}, '/orders?api_key=k1'))).toBeNull()
    expect(extractCredential(defaults, view({ authorization: 'ApiKey k1' }))).toBeNull()
  })
})
