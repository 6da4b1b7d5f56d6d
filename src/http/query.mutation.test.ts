import { describe, expect, it } from 'vitest'
import { extractCredential, type RequestView } from './credentials.js'
import { resolveApiKeyOptions } from './options.js'
import { queryValues } from './query.js'

// Which query credential is read from which spelling, character by character (query.test.ts
// checks agreement with URLSearchParams on generated input).

const keyward = { verify: async () => ({ ok: false, code: 'key_invalid' }) as const }
const quiet = { warn() {} }
const query = resolveApiKeyOptions({ keyward, sources: ['query'], logger: quiet })

function view(url: string): RequestView {
  return { method: 'GET', url, ip: undefined, header: () => undefined }
}

function searchParams(url: string, name: string): string[] {
  return new URLSearchParams(url.slice(url.indexOf('?') + 1)).getAll(name)
}

describe('query credential spelling', () => {
  it('reads a query that starts right after the first slash', () => {
    expect(extractCredential(query, view('/?api_key=k1'))).toBe('k1')
    expect(extractCredential(query, view('https://api.example/?api_key=k1'))).toBe('k1')
  })

  it('reads nothing from a target without "?", even one holding "&api_key="', () => {
    expect(extractCredential(query, view('/orders&api_key=k1'))).toBeNull()
    expect(extractCredential(query, view('api_key=k1'))).toBeNull()
  })

  it('decodes %0X escapes (a leading zero digit): %09 around a key is trimmed', () => {
    expect(extractCredential(query, view('/o?api_key=%09k1%09'))).toBe('k1')
    expect(queryValues('/o?api_key=a%00b%0a', 'api_key')).toEqual(['a\u0000b\n'])
  })

  it('takes "%" before "@" or "`" (next to the hex letters) literally', () => {
    for (const url of [
      '/o?api_key=k%@1',
      '/o?api_key=k%`1',
      '/o?api_key=k%4@',
      '/o?api_key=k%@@',
    ]) {
      const raw = url.slice(url.indexOf('=') + 1)
      expect(extractCredential(query, view(url))).toBe(raw)
      expect(queryValues(url, 'api_key')).toEqual(searchParams(url, 'api_key'))
    }
  })

  // keyward's queryParam cannot hold a space; this is the parser's URLSearchParams contract
  it('matches a name with a space written as "+" or %20, as URLSearchParams does', () => {
    const url = '/p?a+b=1&a%20b=2&+=3&%20=4&a b=5'
    expect(queryValues(url, 'a b')).toEqual(['1', '2', '5'])
    expect(queryValues(url, ' ')).toEqual(['3', '4'])
    expect(queryValues(url, 'a b')).toEqual(searchParams(url, 'a b'))
    expect(queryValues(url, ' ')).toEqual(searchParams(url, ' '))
  })
})
