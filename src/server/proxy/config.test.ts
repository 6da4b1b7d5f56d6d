import { describe, expect, it } from 'vitest'
import { type ProxyConfigInput, resolveProxyConfig } from './config.js'

function resolve(input: Partial<ProxyConfigInput>) {
  return resolveProxyConfig({
    upstream: 'http://127.0.0.1:3000',
    upstreamOrigin: '--upstream',
    upstreams: undefined,
    routes: undefined,
    file: 'keyward.json',
    timeoutMs: 30_000,
    connectTimeoutMs: 5_000,
    ...input,
  })
}

describe('resolveProxyConfig', () => {
  it('is off without an upstream, and has no rules until some are given', () => {
    expect(resolve({ upstream: null })).toBeNull()
    expect(resolve({})).toMatchObject({
      upstreams: [
        { prefix: '/', url: 'http://127.0.0.1:3000', timeoutMs: 30_000, maxBodyBytes: null },
      ],
      rules: null,
      connectTimeoutMs: 5_000,
    })
  })

  it('orders upstreams longest prefix first, with their own timeouts and limits', () => {
    const config = resolve({
      upstreams: [
        { prefix: '/billing', url: 'https://billing.internal:8443/', timeout: '5s' },
        { prefix: '/billing/v2', url: 'http://127.0.0.1:4001', maxBodyBytes: 1024 },
      ],
    })
    expect(config!.upstreams.map((u) => [u.prefix, u.url, u.timeoutMs, u.maxBodyBytes])).toEqual([
      ['/billing/v2', 'http://127.0.0.1:4001', 30_000, 1024],
      ['/billing', 'https://billing.internal:8443', 5_000, null],
      ['/', 'http://127.0.0.1:3000', 30_000, null],
    ])
  })

  it('reads rules: methods (GET covers HEAD), scopes, cost, public, body limits', () => {
    const { rules } = resolve({
      routes: [
        { method: 'GET', path: '/orders/**', scopes: ['orders:read'] },
        {
          method: ['POST', 'PUT'],
          path: '/orders/:id',
          scopes: ['orders:write'],
          cost: 5,
          maxBodyBytes: 10,
        },
        { method: '*', path: '/public/**', public: true },
        { method: 'DELETE', path: '/me', scopes: [] },
      ],
    })!
    expect(
      rules!.map((r) => [
        r.label,
        r.methods && [...r.methods].sort(),
        r.scopes,
        r.cost,
        r.public,
        r.maxBodyBytes,
      ]),
    ).toEqual([
      ['routes[0] GET /orders/**', ['GET', 'HEAD'], ['orders:read'], 1, false, null],
      ['routes[1] POST,PUT /orders/:id', ['POST', 'PUT'], ['orders:write'], 5, false, 10],
      ['routes[2] * /public/**', null, [], 1, true, null],
      ['routes[3] DELETE /me', ['DELETE'], [], 1, false, null],
    ])
  })

  it.each<[Partial<ProxyConfigInput>, string]>([
    [{ upstream: null, routes: [] }, '"routes" in keyward.json need an upstream to forward to'],
    [{ upstreams: {} }, '"upstreams" in keyward.json must be a list'],
    [{ upstreams: [{ url: 'http://a' }] }, 'upstreams[0] in keyward.json needs "prefix"'],
    [
      { upstreams: [{ prefix: '/b', url: 'http://a/base' }] },
      'upstreams[0].url in keyward.json "http://a/base" is not valid',
    ],
    [
      { upstreams: [{ prefix: '/b', url: 'ftp://a' }] },
      'is not valid: use an http(s) URL with no path',
    ],
    [{ upstreams: [{ prefix: '/b', url: 'http://u:p@a' }] }, 'is not valid'],
    [{ upstreams: [{ prefix: '/b/', url: 'http://a' }] }, 'without "*" or a final "/"'],
    [{ upstreams: [{ prefix: '/b/*', url: 'http://a' }] }, 'without "*" or a final "/"'],
    [
      { upstreams: [{ prefix: '/', url: 'http://a' }] },
      'upstreams[0].prefix in keyward.json "/" is given twice (also by --upstream)',
    ],
    [
      { upstreams: [{ prefix: '/b', url: 'http://a', timeout: 5 }] },
      'upstreams[0].timeout in keyward.json 5 is not valid',
    ],
    [
      { upstreams: [{ prefix: '/b', url: 'http://a', extra: 1 }] },
      'upstreams[0] in keyward.json has an unknown field "extra"',
    ],
    [{ routes: {} }, '"routes" in keyward.json must be a list of rules'],
    [{ routes: ['GET /'] }, 'routes[0] in keyward.json must be an object'],
    [{ routes: [{ method: 'GET', path: '/a' }] }, 'routes[0] in keyward.json needs "scopes"'],
    [
      { routes: [{ method: 'GET', path: '/a', scopes: ['Orders'] }] },
      'routes[0].scopes in keyward.json must be a list of scopes',
    ],
    [
      { routes: [{ method: 'FETCH', path: '/a', scopes: [] }] },
      'routes[0].method in keyward.json "FETCH" is not one of',
    ],
    [
      { routes: [{ method: [], path: '/a', scopes: [] }] },
      'routes[0].method in keyward.json must be a method such as "GET"',
    ],
    [
      { routes: [{ method: 'GET', path: '/a/../b', scopes: [] }] },
      'routes[0].path in keyward.json "/a/../b" must be written in normal form',
    ],
    [
      { routes: [{ method: 'GET', path: 'a', scopes: [] }] },
      'routes[0].path in keyward.json "a" must start with "/"',
    ],
    [{ routes: [{ method: 'GET', scopes: [] }] }, 'needs "path"'],
    [
      { routes: [{ method: 'GET', path: '/a', public: true, scopes: [] }] },
      'is public (no key is checked), so it cannot have "scopes"',
    ],
    [
      { routes: [{ method: 'GET', path: '/a', public: 'yes' }] },
      'routes[0].public in keyward.json must be true or false',
    ],
    [
      { routes: [{ method: 'GET', path: '/a', scopes: [], cost: -1 }] },
      'routes[0].cost in keyward.json must be a whole number from 0',
    ],
    [
      { routes: [{ method: 'GET', path: '/a', scopes: [], maxBodyBytes: 1.5 }] },
      'routes[0].maxBodyBytes in keyward.json must be a whole number of bytes',
    ],
    [{ routes: [{ method: 'GET', path: '/a', scope: [] }] }, 'has an unknown field "scope"'],
  ])('refuses %j: %s', (input, message) => {
    expect(() => resolve(input)).toThrow(message)
  })
})
