// Bad requests and path tricks on a real listening server, sent over raw sockets where an
// HTTP client would normalise them: each gets a clear problem+json answer, none reaches admin
// data without the right scope. The scope checks iterate over the routes the app registered.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { registeredRoutes, startService, type TestService } from '../../test/helpers/service.js'

let svc: TestService
let keyId: string
let clockMs = Date.now()
beforeAll(async () => {
  svc = await startService({ keyward: { clock: { now: () => clockMs } } })
  keyId = (await svc.createKey({ name: 'some key', scopes: ['orders:read'] })).id
})
afterEach(() => svc.expectNoSecretLeaked())
afterAll(() => svc.close())

/** Routes anyone may call: the API description, the health checks, the dashboard's files. */
const OPEN = /^\/(docs(\/.*)?|openapi\.json|healthz|readyz|metrics|dashboard|dashboard\/\*)$/

function json(body: string): Record<string, unknown> {
  return JSON.parse(body) as Record<string, unknown>
}

/** A concrete path for a route pattern. */
function concrete(path: string): string {
  return path.replace(':id', keyId).replace(':name', 'reader').replace('*', 'x')
}

describe('every registered route', () => {
  const routes = () => registeredRoutes(svc.app)

  it('finds the routes (the check below would pass vacuously on none)', () => {
    const all = routes().map(([m, p]) => `${m} ${p}`)
    for (const expected of [
      'POST /v1/keys',
      'GET /v1/keys',
      'GET /v1/keys/:id',
      'PATCH /v1/keys/:id',
      'DELETE /v1/keys/:id',
      'POST /v1/keys/:id/rotate',
      'POST /v1/keys/verify',
      'GET /v1/roles',
      'GET /v1/roles/:name',
      'PUT /v1/roles/:name',
      'DELETE /v1/roles/:name',
      'GET /healthz',
    ])
      expect(all).toContain(expected)
  })

  it('needs a key unless it is open (docs, health): 401 key_missing without one', async () => {
    for (const [method, path] of routes()) {
      if (OPEN.test(path)) continue
      const res = await svc.raw(`${method} ${concrete(path)} HTTP/1.1`)
      expect({ route: `${method} ${path}`, status: res.status }).toEqual({
        route: `${method} ${path}`,
        status: 401,
      })
      if (method !== 'HEAD') expect(json(res.body).code).toBe('key_missing')
      expect(res.headers['www-authenticate']).toBe('Bearer realm="keyward"')
    }
  })

  it('answers 403 to a verify-only key on every admin route, before reading any body', async () => {
    let checked = 0
    for (const [method, path] of routes()) {
      if (OPEN.test(path) || path === '/v1/keys/verify') continue
      const res = await svc.raw(
        `${method} ${concrete(path)} HTTP/1.1`,
        [`X-API-Key: ${svc.verifyKey}`, 'Content-Type: application/json'],
        '{"name":"x","scopes":[]}',
      )
      expect({ route: `${method} ${path}`, status: res.status }).toEqual({
        route: `${method} ${path}`,
        status: 403,
      })
      if (method !== 'HEAD') expect(json(res.body).code).toBe('insufficient_scope')
      checked++
    }
    expect(checked).toBeGreaterThanOrEqual(13)
    // nothing was changed by any of them
    expect((await svc.keyward.getKey(keyId))?.state).toBe('active')
    expect((await svc.keyward.listRoles()).size).toBe(0)
  })

  it('answers 401 to an expired, a revoked and a disabled admin key on every admin route', async () => {
    const expired = await svc.createKey({ name: 'exp', scopes: ['admin'], expiresInMs: 1000 })
    const revoked = await svc.createKey({ name: 'rev', scopes: ['admin'] })
    const disabled = await svc.createKey({ name: 'dis', scopes: ['admin'] })
    // each works first (so each is cached), then changes
    for (const k of [expired, revoked, disabled])
      expect((await svc.call('GET', '/v1/roles', { key: k.key })).status).toBe(200)
    await svc.keyward.revokeKey(revoked.id)
    await svc.keyward.updateKey(disabled.id, { enabled: false })
    clockMs += 2000
    const cases: [string, string][] = [
      [expired.key, 'key_expired'],
      [revoked.key, 'key_revoked'],
      [disabled.key, 'key_disabled'],
    ]
    for (const [method, path] of routes()) {
      if (OPEN.test(path) || method === 'HEAD') continue
      for (const [key, code] of cases) {
        const res = await svc.raw(`${method} ${concrete(path)} HTTP/1.1`, [`X-API-Key: ${key}`])
        expect({ route: `${method} ${path}`, status: res.status, code: json(res.body).code }).toEqual(
          { route: `${method} ${path}`, status: 401, code },
        )
      }
    }
  })
})

describe('path tricks, sent raw', () => {
  const TRICKS = [
    '//v1/keys',
    '/v1//keys',
    '/v1/./keys',
    '/v1/keys/.',
    '/v1/%2e%2e/v1/keys',
    '/%2e%2e/v1/keys',
    '/v1/keys/%2e%2e',
    '/v1/keys/..',
    '/x/../v1/keys',
    '/V1/KEYS',
    '/v1/Keys',
    '/v1/keys/',
    '/v1/keys//',
    '/v1%2Fkeys',
    '/v1/keys%2F',
    '/v1/keys%2f..%2fkeys',
    '/v1/keys;x',
    '/v1/keys%00',
    '/v1/keys%20',
    '/v1/keys\\',
    '/v1/roles/',
    '/v1/roles%2F',
  ]

  it('without a key: 401 (or 400 for what is not HTTP), never data', async () => {
    for (const path of TRICKS) {
      const res = await svc.raw(`GET ${path} HTTP/1.1`)
      expect({ path, status: res.status }).toEqual({ path, status: res.status === 400 ? 400 : 401 })
      expect(res.body).not.toContain(keyId)
    }
  })

  it('with a verify-only key: 403, 404 or 400, never data', async () => {
    for (const path of TRICKS) {
      const res = await svc.raw(`GET ${path} HTTP/1.1`, [`X-API-Key: ${svc.verifyKey}`])
      expect([400, 403, 404]).toContain(res.status)
      expect(res.headers['content-type']).toBe('application/problem+json')
      expect(res.body).not.toContain(keyId)
      expect(res.body).not.toContain('"items"')
    }
  })

  it('a percent-encoded letter is the letter (RFC 3986): same route, same scope check', async () => {
    const verifyOnly = await svc.raw('GET /v1/k%65ys HTTP/1.1', [`X-API-Key: ${svc.verifyKey}`])
    expect(verifyOnly.status).toBe(403)
    const admin = await svc.raw('GET /v1/k%65ys HTTP/1.1', [`X-API-Key: ${svc.adminKey}`])
    expect(admin.status).toBe(200)
  })

  it('with an admin key: only the canonical path lists keys; the others are 404 or 400', async () => {
    for (const path of TRICKS) {
      const res = await svc.raw(`GET ${path} HTTP/1.1`, [`X-API-Key: ${svc.adminKey}`])
      expect({ path, status: res.status }).toEqual({
        path,
        status: res.status === 400 ? 400 : 404,
      })
      expect(res.body).not.toContain(keyId)
    }
    const canonical = await svc.raw('GET /v1/keys HTTP/1.1', [`X-API-Key: ${svc.adminKey}`])
    expect(canonical.status).toBe(200)
    expect(canonical.body).toContain(keyId)
  })

  it('an encoded slash in an id is part of the id, not a path step', async () => {
    const hint = (await svc.keyward.getKey(keyId))?.hint
    const rotate = await svc.raw(`POST /v1/keys/${keyId}%2Frotate HTTP/1.1`, [
      `X-API-Key: ${svc.adminKey}`,
    ])
    // "key_…/rotate" is a (missing) key, which takes GET, PATCH and DELETE: not a rotation
    expect(rotate.status).toBe(405)
    expect((await svc.keyward.getKey(keyId))?.hint).toBe(hint)
    const read = await svc.raw(`GET /v1/keys/${keyId}%2F HTTP/1.1`, [`X-API-Key: ${svc.adminKey}`])
    expect(read.status).toBe(404)
    expect(json(read.body).code).toBe('not_found')
  })
})

describe('unknown routes and methods', () => {
  it('404 for a path that does not exist; 405 with Allow for a wrong method', async () => {
    const missing = await svc.call('GET', '/v1/nothing')
    expect(missing.status).toBe(404)
    expect(missing.body).toMatchObject({ code: 'not_found', status: 404 })
    expect(missing.body.detail).toMatch(/GET \/openapi\.json/)
    const cases: [string, string, string][] = [
      ['PUT', '/v1/keys', 'POST, GET, HEAD'],
      ['DELETE', '/v1/roles', 'GET, HEAD'],
      ['GET', '/v1/keys/verify', 'POST, GET, HEAD, PATCH, DELETE'],
      ['POST', '/v1/roles/reader', 'GET, HEAD, PUT, DELETE'],
      ['GET', `/v1/keys/${keyId}/rotate`, 'POST'],
    ]
    for (const [method, path, allow] of cases) {
      const res = await svc.call(method, path)
      if (path === '/v1/keys/verify') {
        // GET /v1/keys/verify is GET /v1/keys/:id with the id "verify": a missing key
        expect(res.status).toBe(404)
        continue
      }
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 405 })
      expect(res.body.code).toBe('method_not_allowed')
      expect(res.headers.get('allow')?.split(', ').sort()).toEqual(allow.split(', ').sort())
      expect(res.body.detail).toContain(`use ${res.headers.get('allow')}`)
    }
  })

  it('does not tell a caller without a key which paths exist', async () => {
    const missing = await svc.call('GET', '/v1/nothing', { key: null })
    const wrongMethod = await svc.call('PUT', '/v1/keys', { key: null })
    expect(missing.status).toBe(401)
    expect(wrongMethod.status).toBe(401)
    expect(wrongMethod.headers.get('allow')).toBeNull()
  })
})

describe('bodies', () => {
  it('malformed JSON, wrong types and unknown fields: 400 saying what is wrong', async () => {
    const cases: [string, string, RegExp][] = [
      ['{"name": "x",', 'invalid_json', /not valid JSON/],
      ['{"name": 5}', 'invalid_request', /body\/name must be string/],
      ['{"name": "x", "scopes": "a:b"}', 'invalid_request', /body\/scopes must be array/],
      ['{"name": "x", "admin": true}', 'invalid_request', /unknown field "admin"/],
      ['{"name": "x", "quota": {"limit": "5", "period": "1d"}}', 'invalid_request', /body\/quota/],
      ['"x"', 'invalid_request', /body must be object/],
      ['null', 'invalid_request', /body must be object/],
    ]
    for (const [body, code, detail] of cases) {
      const res = await svc.call('POST', '/v1/keys', { body })
      expect({ body, status: res.status, code: res.body.code }).toEqual({ body, status: 400, code })
      expect(res.body.detail).toMatch(detail)
    }
    const empty = await svc.raw('POST /v1/keys HTTP/1.1', [
      `X-API-Key: ${svc.adminKey}`,
      'Content-Type: application/json',
    ])
    expect(empty.status).toBe(400)
  })

  it('a body that is not JSON: 415 (form, text, none declared)', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await svc.call('POST', '/v1/keys', {
        body: 'name=x',
        headers: { 'content-type': type },
      })
      expect({ type, status: res.status, code: res.body.code }).toEqual({
        type,
        status: 415,
        code: 'unsupported_media_type',
      })
      expect(res.body.detail).toMatch(/Content-Type: application\/json/)
    }
    const undeclared = await svc.raw(
      'POST /v1/keys HTTP/1.1',
      [`X-API-Key: ${svc.adminKey}`],
      '{"name":"x"}',
    )
    expect(undeclared.status).toBe(415)
    expect(undeclared.headers['content-type']).toBe('application/problem+json')
  })

  it('a 10 MB body: 413, and nothing is created', async () => {
    const before = (await svc.keyward.listKeys({ limit: 1000 })).items.length
    const big = JSON.stringify({ name: 'x', metadata: { blob: 'a'.repeat(10 * 1024 * 1024) } })
    const declared = await svc.raw(
      'POST /v1/keys HTTP/1.1',
      [`X-API-Key: ${svc.adminKey}`, 'Content-Type: application/json'],
      big,
    )
    expect(declared.status).toBe(413)
    expect(json(declared.body)).toMatchObject({ code: 'body_too_large', status: 413 })
    // chunked, so the size is known only while reading
    const chunk = Buffer.from(big).subarray(0, 1024 * 1024)
    const chunked = await svc.raw(
      'POST /v1/keys HTTP/1.1',
      [`X-API-Key: ${svc.adminKey}`, 'Content-Type: application/json', 'Transfer-Encoding: chunked'],
      Array.from({ length: 10 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('') +
        '0\r\n\r\n',
    )
    expect(chunked.status).toBe(413)
    expect((await svc.keyward.listKeys({ limit: 1000 })).items).toHaveLength(before)
  })

  it('20,000 headers: 431; more headers than counted (under the byte limit): 431 too', async () => {
    const many = Array.from({ length: 20_000 }, (_, i) => `x-h${i}: ${i}`)
    const flood = await svc.raw('GET /v1/keys HTTP/1.1', [`X-API-Key: ${svc.adminKey}`, ...many])
    expect(flood.status).toBe(431)
    expect(flood.headers['content-type']).toBe('application/problem+json')
    expect(json(flood.body)).toMatchObject({ status: 431, code: 'headers_too_large' })
    const counted = Array.from({ length: 150 }, (_, i) => `x${i}: 1`)
    const past = await svc.raw('GET /v1/keys HTTP/1.1', [...counted, `X-API-Key: ${svc.adminKey}`])
    expect(past.status).toBe(431)
    expect(json(past.body).code).toBe('headers_truncated')
  })
})
