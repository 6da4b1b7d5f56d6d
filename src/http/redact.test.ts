import { describe, expect, it } from 'vitest'
import { extractCredential, type RequestView } from './credentials.js'
import { resolveApiKeyOptions } from './options.js'
import {
  createRequestRedactor,
  keywardRedactPaths,
  REDACTED,
  redactHeaders,
  redactRequest,
  redactUrl,
} from './redact.js'

const keyward = { verify: async () => ({ ok: false, code: 'key_invalid' }) as const }
const quiet = { warn() {} }

function view(url: string): RequestView {
  return { method: 'GET', url, ip: undefined, header: () => undefined }
}

/** Every way of writing `name` that the query source decodes back to it (sampled). */
function nameEncodings(name: string): string[] {
  const hex = (c: string) => c.charCodeAt(0).toString(16).padStart(2, '0')
  const out = new Set<string>([name])
  out.add([...name].map((c) => `%${hex(c).toUpperCase()}`).join(''))
  out.add([...name].map((c) => `%${hex(c)}`).join(''))
  for (let i = 0; i < name.length; i++) {
    for (const enc of [`%${hex(name[i]!).toUpperCase()}`, `%${hex(name[i]!)}`]) {
      out.add(name.slice(0, i) + enc + name.slice(i + 1))
    }
  }
  // names that must not count: case, a trailing space, a bad escape
  for (const near of [name.toUpperCase(), `${name}+`, `${name}%2`, `${name.slice(1)}`])
    out.add(near)
  return [...out]
}

// raw value text as it would stand in the URL; each begins and ends with a marker so a
// surviving piece of either end shows up
const VALUES = [
  'kw_live_AbC123',
  'ab"cd',
  "ab'cd",
  'ab%22cd',
  'ab+cd',
  'ab;cd',
  'ab%3Bcd',
  'ab%26cd',
  'ab%23cd',
  'ab=cd',
  'ab?cd',
  'ab/cd',
  'ab%2Bcd',
  'ab%C3%A9cd',
  'ab%zzcd',
  'ab%',
  '%20ab%09',
  'ab<>{}|\\^`cd',
].map((v) => `SECRETX${v}XSECRET`)

const CONTEXTS = [
  (p: string) => `/orders?${p}`,
  (p: string) => `/orders?page=2&${p}`,
  (p: string) => `/orders?${p}&page=2`,
  (p: string) => `/orders?${p}#frag`,
  (p: string) => `/orders??${p}`,
  (p: string) => `/orders?a=1&&${p}&b=2`,
  (p: string) => `https://api.example/orders?${p}`,
]

/** Log lines as morgan ("combined") and hono/logger write them. */
const LINES = [
  (url: string) =>
    `127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET ${url} HTTP/1.1" 200 2 "-" "curl"`,
  (url: string) => `<-- GET ${url}`,
  (url: string) => `--> GET ${url} 200 3ms`,
]

describe('redactUrl removes every query credential the query source would read', () => {
  for (const param of ['api_key', 'token.v2-x']) {
    it(`param ${param}: names in any encoding, values with quotes, escapes, + and ;`, () => {
      const options = resolveApiKeyOptions({
        keyward,
        sources: ['query'],
        queryParam: param,
        logger: quiet,
      })
      let found = 0
      for (const name of nameEncodings(param)) {
        for (const value of VALUES) {
          for (const context of CONTEXTS) {
            const url = context(`${name}=${value}`)
            const credential = extractCredential(options, view(url))
            if (typeof credential !== 'string' || credential === '') continue
            found++
            const texts = [url, ...LINES.map((line) => line(url))]
            for (const text of texts) {
              const redacted = redactUrl(text, param)
              expect(redacted, text).not.toContain(credential)
              expect(redacted, text).not.toContain(encodeURIComponent(credential))
              expect(redacted, text).not.toContain(value)
              // neither end of the value survives
              expect(redacted, text).not.toContain('SECRET')
              expect(redacted, text).toContain(`=${REDACTED}`)
            }
          }
        }
      }
      // the property was exercised, not vacuously true
      expect(found).toBeGreaterThan(500)
    })
  }

  it('the names it must match are the ones extraction reads', () => {
    const options = resolveApiKeyOptions({ keyward, sources: ['query'], logger: quiet })
    for (const url of ['/o?%61pi_key=k', '/o?api_%6Bey=k', '/o?%61%70%69%5F%6B%65%79=k']) {
      expect(extractCredential(options, view(url))).toBe('k')
      expect(redactUrl(url)).toBe(`${url.slice(0, url.indexOf('=') + 1)}${REDACTED}`)
    }
  })

  it('leaves other parameters, and the rest of the line, alone', () => {
    expect(redactUrl('/orders?page=2&api_key=abc&sort=asc#x')).toBe(
      `/orders?page=2&api_key=${REDACTED}&sort=asc#x`,
    )
    expect(redactUrl('"GET /o?api_key=a"b HTTP/1.1" 200')).toBe(
      `"GET /o?api_key=${REDACTED} HTTP/1.1" 200`,
    )
    expect(redactUrl('/orders?my_api_key=abc&xapi_key=d')).toBe('/orders?my_api_key=abc&xapi_key=d')
    expect(redactUrl('/orders/api_key=abc')).toBe('/orders/api_key=abc')
    expect(redactUrl('/orders?page=2')).toBe('/orders?page=2')
    // API_KEY does not authenticate, but is redacted too
    expect(redactUrl('/orders?API_KEY=abc')).toBe(`/orders?API_KEY=${REDACTED}`)
    expect(redactUrl('/a?api_key=1 /b?api_key=2')).toBe(
      `/a?api_key=${REDACTED} /b?api_key=${REDACTED}`,
    )
  })
})

describe('redactHeaders', () => {
  it.each([
    ['X-Api-Key', 'kw_live_secret', REDACTED],
    ['x-api-key', 'kw_live_secret', REDACTED],
    ['X-API-KEY', 'kw_live_secret', REDACTED],
    ['Authorization', 'Bearer kw_live_secret', `Bearer ${REDACTED}`],
    ['authorization', 'ApiKey kw_live_secret', `ApiKey ${REDACTED}`],
    ['AUTHORIZATION', 'Bearer kw_live_secret', `Bearer ${REDACTED}`],
    ['Proxy-Authorization', 'Basic a2V5', `Basic ${REDACTED}`],
    ['Authorization', 'kw_live_secret', REDACTED],
    ['x-api-key', ['kw_live_secret', 'kw_live_other'], REDACTED],
  ])('%s: %j', (name, value, expected) => {
    const out = redactHeaders({ [name]: value, accept: 'application/json' })
    expect(out).toEqual({ [name]: expected, accept: 'application/json' })
    expect(JSON.stringify(out)).not.toContain('kw_live_')
  })
})

describe('redactRequest and createRequestRedactor', () => {
  const request = (url: string, query: Record<string, unknown>) => ({
    method: 'GET',
    url,
    query,
    headers: { 'X-API-KEY': 'kw_live_secret', Authorization: 'Bearer kw_live_secret' },
  })

  it('redacts the URL, the parsed query (names as extraction reads them) and the headers', () => {
    const out = redactRequest(
      request('/o?%61pi_key=kw_live_secret&page=2', {
        api_key: 'kw_live_secret',
        API_KEY: 'kw_live_secret',
        '%61pi_key': 'kw_live_secret',
        page: '2',
      }),
    )
    expect(JSON.stringify(out)).not.toContain('kw_live_secret')
    expect(out.url).toBe(`/o?%61pi_key=${REDACTED}&page=2`)
    expect(out.query).toEqual({
      api_key: REDACTED,
      API_KEY: REDACTED,
      '%61pi_key': REDACTED,
      page: '2',
    })
    expect(out.headers).toEqual({ 'X-API-KEY': REDACTED, Authorization: `Bearer ${REDACTED}` })
  })

  it('takes a custom queryParam; the default one stays api_key', () => {
    const custom = createRequestRedactor({ queryParam: 'token' })
    const req = request('/o?t%6Fken=kw_live_secret&api_key=x', { token: 'kw_live_secret', page: 1 })
    const out = custom.redactRequest(req)
    expect(out.url).toBe(`/o?t%6Fken=${REDACTED}&api_key=x`)
    expect(out.query).toEqual({ token: REDACTED, page: 1 })
    expect(custom.serializers.req(req)).toEqual(out)
    expect(custom.redactUrl('/o?token=abc')).toBe(`/o?token=${REDACTED}`)
    expect(custom.redactPaths).toContain('req.query.token')
    expect(createRequestRedactor({ queryParam: 'key-2' }).redactPaths).toContain(
      'req.query["key-2"]',
    )
    // the default serialiser does not know the custom name
    expect(redactRequest(req).url).toBe('/o?t%6Fken=kw_live_secret&api_key=[REDACTED]')
    expect(keywardRedactPaths).toContain('req.query.api_key')
  })

  it('refuses a bad option with the name of the option', () => {
    expect(() => createRequestRedactor({ queryParam: 'a b' })).toThrow(/"queryParam" must be/)
    expect(() => createRequestRedactor({ param: 'x' } as never)).toThrow(
      /unknown option "param" for createRequestRedactor/,
    )
  })
})
