// POST /v1/keys/verify on a real listening server: every answer code, limits and quota shared
// with the middleware, validation, and the caller's own authentication.
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateKey } from '../core/key-format.js'
import { keywardFastify } from '../http/fastify/index.js'
import { createMemoryLimiter } from '../limits/memory.js'
import { startService, type TestService } from '../../test/helpers/service.js'

let svc: TestService
beforeAll(async () => {
  svc = await startService({ keyward: { limits: { limiter: createMemoryLimiter() } } })
})
afterEach(() => svc.expectNoSecretLeaked())
afterAll(() => svc.close())

const verify = (body: unknown, key: string | null = svc.verifyKey) =>
  svc.call('POST', '/v1/keys/verify', { key, body })

const DENIED = {
  valid: false,
  owner: null,
  name: null,
  scopes: null,
  metadata: null,
  expiresAt: null,
}

describe('POST /v1/keys/verify: answers', () => {
  it('valid: the key’s identity, effective scopes, metadata and expiry; never the key', async () => {
    await svc.keyward.setRole('shipper', ['parcels:send'])
    const expiresAt = Date.now() + 3_600_000
    const { key, id } = await svc.createKey({
      name: 'billing',
      ownerId: 'svc:billing',
      scopes: ['orders:read'],
      roles: ['shipper'],
      metadata: { tier: 'gold', n: 3 },
      expiresAt,
    })
    const res = await verify({ key, scopes: ['orders:read', 'parcels:send'] })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.body).toEqual({
      valid: true,
      code: 'valid',
      keyId: id,
      owner: 'svc:billing',
      name: 'billing',
      scopes: ['orders:read', 'parcels:send'],
      metadata: { tier: 'gold', n: 3 },
      expiresAt: new Date(expiresAt).toISOString(),
      ratelimit: null,
    })
    expect(res.text).not.toContain(key)
    // cached now: the same answer from the cache
    expect((await verify({ key, scopes: ['orders:read'] })).body.code).toBe('valid')
  })

  it('key_invalid alike for garbage, a bad checksum and a well-formed unknown key', async () => {
    const unknown = generateKey({ prefix: 'kw_live' })
    svc.secrets.add(unknown)
    const badChecksum = `${unknown.slice(0, -1)}${unknown.endsWith('A') ? 'B' : 'A'}`
    svc.secrets.add(badChecksum)
    const bodies = []
    for (const key of ['nonsense', '', unknown, badChecksum, 'x'.repeat(1000)]) {
      const res = await verify({ key })
      expect(res.status).toBe(200)
      bodies.push(res.body)
    }
    for (const body of bodies)
      expect(body).toEqual({ ...DENIED, code: 'key_invalid', keyId: null, ratelimit: null })
  })

  it('key_revoked, key_expired, key_disabled name the key', async () => {
    const revoked = await svc.createKey({ name: 'r' })
    await svc.keyward.revokeKey(revoked.id)
    const disabled = await svc.createKey({ name: 'd' })
    await svc.keyward.updateKey(disabled.id, { enabled: false })
    const rotated = await svc.createKey({ name: 'e' })
    await svc.keyward.rotateKey(rotated.id, { graceMs: 0 })
    const cases: [string, string, string][] = [
      [revoked.key, 'key_revoked', revoked.id],
      [disabled.key, 'key_disabled', disabled.id],
      [rotated.key, 'key_expired', rotated.id],
    ]
    for (const [key, code, keyId] of cases) {
      const res = await verify({ key })
      expect(res.body).toEqual({ ...DENIED, code, keyId, ratelimit: null })
    }
  })

  it('insufficient_scope lists the missing scopes; wildcards and roles count', async () => {
    const { key, id } = await svc.createKey({ name: 's', scopes: ['orders:*'] })
    const res = await verify({ key, scopes: ['orders:read', 'invoices:read', 'admin:x'] })
    expect(res.body).toEqual({
      ...DENIED,
      code: 'insufficient_scope',
      keyId: id,
      ratelimit: null,
      missingScopes: ['invoices:read', 'admin:x'],
    })
    expect((await verify({ key, scopes: ['orders:refund'] })).body.valid).toBe(true)
  })

  it('ip_not_allowed outside the allowlist and without an ip; valid inside it', async () => {
    const { key, id } = await svc.createKey({ name: 'ip', ipAllowlist: ['10.0.0.0/8'] })
    expect((await verify({ key, ip: '10.2.3.4' })).body.valid).toBe(true)
    expect((await verify({ key, ip: '::ffff:10.2.3.4' })).body.valid).toBe(true)
    for (const body of [{ key, ip: '192.168.0.1' }, { key }])
      expect((await verify(body)).body).toMatchObject({ code: 'ip_not_allowed', keyId: id })
  })

  it('rate limits: ratelimit is the most constraining policy; then rate_limited with retryAfter', async () => {
    const { key, id } = await svc.createKey({
      name: 'limited',
      rateLimits: [
        { name: 'hour', limit: 100, windowMs: 3_600_000 },
        { name: 'burst', limit: 2, windowMs: 60_000 },
      ],
    })
    const first = await verify({ key })
    expect(first.body).toMatchObject({ valid: true, ratelimit: { limit: 2, remaining: 1 } })
    expect(first.body.ratelimit.resetMs).toBeGreaterThan(0)
    expect(first.body.ratelimit.resetMs).toBeLessThanOrEqual(60_000)
    const second = await verify({ key })
    expect(second.body.ratelimit).toMatchObject({ limit: 2, remaining: 0 })
    const third = await verify({ key })
    expect(third.status).toBe(200)
    expect(third.body).toMatchObject({
      ...DENIED,
      code: 'rate_limited',
      keyId: id,
      ratelimit: { limit: 2, remaining: 0 },
    })
    expect(third.body.retryAfter).toBeGreaterThanOrEqual(1)
    expect(third.body.retryAfter).toBeLessThanOrEqual(60)
  })

  it('quota and cost: cost 0 reads without charging; quota_exhausted once spent', async () => {
    const { key } = await svc.createKey({
      name: 'quota',
      quota: { limit: 5, periodMs: 86_400_000 },
    })
    expect((await verify({ key, cost: 0 })).body.ratelimit).toMatchObject({ limit: 5, remaining: 5 })
    expect((await verify({ key, cost: 3 })).body.ratelimit).toMatchObject({ remaining: 2 })
    // refused requests charge nothing
    const over = await verify({ key, cost: 3 })
    expect(over.body).toMatchObject({ code: 'quota_exhausted', ratelimit: { remaining: 2 } })
    expect(over.body.retryAfter).toBeGreaterThan(0)
    expect((await verify({ key, cost: 2 })).body).toMatchObject({
      valid: true,
      ratelimit: { remaining: 0 },
    })
  })
})

describe('POST /v1/keys/verify: the same rules as the middleware', () => {
  let app: FastifyInstance
  let port: number
  beforeAll(async () => {
    // an application protected by the Fastify adapter, on the same keyward (same limiter)
    app = Fastify()
    await app.register(keywardFastify, { keyward: svc.keyward })
    app.post('/orders', { config: { keyward: { scopes: ['orders:write'] } } }, async () => ({ ok: 1 }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    port = (app.server.address() as AddressInfo).port
  })
  afterAll(() => app.close())

  const viaMiddleware = (key: string, idempotencyKey?: string) =>
    fetch(`http://127.0.0.1:${port}/orders`, {
      method: 'POST',
      headers: {
        'x-api-key': key,
        ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }),
      },
    })

  it('shares counters and idempotency records: a replay is free of quota, never of rate limits', async () => {
    const { key } = await svc.createKey({
      name: 'shared',
      scopes: ['orders:write'],
      rateLimits: [{ name: 'burst', limit: 3, windowMs: 60_000 }],
      quota: { limit: 10, periodMs: 86_400_000 },
    })
    const first = await viaMiddleware(key, 'order-1')
    expect(first.status).toBe(200)
    expect(first.headers.get('ratelimit')).toMatch(/"burst";r=2;t=\d+, "quota";r=9;t=\d+/)
    // the adapter binds the key to "POST /orders" (it authenticates before the body): a retry
    // through the verify API with that operation is the same request
    const replay = await verify({
      key,
      scopes: ['orders:write'],
      idempotencyKey: 'order-1',
      operation: 'POST /orders',
    })
    expect(replay.body).toMatchObject({ valid: true, ratelimit: { limit: 3, remaining: 1 } })
    expect((await svc.keyward.verify(key, { cost: 0 })).ok).toBe(true)
    const reused = await verify({
      key,
      idempotencyKey: 'order-1',
      operation: 'POST /refunds',
    })
    expect(reused.body).toMatchObject({ valid: false, code: 'idempotency_key_reused' })
    expect(reused.body.retryAfter).toBeUndefined()
    const viaAdapter = await viaMiddleware(key)
    expect(viaAdapter.status).toBe(200)
    // quota: only the first request and the plain one were charged
    expect(viaAdapter.headers.get('ratelimit')).toMatch(/"burst";r=0;t=\d+, "quota";r=8;t=\d+/)
    const limited = await verify({ key, scopes: ['orders:write'] })
    expect(limited.body).toMatchObject({ code: 'rate_limited' })
    const refused = await viaMiddleware(key)
    expect(refused.status).toBe(429)
    expect(((await refused.json()) as { code: string }).code).toBe('rate_limited')
    expect(Number(refused.headers.get('retry-after'))).toBe(limited.body.retryAfter)
  })
})

describe('POST /v1/keys/verify: described', () => {
  it('in /openapi.json: body fields, the answer and its codes', async () => {
    const doc = (await svc.call('GET', '/openapi.json', { key: null })).body
    const op = doc.paths['/v1/keys/verify'].post
    expect(op.tags).toEqual(['verify'])
    const body = op.requestBody.content['application/json'].schema
    expect(Object.keys(body.properties).sort()).toEqual(
      ['cost', 'idempotencyKey', 'ip', 'key', 'operation', 'scopes', 'tag'].sort(),
    )
    expect(body.required).toEqual(['key'])
    const answer = op.responses['200'].content['application/json'].schema
    expect(Object.keys(answer.properties)).toEqual(
      expect.arrayContaining(['valid', 'code', 'keyId', 'ratelimit', 'missingScopes', 'retryAfter']),
    )
  })
})

describe('POST /v1/keys/verify: bad input', () => {
  it('refuses unknown fields, wrong types and bad values with 400, never echoing the key', async () => {
    const { key } = await svc.createKey({ name: 'echo' })
    const cases: [unknown, RegExp][] = [
      [{}, /missing the required field "key"/],
      [{ key: 42 }, /body\/key must be string/],
      [{ key, token: key }, /unknown field "token"/],
      [{ key, scopes: 'orders:read' }, /body\/scopes must be array/],
      [{ key, scopes: ['Orders'] }, /scope "Orders" is not valid/],
      [{ key, cost: -1 }, /body\/cost must be >= 0/],
      [{ key, cost: 1.5 }, /body\/cost must be integer/],
      [{ key, cost: '1' }, /body\/cost must be integer/],
      [{ key, ip: 'localhost' }, /ip "localhost" is not an IP address/],
      [{ key, tag: `/orders?api_key=${key}` }, /body\/tag must match pattern/],
      [{ key, ip: key }, /ip "kw_live_\w{4}…\w{4}" is not an IP address/],
      [{ key, scopes: ['a:b', key] }, /scope "kw_live_\w{4}…\w{4}" is not valid/],
      [{ key, idempotencyKey: 'a' }, /idempotencyKey needs operation: .*"operation": "POST \/orders"/],
      [{ key, idempotencyKey: 'has space', operation: 'POST /x' }, /body\/idempotencyKey must match pattern/],
      [{ key: 'k'.repeat(1025) }, /body\/key must NOT have more than 1024 characters/],
      [[key], /body must be object/],
    ]
    for (const [body, message] of cases) {
      const res = await verify(body)
      expect(res.status).toBe(400)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(res.body.code).toBe('invalid_request')
      expect(res.body.detail).toMatch(message)
      expect(res.text).not.toContain(key)
    }
    const malformed = await verify(`{"key": "${key}",`)
    expect(malformed.status).toBe(400)
    expect(malformed.body.code).toBe('invalid_json')
    expect(malformed.text).not.toContain(key)
  })
})

describe('POST /v1/keys/verify: the caller', () => {
  it('needs keys:verify: a read-only or write-only admin key gets 403, admin passes', async () => {
    const { key } = await svc.createKey({ name: 'target' })
    const reader = await svc.createKey({ name: 'reader', scopes: ['keys:read', 'keys:write'] })
    const res = await verify({ key }, reader.key)
    expect(res.status).toBe(403)
    expect(res.body).toMatchObject({ code: 'insufficient_scope' })
    expect(res.text).toContain('keys:verify')
    expect((await verify({ key }, svc.adminKey)).body.valid).toBe(true)
    expect((await verify({ key }, null)).status).toBe(401)
    // the target key cannot vouch for itself
    expect((await verify({ key }, key)).status).toBe(403)
  })

  it('a caller guessing keys is slowed down by the failed-auth limiter, whatever it sends', async () => {
    const guarded = await startService({ service: { failedAuth: { limit: 3, windowMs: 60_000 } } })
    try {
      const { key } = await guarded.createKey({ name: 'target' })
      for (let i = 0; i < 3; i++) {
        const guess = generateKey({ prefix: 'kw_live' })
        guarded.secrets.add(guess)
        const res = await guarded.call('POST', '/v1/keys/verify', { key: guess, body: { key } })
        expect(res.status).toBe(401)
        expect(res.body.code).toBe('key_invalid')
      }
      const blocked = await guarded.call('POST', '/v1/keys/verify', {
        key: guarded.verifyKey,
        body: { key },
      })
      expect(blocked.status).toBe(429)
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
      guarded.expectNoSecretLeaked()
    } finally {
      await guarded.close()
    }
  })
})
