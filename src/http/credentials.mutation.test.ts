import { describe, expect, it } from 'vitest'
import {
  AMBIGUOUS,
  equalsLowerAscii,
  extractCredential,
  isPreflight,
  parseAuthorization,
  type RequestView,
  trimOws,
} from './credentials.js'
import { resolveApiKeyOptions } from './options.js'

// Where a credential is found, byte by byte (credentials.test.ts has the common cases).

const keyward = { verify: async () => ({ ok: false, code: 'key_invalid' }) as const }
const quiet = { warn() {} }

function view(
  headers: Record<string, string | string[]>,
  url = '/orders',
  method = 'GET',
): RequestView {
  return { method, url, ip: undefined, header: (name) => headers[name] }
}

describe('parseAuthorization', () => {
  it('skips spaces and tabs before the scheme and after it', () => {
    expect(parseAuthorization('  Bearer abc', true, false)).toBe('abc')
    expect(parseAuthorization('\tApiKey \t abc', false, true)).toBe('abc')
    expect(parseAuthorization('   ', true, true)).toBeNull()
    expect(parseAuthorization('Bearer\u00a0abc', true, true)).toBeNull()
  })

  it('compares the scheme in full, ignoring ASCII case only', () => {
    expect(parseAuthorization('bEaReR k', true, false)).toBe('k')
    expect(parseAuthorization('Beare k', true, false)).toBeNull()
    expect(parseAuthorization('Bearerr k', true, false)).toBeNull()
    expect(parseAuthorization('Apikey k', false, true)).toBe('k')
    expect(parseAuthorization('Api-Key k', false, true)).toBeNull()
    expect(parseAuthorization('Bearer k', false, false)).toBeNull()
  })
})

describe('equalsLowerAscii', () => {
  it('compares a slice with a lowercase word', () => {
    expect(equalsLowerAscii('xAuthorizationx', 1, 14, 'authorization')).toBe(true)
    expect(equalsLowerAscii('xAuthorizationx', 0, 13, 'authorization')).toBe(false)
    expect(equalsLowerAscii('X-API-KEY', 0, 9, 'x-api-key')).toBe(true)
    expect(equalsLowerAscii('X-API-KEZ', 0, 9, 'x-api-key')).toBe(false)
    expect(equalsLowerAscii('ab', 0, 2, 'abc')).toBe(false)
    expect(equalsLowerAscii('', 0, 0, '')).toBe(true)
  })
})

describe('trimOws', () => {
  it('trims either end alone', () => {
    expect(trimOws('  k')).toBe('k')
    expect(trimOws('k\t')).toBe('k')
    expect(trimOws(' \t ')).toBe('')
    expect(trimOws('')).toBe('')
  })
})

describe('extractCredential', () => {
  const all = resolveApiKeyOptions({
    keyward,
    sources: ['x-api-key', 'bearer', 'apikey', 'query'],
    logger: quiet,
  })

  it('trims the key of every source', () => {
    expect(extractCredential(all, view({ 'x-api-key': ' k1\t' }))).toBe('k1')
    expect(extractCredential(all, view({ authorization: 'ApiKey  k1 ' }))).toBe('k1')
    expect(extractCredential(all, view({}, '/o?api_key=%20k1%20'))).toBe('k1')
    expect(extractCredential(all, view({}, '/o?api_key=k1+'))).toBe('k1')
  })

  it('refuses a comma in any credential: a joined list', () => {
    expect(extractCredential(all, view({ authorization: 'Bearer k1,k2' }))).toBe(AMBIGUOUS)
    expect(extractCredential(all, view({ 'x-api-key': 'k1,' }))).toBe(AMBIGUOUS)
  })

  it('counts a query key together with any key of the headers', () => {
    expect(extractCredential(all, view({ authorization: 'Bearer k1' }, '/o?api_key=k2'))).toBe(
      AMBIGUOUS,
    )
    // a Basic Authorization is not a key: the query key stands alone
    expect(extractCredential(all, view({ authorization: 'Basic abc' }, '/o?api_key=k2'))).toBe('k2')
    expect(extractCredential(all, view({}, '/o?api_key='))).toBe('')
  })

  it('reads a repeated Authorization as ambiguous only when Authorization is a source', () => {
    const header = resolveApiKeyOptions({ keyward, sources: ['x-api-key'] })
    expect(
      extractCredential(header, view({ 'x-api-key': 'k1', authorization: ['Basic a', 'Basic b'] })),
    ).toBe('k1')
    const apikey = resolveApiKeyOptions({ keyward, sources: ['apikey'] })
    expect(extractCredential(apikey, view({ authorization: ['ApiKey a', 'ApiKey b'] }))).toBe(
      AMBIGUOUS,
    )
    expect(extractCredential(apikey, view({ authorization: 'ApiKey a', 'x-api-key': 'b' }))).toBe(
      'a',
    )
  })

  it('reads the query parameter the options name', () => {
    const token = resolveApiKeyOptions({
      keyward,
      sources: ['query'],
      queryParam: 'token',
      logger: quiet,
    })
    expect(extractCredential(token, view({}, '/o?api_key=a&token=b'))).toBe('b')
    expect(extractCredential(token, view({}, '/o?api_key=a'))).toBeNull()
  })
})

describe('isPreflight', () => {
  it('is an OPTIONS request with Access-Control-Request-Method, nothing else', () => {
    const acrm = { 'access-control-request-method': 'POST' }
    expect(isPreflight(view(acrm, '/', 'OPTIONS'))).toBe(true)
    expect(isPreflight(view({}, '/', 'OPTIONS'))).toBe(false)
    expect(isPreflight(view(acrm, '/', 'GET'))).toBe(false)
  })
})
