import { IncomingMessage, type ServerResponse } from 'node:http'
import { describe, expect, it } from 'vitest'
import { NodeRequestView, setHeaders, writeDenied } from './node-view.js'

// What keyward reads from a Node request (node-view.test.ts covers the header-count limit).

function request(fields: {
  rawHeaders: string[]
  method?: string
  url?: string
  originalUrl?: string
  body?: unknown
  remoteAddress?: string
}): NodeRequestView {
  const headers: Record<string, string> = {}
  // Node's req.headers: the first line of single-valued headers, list headers joined
  for (let i = 0; i < fields.rawHeaders.length; i += 2) {
    const name = fields.rawHeaders[i]!.toLowerCase()
    const value = fields.rawHeaders[i + 1]!
    if (headers[name] === undefined) headers[name] = value
    else if (name !== 'authorization' && name !== 'user-agent') headers[name] += `, ${value}`
  }
  return new NodeRequestView({
    headers,
    rawHeaders: fields.rawHeaders,
    method: fields.method,
    url: fields.url,
    originalUrl: fields.originalUrl,
    body: fields.body,
    socket: { remoteAddress: fields.remoteAddress },
  } as unknown as IncomingMessage)
}

describe('NodeRequestView.header', () => {
  it('returns every Authorization line, in any spelling of the name', () => {
    const view = request({
      rawHeaders: ['AUTHORIZATION', 'Bearer a', 'Host', 'x', 'authorization', 'Bearer b'],
    })
    expect(view.header('authorization')).toEqual(['Bearer a', 'Bearer b'])
    const three = request({
      rawHeaders: ['Authorization', 'a', 'Authorization', 'b', 'Authorization', 'c'],
    })
    expect(three.header('authorization')).toEqual(['a', 'b', 'c'])
  })

  it('returns a single line as a string, and absent headers as undefined', () => {
    const view = request({ rawHeaders: ['Authorization', 'Bearer a', 'X-API-Key', 'k'] })
    expect(view.header('authorization')).toBe('Bearer a')
    expect(view.header('x-api-key')).toBe('k')
    expect(view.header('idempotency-key')).toBeUndefined()
  })

  it('does not take a longer or shorter header name for Authorization', () => {
    const view = request({
      rawHeaders: ['Authorization', 'Bearer a', 'Authorizations', 'Bearer b', 'Authorizatio', 'c'],
    })
    expect(view.header('authorization')).toBe('Bearer a')
  })

  it('does not take another header of the same length for Authorization', () => {
    // "cache-control" has as many letters as "authorization"
    const view = request({
      rawHeaders: ['Cache-Control', 'no-cache', 'Authorization', 'Bearer a', 'Cache-Control', 'x'],
    })
    expect(view.header('authorization')).toBe('Bearer a')
  })

  it('treats a header an earlier middleware deleted from req.headers as absent', () => {
    const view = request({ rawHeaders: ['Authorization', 'Basic dXNlcjpwdw==', 'Host', 'x'] })
    delete view.req.headers.authorization
    expect(view.header('authorization')).toBeUndefined()
  })

  it('reads repeated list headers joined, as Node gives them', () => {
    const view = request({ rawHeaders: ['X-API-Key', 'a', 'x-api-key', 'b'] })
    expect(view.header('x-api-key')).toBe('a, b')
  })
})

describe('NodeRequestView fields', () => {
  it('reads method, the URL as received, the body and the peer', () => {
    const view = request({
      rawHeaders: [],
      method: 'POST',
      url: '/inner',
      originalUrl: '/api/inner?x=1',
      body: { a: 1 },
      remoteAddress: '192.0.2.1',
    })
    expect([view.method, view.url, view.body, view.ip]).toEqual([
      'POST',
      '/api/inner?x=1',
      { a: 1 },
      '192.0.2.1',
    ])
  })

  it('falls back to GET, the url, then /', () => {
    expect(request({ rawHeaders: [], url: '/a' }).method).toBe('GET')
    expect(request({ rawHeaders: [], url: '/a' }).url).toBe('/a')
    expect(request({ rawHeaders: [] }).url).toBe('/')
    expect(request({ rawHeaders: [] }).ip).toBeUndefined()
  })

  it('has no ip, and no header limit, for a request built without a socket', () => {
    const view = new NodeRequestView(new IncomingMessage(null as never))
    expect(view.ip).toBeUndefined()
    expect(view.headersTruncated).toBe(false)
  })
})

describe('writeDenied and setHeaders', () => {
  it('write the status, every header and the body', () => {
    const set: [string, string][] = []
    let ended: unknown
    const res = {
      statusCode: 200,
      setHeader: (name: string, value: string) => set.push([name, value]),
      end: (body: unknown) => {
        ended = body
      },
    } as unknown as ServerResponse
    writeDenied(res, {
      status: 401,
      headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
      body: '{"code":"key_missing"}',
    })
    expect(res.statusCode).toBe(401)
    expect(set).toEqual([
      ['content-type', 'application/problem+json'],
      ['cache-control', 'no-store'],
    ])
    expect(ended).toBe('{"code":"key_missing"}')
    setHeaders(res, { ratelimit: '"d";r=1;t=1' })
    expect(set[2]).toEqual(['ratelimit', '"d";r=1;t=1'])
  })
})
