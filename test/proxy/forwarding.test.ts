// What the upstream receives through `keyward serve --upstream`, and what the caller gets back:
// the caller's identity instead of its key, client-sent X-Keyward-* headers removed, the
// upstream's answer unchanged but for hop-by-hop headers, route rules applied to the path in
// normal form, and keyward's own paths kept its own. Every check reads what a real upstream
// received; no API key may ever reach it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyKeywardToken } from '../../src/tokens/upstream.js'
import type { Received } from '../fixtures/upstream.js'
import { makeCertificate } from '../fixtures/tls.js'
import { rawRequest } from '../http/apps.js'
import { ISSUER, type ProxiedService, startProxy } from '../helpers/proxy.js'

const proxies: ProxiedService[] = []
afterAll(async () => {
  for (const svc of proxies) {
    // no secret in any header (name or value) or request target the upstream ever received
    for (const r of svc.upstream.received) {
      const seen = [r.url, ...r.rawHeaders].join('\n')
      for (const secret of svc.secrets) expect(seen).not.toContain(secret.slice(8, -8))
    }
    svc.expectNoSecretLeaked()
    await svc.close()
  }
})

async function proxy(file: Parameters<typeof startProxy>[0] = {}): Promise<ProxiedService> {
  const svc = await startProxy(file)
  proxies.push(svc)
  return svc
}

/** A request with exactly this target and these header lines (fetch would normalise both). */
function send(svc: ProxiedService, target: string, lines: readonly string[] = [], method = 'GET') {
  const headers = lines.map((l) => {
    const colon = l.indexOf(':')
    return [l.slice(0, colon), l.slice(colon + 1).trim()] as [string, string]
  })
  return rawRequest(svc.port, { method, path: target, headers })
}

/** The requests the upstream received since `before`. */
function since(svc: ProxiedService, before: number): Received[] {
  return svc.upstream.received.slice(before)
}

describe('with no route rules', () => {
  let svc: ProxiedService
  let key: string
  let id: string
  beforeAll(async () => {
    svc = await proxy()
    ;({ key, id } = await svc.createKey({
      name: 'caller',
      ownerId: 'Zoë % co',
      scopes: ['orders:read', 'invoices:write'],
    }))
  })

  it('forwards any path of a valid key with its identity and a token the upstream verifies', async () => {
    const res = await svc.call('POST', '/anything/at/all?x=1&y=%20', {
      key,
      body: { hello: 'world' },
    })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ method: 'POST', path: '/anything/at/all?x=1&y=%20', bytes: 17 })
    const got = svc.upstream.last()
    expect(got.headers['x-keyward-key-id']).toBe(id)
    expect(decodeURIComponent(got.headers['x-keyward-owner'] as string)).toBe('Zoë % co')
    expect(got.headers['x-keyward-scopes']).toBe('orders:read invoices:write')
    expect(got.headers['content-type']).toBe('application/json')
    expect(got.headers['x-api-key']).toBeUndefined()
    const identity = await verifyKeywardToken(got.headers['x-keyward-token'] as string, {
      keys: svc.signer.jwks(),
      issuer: ISSUER,
      audience: svc.upstream.url,
    })
    expect(identity).toMatchObject({
      keyId: id,
      ownerId: 'Zoë % co',
      scopes: ['orders:read', 'invoices:write'],
    })
  })

  it('sends the same token again for a while, and a new one once the key changed', async () => {
    const token = () => svc.upstream.last().headers['x-keyward-token'] as string
    await svc.call('GET', '/first', { key })
    const first = token()
    await svc.call('GET', '/second', { key })
    expect(token()).toBe(first)
    const { key: other } = await svc.createKey({ name: 'another caller' })
    await svc.call('GET', '/third', { key: other })
    expect(token()).not.toBe(first)
    const patched = await svc.call('PATCH', `/v1/keys/${id}`, { body: { scopes: ['orders:read'] } })
    expect(patched.status).toBe(200)
    await svc.call('GET', '/fourth', { key })
    expect(token()).not.toBe(first)
    expect(svc.upstream.last().headers['x-keyward-scopes']).toBe('orders:read')
    const claims = JSON.parse(Buffer.from(token().split('.')[1]!, 'base64url').toString())
    expect(claims.scope).toBe('orders:read')
    await svc.call('PATCH', `/v1/keys/${id}`, {
      body: { scopes: ['orders:read', 'invoices:write'] },
    })
  })

  it('refuses a missing or wrong key before the upstream hears of the request', async () => {
    const before = svc.upstream.received.length
    expect((await svc.call('GET', '/orders', { key: null })).status).toBe(401)
    expect((await svc.call('GET', '/orders', { key: `${key.slice(0, -1)}${key.endsWith('x') ? 'y' : 'x'}` })).status).toBe(401)
    expect(since(svc, before)).toEqual([])
  })

  it('removes every X-Keyward-* header the client sent, in any spelling, and adds its own', async () => {
    const res = await send(svc, '/who', [
      `X-API-Key: ${key}`,
      'X-Keyward-Key-Id: key_0000000000000000',
      'x-keyward-owner: admin',
      'X-KEYWARD-SCOPES: admin',
      'X-Keyward-Token: forged.token.here',
      'X-Keyward-Anything: else',
      'X-Keyward-Key-Id: key_1111111111111111',
    ])
    expect(res.status).toBe(200)
    const got = svc.upstream.last()
    const names = got.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
    expect(names.filter((n) => n.startsWith('x-keyward-')).sort()).toEqual([
      'x-keyward-key-id',
      'x-keyward-owner',
      'x-keyward-scopes',
      'x-keyward-token',
    ])
    expect(got.headers['x-keyward-key-id']).toBe(id)
    expect(got.headers['x-keyward-scopes']).toBe('orders:read invoices:write')
    expect(got.headers['x-keyward-token']).not.toBe('forged.token.here')
  })

  it('removes the key from Authorization, and keeps another scheme meant for the upstream', async () => {
    await svc.call('GET', '/bearer', { key: null, headers: { authorization: `Bearer ${key}` } })
    expect(svc.upstream.last().headers.authorization).toBeUndefined()
    expect(svc.upstream.last().headers['x-keyward-key-id']).toBe(id)
    await svc.call('GET', '/basic', { key, headers: { authorization: 'Basic dXNlcjpwYXNz' } })
    expect(svc.upstream.last().headers.authorization).toBe('Basic dXNlcjpwYXNz')
  })

  it('says who the client is in X-Forwarded-*, ignoring what a direct caller claims', async () => {
    await svc.call('GET', '/fwd', {
      key,
      headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil.example' },
    })
    const got = svc.upstream.last().headers
    expect(got['x-forwarded-for']).toBe('127.0.0.1')
    expect(got['x-forwarded-proto']).toBe('http')
    expect(got['x-forwarded-host']).toBe(`127.0.0.1:${svc.port}`)
  })

  it('does not forward hop-by-hop headers, Proxy-Authorization or Expect', async () => {
    const res = await send(svc, '/hops', [
      `X-API-Key: ${key}`,
      'Connection: keep-alive, X-Drop',
      'X-Drop: 1',
      'Keep-Alive: timeout=5',
      'Proxy-Authorization: Basic cHJveHk6cHJveHk=',
      'TE: trailers',
      'Expect: 100-continue',
      'X-Kept: yes',
    ])
    expect(res.status).toBe(200)
    const got = svc.upstream.last().headers
    for (const name of ['x-drop', 'keep-alive', 'proxy-authorization', 'te', 'expect'])
      expect(got[name], name).toBeUndefined()
    expect(got['x-kept']).toBe('yes')
  })

  it("returns the upstream's status and headers, less hop-by-hop ones", async () => {
    const res = await send(svc, '/status/418', [`X-API-Key: ${key}`])
    expect(res.status).toBe(418)
    expect(res.body).toBe('status 418')
    expect(res.headers['x-upstream']).toBe('yes')
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect(res.headers['retry-after']).toBe('7')
    expect(res.headers['content-type']).toBe('text/plain')
    // named in the upstream's Connection header, and its keep-alive parameters
    expect(res.headers['x-private-hop']).toBeUndefined()
    expect(res.headers['keep-alive']).toBeUndefined()
    const five = await svc.call('GET', '/status/503', { key })
    expect(five.status).toBe(503)
    // one request: no retry of a 503 behind the caller's back
    expect(svc.upstream.received.filter((r) => r.url === '/status/503')).toHaveLength(1)
  })

  it("keeps keyward's own routes its own", async () => {
    const before = svc.upstream.received.length
    expect((await svc.call('GET', '/healthz', { key: null })).status).toBe(200)
    expect((await svc.call('GET', '/v1/keys', {})).status).toBe(200)
    const wrongMethod = await svc.call('GET', '/v1/keys/key_0000000000000000/rotate', { key })
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.get('allow')).toBe('POST')
    // the same paths in another spelling are not forwarded either
    for (const target of ['/v1//keys', '/v1/./keys', '/x/../v1/keys', '/./healthz']) {
      const res = await send(svc, target, [`X-API-Key: ${key}`])
      expect(res.status, target).toBe(404)
    }
    expect(since(svc, before)).toEqual([])
  })

  it('refuses a WebSocket upgrade with a clear message, after authentication', async () => {
    const before = svc.upstream.received.length
    const upgrade = [
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ]
    expect((await send(svc, '/socket', upgrade)).status).toBe(401)
    const res = await send(svc, '/socket', [`X-API-Key: ${key}`, ...upgrade])
    expect(res.status).toBe(501)
    expect(JSON.parse(res.body)).toMatchObject({ code: 'websocket_not_supported' })
    expect(since(svc, before)).toEqual([])
  })

  it('does not forward a CORS preflight that came without a key', async () => {
    const before = svc.upstream.received.length
    const res = await svc.call('OPTIONS', '/orders', {
      key: null,
      headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' },
    })
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('route_not_allowed')
    expect(since(svc, before)).toEqual([])
  })
})

describe('with route rules', () => {
  let svc: ProxiedService
  let reader: string
  let plain: string
  beforeAll(async () => {
    svc = await proxy({
      routes: [
        { method: 'GET', path: '/orders/**', scopes: ['orders:read'] },
        { method: ['POST', 'PUT'], path: '/orders/:id', scopes: ['orders:write'], cost: 5 },
        { method: '*', path: '/public/**', public: true },
        { method: 'GET', path: '/me', scopes: [] },
      ],
    })
    reader = (
      await svc.createKey({
        name: 'reader',
        scopes: ['orders:read', 'orders:write'],
        rateLimits: [{ name: 'minute', limit: 8, windowMs: 60_000 }],
      })
    ).key
    plain = (await svc.createKey({ name: 'no scopes' })).key
  })

  it("applies the matched rule's scopes, through the service's authentication", async () => {
    const before = svc.upstream.received.length
    expect((await svc.call('GET', '/orders/1', { key: reader })).status).toBe(200)
    expect((await svc.call('HEAD', '/orders/1', { key: reader })).status).toBe(200)
    const denied = await svc.call('GET', '/orders/1', { key: plain })
    expect(denied.status).toBe(403)
    expect(denied.body).toMatchObject({
      code: 'insufficient_scope',
      missingScopes: ['orders:read'],
    })
    expect((await svc.call('GET', '/me', { key: plain })).status).toBe(200)
    expect((await svc.call('GET', '/me', { key: null })).status).toBe(401)
    expect(since(svc, before).map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /orders/1',
      'HEAD /orders/1',
      'GET /me',
    ])
  })

  it('refuses, once authenticated, what no rule covers: another method, another path', async () => {
    const before = svc.upstream.received.length
    for (const [method, path] of [
      ['DELETE', '/orders/1'],
      ['GET', '/admin'],
      ['POST', '/orders/1/items'],
      ['GET', '/me/'],
    ] as const) {
      const res = await svc.call(method, path, { key: reader })
      expect(res.status, `${method} ${path}`).toBe(403)
      expect(res.body.code).toBe('route_not_allowed')
      expect(res.body.detail).toContain(`${method} ${path}`)
    }
    // without a key, the caller learns nothing about the rules
    expect((await svc.call('GET', '/admin', { key: null })).status).toBe(401)
    expect(since(svc, before)).toEqual([])
  })

  it('lets public routes through without a key and without identity, key or not', async () => {
    await svc.call('GET', '/public/a', {
      key: null,
      headers: { 'x-keyward-key-id': 'key_0000000000000000', 'x-keyward-scopes': 'admin' },
    })
    expect(svc.upstream.last().url).toBe('/public/a')
    expect(svc.upstream.last().headers['x-keyward-key-id']).toBeUndefined()
    expect(svc.upstream.last().headers['x-keyward-scopes']).toBeUndefined()
    await svc.call('GET', '/public/b', { key: reader })
    expect(svc.upstream.last().headers['x-api-key']).toBeUndefined()
    expect(svc.upstream.last().headers['x-keyward-token']).toBeUndefined()
  })

  it("charges the rule's cost to the key's limits", async () => {
    const { key: writer } = await svc.createKey({
      name: 'writer',
      scopes: ['orders:write'],
      rateLimits: [{ name: 'minute', limit: 8, windowMs: 60_000 }],
    })
    // 8 a minute, 5 a write: one write passes, the second is refused
    expect((await svc.call('PUT', '/orders/7', { key: writer, body: {} })).status).toBe(200)
    const second = await svc.call('PUT', '/orders/7', { key: writer, body: {} })
    expect(second.status).toBe(429)
    expect(svc.upstream.received.filter((r) => r.url === '/orders/7')).toHaveLength(1)
  })

  it('matches and forwards the path in normal form: no spelling escapes a rule', async () => {
    const cases: [string, number, string | null][] = [
      // [target, status, what the upstream received (null: nothing)]
      ['/public/../orders/1', 401, null],
      ['/public/%2e%2e/orders/1', 401, null],
      ['/public/%2E%2e/orders/1', 401, null],
      ['/public/.%2E/orders/1', 401, null],
      ['/public//../orders/1', 401, null],
      ['/public/./../../orders/1', 401, null],
      ['/public/..;/orders/1', 400, null],
      ['/public/%2F..%2Forders/1', 400, null],
      ['/public/%2f..%2forders/1', 400, null],
      ['/public/..%5Corders/1', 400, null],
      ['/public/a%00b', 400, null],
      // Fastify's router refuses it first
      ['/public/%zz', 404, null],
      ['//public//a', 200, '/public/a'],
      ['/%70ublic/a', 200, '/public/a'],
      ['/public/a/b/..', 200, '/public/a/'],
      ['/public/%7e%41%3b', 200, '/public/~A%3B'],
      ['/orders/../public/x?q=/../y', 200, '/public/x?q=/../y'],
    ]
    for (const [target, status, forwarded] of cases) {
      const before = svc.upstream.received.length
      const res = await send(svc, target, [])
      expect(res.status, target).toBe(status)
      const got = since(svc, before).map((r) => r.url)
      expect(got, target).toEqual(forwarded === null ? [] : [forwarded])
    }
  })
})

describe('behind a trusted proxy, over HTTPS', () => {
  it("appends the peer to what the trusted proxy said, and keeps the upstream's HSTS", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-proxy-tls-'))
    const files = makeCertificate(dir, 'keyward')
    const tls = { cert: readFileSync(files.cert), key: readFileSync(files.key) }
    const svc = await startProxy({}, { service: { tls, trustedProxies: ['127.0.0.1'] } })
    proxies.push(svc)
    const { key } = await svc.createKey({ name: 'behind a balancer' })
    const get = (path: string) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: svc.port,
            path,
            ca: tls.cert,
            headers: { 'x-api-key': key, 'x-forwarded-for': '203.0.113.9' },
          },
          (res) => {
            res.resume()
            res.on('end', () => resolve(res))
          },
        )
        req.on('error', reject)
        req.end()
      })
    const proxied = await get('/status/200')
    expect(proxied.statusCode).toBe(200)
    expect(proxied.headers['strict-transport-security']).toBe('max-age=5')
    const got = svc.upstream.last().headers
    expect(got['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1')
    expect(got['x-forwarded-proto']).toBe('https')
    const own = await get('/healthz')
    expect(own.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains')
    rmSync(dir, { recursive: true, force: true })
  })
})

describe('with upstreams by prefix only', () => {
  it('answers 404 where no upstream serves the path, and applies an upstream body limit', async () => {
    const svc = await proxy({
      upstream: null,
      upstreams: (url: string) => [{ prefix: '/small', url, maxBodyBytes: 10 }],
    })
    const { key } = await svc.createKey({ name: 'caller' })
    const before = svc.upstream.received.length
    const elsewhere = await svc.call('GET', '/other', { key })
    expect(elsewhere.status).toBe(404)
    expect(elsewhere.body.detail).toContain('No upstream serves this path')
    expect((await svc.call('GET', '/other', { key: null })).status).toBe(401)
    expect((await svc.call('GET', '/smaller', { key })).status).toBe(404)
    const big = await svc.call('POST', '/small/x', {
      key,
      body: '12345678901',
      headers: { 'content-type': 'text/plain' },
    })
    expect(big.status).toBe(413)
    expect(svc.upstream.received.length).toBe(before)
    const fits = await svc.call('POST', '/small/x', {
      key,
      body: '1234567890',
      headers: { 'content-type': 'text/plain' },
    })
    expect(fits.status).toBe(200)
    expect(svc.upstream.last()).toMatchObject({ url: '/small/x', bytes: 10 })
  })
})
