import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { parseAuthorization } from './credentials.js'
import {
  createRequestRedactor,
  keywardRedactPaths,
  REDACTED,
  redactHeaders,
  redactRequest,
  redactUrl,
} from './redact.js'

// What the log helpers write, field by field and character by character (redact.test.ts checks
// them against extraction on generated spellings).

const SECRET = 'kw_live_S3cret'

describe('redactUrl: where a value ends', () => {
  it('keeps a #fragment after the value', () => {
    expect(redactUrl(`/orders?api_key=${SECRET}#top`)).toBe(`/orders?api_key=${REDACTED}#top`)
  })

  it('ends the value at a tab, a line feed or a carriage return of a log line', () => {
    expect(redactUrl(`GET\t/o?api_key=${SECRET}\t200`)).toBe(`GET\t/o?api_key=${REDACTED}\t200`)
    expect(redactUrl(`GET /o?api_key=${SECRET}\nGET /p?page=2`)).toBe(
      `GET /o?api_key=${REDACTED}\nGET /p?page=2`,
    )
    expect(redactUrl(`GET /o?api_key=${SECRET}\r\nGET /p`)).toBe(
      `GET /o?api_key=${REDACTED}\r\nGET /p`,
    )
  })

  it('redacts a repeated parameter every time, however it is spelled', () => {
    expect(redactUrl(`/o?api_key=${SECRET}&api_key=${SECRET}`)).toBe(
      `/o?api_key=${REDACTED}&api_key=${REDACTED}`,
    )
    expect(redactUrl(`/o?api_key=a&%61pi_key=${SECRET}&page=2`)).toBe(
      `/o?api_key=${REDACTED}&%61pi_key=${REDACTED}&page=2`,
    )
  })

  it('leaves a parameter without "=" as it is: there is no value to hide', () => {
    for (const url of [
      '/orders?page=2&debug',
      '/orders?page=2&api_key',
      '/orders?page=2&%61pi_key',
      '/orders?api_key&page=2',
      '/orders=1?api_key',
    ]) {
      expect(redactUrl(url)).toBe(url)
    }
  })
})

describe('redactUrl: names compared ignoring ASCII case only', () => {
  it('folds A-Z, including Z, onto a-z', () => {
    expect(redactUrl(`/o?AUTHZ=${SECRET}&Authz=x`, 'authz')).toBe(
      `/o?AUTHZ=${REDACTED}&Authz=${REDACTED}`,
    )
    expect(redactUrl(`/o?Zone=${SECRET}`, 'zone')).toBe(`/o?Zone=${REDACTED}`)
  })

  it('does not take a control character or DEL for "_", "-" or a digit', () => {
    // DEL is "_" with the case bit; CR and DC2 are "-" and "2" without it
    expect(redactUrl(`/o?api%7Fkey=v&api_key=${SECRET}`)).toBe(`/o?api%7Fkey=v&api_key=${REDACTED}`)
    const redactor = createRequestRedactor({ queryParam: 'key-2' })
    expect(redactor.redactUrl(`/o?key%0D%12=v&KEY-2=${SECRET}`)).toBe(
      `/o?key%0D%12=v&KEY-2=${REDACTED}`,
    )
    expect(redactRequest({ url: '/o', query: { 'api\u007fkey': 'v' } }).query).toEqual({
      'api\u007fkey': 'v',
    })
  })
})

describe('redactHeaders', () => {
  it('ends the scheme where extraction ends it: at a space or a tab', () => {
    const value = `Bearer\t${SECRET} x`
    // extraction reads everything after the tab as the credential
    expect(parseAuthorization(value, true, false)).toBe(`${SECRET} x`)
    const out = redactHeaders({ authorization: value, 'proxy-authorization': `Basic\t${SECRET}` })
    expect(out).toEqual({
      authorization: `Bearer ${REDACTED}`,
      'proxy-authorization': `Basic ${REDACTED}`,
    })
  })

  it('replaces a value that starts with a space whole: there is no scheme to keep', () => {
    expect(redactHeaders({ authorization: ` ${SECRET}` })).toEqual({ authorization: REDACTED })
  })

  it('takes null headers (a hand-built request) without throwing', () => {
    expect(redactHeaders(null as never)).toBeNull()
    expect(() => redactRequest({ url: '/', headers: null as never })).not.toThrow()
  })
})

describe('redactRequest fields', () => {
  it('writes only the fields the request has', () => {
    expect(redactRequest({})).toStrictEqual({ url: '' })
    // a plain Node request has no parsed query
    expect(redactRequest({ method: 'GET', url: '/o' })).toStrictEqual({ method: 'GET', url: '/o' })
    expect(redactRequest({ url: '/o', query: null })).toStrictEqual({ url: '/o' })
    expect(redactRequest({ url: '/o', query: 'api_key=x' })).toStrictEqual({ url: '/o' })
  })

  it('copies the request id', () => {
    expect(redactRequest({ id: 7, method: 'GET', url: '/o' })).toStrictEqual({
      id: 7,
      method: 'GET',
      url: '/o',
    })
    expect(redactRequest({ id: 'req-1', url: '/o' }).id).toBe('req-1')
  })

  it('takes the peer from remoteAddress/remotePort, then ip, then the socket', () => {
    // pino-http's shape
    expect(redactRequest({ url: '/', remoteAddress: '192.0.2.1', remotePort: 4000 })).toEqual({
      url: '/',
      remoteAddress: '192.0.2.1',
      remotePort: 4000,
    })
    // Express behind a proxy: req.ip is the client, the socket the proxy
    const express = { url: '/', ip: '203.0.113.9', socket: { remoteAddress: '10.0.0.1' } }
    expect(redactRequest(express).remoteAddress).toBe('203.0.113.9')
    // a bare Node request
    const node = { url: '/', socket: { remoteAddress: '192.0.2.3', remotePort: 5000 } }
    expect(redactRequest(node)).toEqual({ url: '/', remoteAddress: '192.0.2.3', remotePort: 5000 })
  })
})

/** Everything pino writes for `obj` with these redact paths. */
function pinoLine(paths: readonly string[], obj: object): string {
  const lines: string[] = []
  pino({ redact: [...paths] }, { write: (line: string) => lines.push(line) }).info(obj)
  return lines.join('')
}

describe('pino redact paths', () => {
  it('keywardRedactPaths remove every credential header and the api_key query value', () => {
    const line = pinoLine(keywardRedactPaths, {
      req: {
        headers: {
          'x-api-key': SECRET,
          authorization: `Bearer ${SECRET}`,
          'proxy-authorization': `Basic ${SECRET}`,
          accept: 'application/json',
        },
        query: { api_key: SECRET, page: '2' },
      },
    })
    expect(line).not.toContain(SECRET)
    expect(JSON.parse(line).req).toEqual({
      headers: {
        'x-api-key': '[Redacted]',
        authorization: '[Redacted]',
        'proxy-authorization': '[Redacted]',
        accept: 'application/json',
      },
      query: { api_key: '[Redacted]', page: '2' },
    })
  })

  it('a custom queryParam that is not an identifier is addressed in brackets', () => {
    for (const param of ['key.v2', 'key-2', '2fa', 'token']) {
      const { redactPaths } = createRequestRedactor({ queryParam: param })
      const line = pinoLine(redactPaths, { req: { query: { [param]: SECRET, page: '2' } } })
      expect(line, param).not.toContain(SECRET)
      expect(JSON.parse(line).req.query, param).toEqual({ [param]: '[Redacted]', page: '2' })
    }
  })
})
