// The admin key routes on a real listening server: each route's success and its denials.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Answer, startService, type TestService } from '../../test/helpers/service.js'

let svc: TestService
beforeAll(async () => {
  svc = await startService()
})
afterEach(() => svc.expectNoSecretLeaked())
afterAll(() => svc.close())

const DAY = 86_400_000

function expectProblem(res: Answer, status: number, code: string) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(res.body).toMatchObject({ status, code, type: `urn:keyward:problem:${code}` })
  expect(typeof res.body.detail).toBe('string')
}

describe('POST /v1/keys', () => {
  it('creates a key and shows its secret once, not cacheable', async () => {
    const res = await svc.call('POST', '/v1/keys', {
      body: {
        name: 'billing',
        owner: 'svc:billing',
        scopes: ['orders:read'],
        expiresIn: '90d',
        rateLimits: [{ name: 'minute', limit: 100, window: '1m' }],
        quota: { limit: 10_000, period: '30d' },
        metadata: { team: 'payments' },
        ipAllowlist: ['10.0.0.0/8'],
      },
    })
    expect(res.status).toBe(201)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.body).toMatchObject({
      name: 'billing',
      owner: 'svc:billing',
      status: 'active',
      prefix: 'kw_live',
      scopes: ['orders:read'],
      rateLimits: [{ name: 'minute', limit: 100, window: '1m' }],
      quota: { limit: 10_000, period: '30d' },
      metadata: { team: 'payments' },
      ipAllowlist: ['10.0.0.0/8'],
    })
    expect(res.body.key).toMatch(/^kw_live_[0-9A-Za-z]{49}$/)
    expect(res.body.id).toMatch(/^key_[0-9A-Za-z]{16}$/)
    const expires = Date.parse(res.body.expiresAt) - Date.now()
    expect(expires).toBeGreaterThan(89 * DAY)
    expect(expires).toBeLessThanOrEqual(90 * DAY)
    // the secret works, and is never shown again
    const verified = await svc.keyward.verify(res.body.key, { ip: '10.1.2.3' })
    expect(verified.ok).toBe(true)
    const shown = await svc.call('GET', `/v1/keys/${res.body.id}`)
    expect(shown.status).toBe(200)
    expect(shown.body.key).toBeUndefined()
    expect(shown.text).not.toContain(res.body.key)
  })

  it('refuses bad values with 400 naming the field, and creates nothing', async () => {
    const before = (await svc.keyward.listKeys({ limit: 1000 })).items.length
    const cases: [unknown, RegExp][] = [
      [{}, /missing the required field "name"/],
      [{ name: 'x', scopes: ['Orders'] }, /scope "Orders" is not valid/],
      [{ name: 'x', expiresIn: 'soon' }, /expiresIn/],
      [{ name: 'x', expiresIn: '1d', expiresAt: '2099-01-01T00:00:00Z' }, /either expiresIn or expiresAt/],
      [{ name: 'x', roles: ['nobody'] }, /role "nobody" is not defined/],
      [{ name: 'x', prefix: 'Bad-Prefix' }, /prefix "Bad-Prefix" is not valid/],
    ]
    for (const [body, message] of cases) {
      const res = await svc.call('POST', '/v1/keys', { body })
      expectProblem(res, 400, 'invalid_request')
      expect(res.body.detail).toMatch(message)
    }
    expect((await svc.keyward.listKeys({ limit: 1000 })).items).toHaveLength(before)
  })

  it('a key sent in the wrong field is never quoted back, only its hint', async () => {
    const res = await svc.call('POST', '/v1/keys', {
      body: { name: 'x', scopes: [svc.adminKey], roles: [svc.verifyKey] },
    })
    expectProblem(res, 400, 'invalid_request')
    expect(res.text).not.toContain(svc.adminKey)
    expect(res.body.detail).toContain(`${svc.adminKey.slice(0, 12)}…${svc.adminKey.slice(-4)}`)
  })

  it('needs keys:write: 401 without a key, 403 with a read-only key', async () => {
    const reader = await svc.createKey({ name: 'reader', scopes: ['keys:read'] })
    const none = await svc.call('POST', '/v1/keys', { key: null, body: { name: 'x' } })
    expect(none.status).toBe(401)
    expect(none.body.code).toBe('key_missing')
    const read = await svc.call('POST', '/v1/keys', { key: reader.key, body: { name: 'x' } })
    expect(read.status).toBe(403)
    expect(read.body).toMatchObject({ code: 'insufficient_scope' })
    expect(read.text).toContain('keys:write')
  })
})

describe('GET /v1/keys', () => {
  let owner: string
  const ids: Record<string, string> = {}
  beforeAll(async () => {
    owner = `svc:list-${Date.now()}`
    const make = async (name: string, input: object) => {
      ids[name] = (await svc.createKey({ name, ownerId: owner, ...input })).id
    }
    await make('soon', { scopes: ['orders:read'], expiresInMs: 2 * DAY })
    await make('later', { scopes: ['orders:read', 'orders:write'], expiresInMs: 60 * DAY })
    await make('test', { prefix: 'kw_test', scopes: ['orders:*'] })
    await make('gone', { expiresInMs: DAY })
    await svc.keyward.revokeKey(ids.gone!)
  })

  async function list(query: string): Promise<string[]> {
    const res = await svc.call('GET', `/v1/keys?owner=${encodeURIComponent(owner)}&${query}`)
    expect(res.status).toBe(200)
    return (res.body.items as { id: string }[]).map((k) => k.id).sort()
  }

  it('filters by owner, status, prefix, scope and expiry, combined', async () => {
    expect(await list('')).toEqual(Object.values(ids).sort())
    expect(await list('status=revoked')).toEqual([ids.gone])
    expect(await list('status=active')).toEqual([ids.soon, ids.later, ids.test].sort())
    expect(await list('prefix=kw_test')).toEqual([ids.test])
    expect(await list('scope=orders:read')).toEqual([ids.soon, ids.later].sort())
    expect(await list('scope=orders:write')).toEqual([ids.later])
    const week = new Date(Date.now() + 7 * DAY).toISOString()
    expect(await list(`expiringBefore=${week}`)).toEqual([ids.soon, ids.gone].sort())
    expect(await list(`expiringBefore=${week}&status=active`)).toEqual([ids.soon])
    expect(await list(`expiringBefore=${week}&scope=orders:read&prefix=kw_live`)).toEqual([
      ids.soon,
    ])
  })

  it('pages with limit and cursor, newest first, every key once', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const q: string = `/v1/keys?owner=${encodeURIComponent(owner)}&limit=1${cursor ? `&cursor=${cursor}` : ''}`
      const res = await svc.call('GET', q)
      expect(res.status).toBe(200)
      expect(res.body.items).toHaveLength(1)
      seen.push(res.body.items[0].id)
      cursor = res.body.nextCursor
      pages++
    } while (cursor !== null && pages < 10)
    expect(pages).toBe(4)
    expect(seen.sort()).toEqual(Object.values(ids).sort())
  })

  it('never lists a secret', async () => {
    const res = await svc.call('GET', '/v1/keys?limit=1000')
    for (const secret of svc.secrets) expect(res.text).not.toContain(secret)
  })

  it('refuses bad filters with 400 saying what is allowed', async () => {
    const cases: [string, RegExp][] = [
      ['limit=0', /querystring\/limit must match pattern/],
      ['limit=1001', /limit must be 1-1000, got 1001/],
      ['limit=ten', /querystring\/limit must match pattern/],
      ['status=gone', /querystring\/status must be equal to one of the allowed values/],
      ['prefix=KW', /prefix "KW" is not valid/],
      ['scope=orders::read', /scope "orders::read" is not valid/],
      ['expiringBefore=tomorrow', /querystring\/expiringBefore must match format "date-time"/],
      ['cursor=abc', /cursor is not valid: pass the nextCursor of a previous page unchanged/],
      ['color=red', /unknown field "color"/],
    ]
    for (const [query, message] of cases) {
      const res = await svc.call('GET', `/v1/keys?${query}`)
      expectProblem(res, 400, 'invalid_request')
      expect(res.body.detail).toMatch(message)
    }
  })
})

describe('GET /v1/keys/:id', () => {
  it('answers the key, 404 for an unknown or malformed id', async () => {
    const { id } = await svc.createKey({ name: 'shown', scopes: ['a:b'] })
    const res = await svc.call('GET', `/v1/keys/${id}`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id, name: 'shown', scopes: ['a:b'], status: 'active' })
    for (const bad of ['key_0000000000000000', 'nope', 'key_%00']) {
      const missing = await svc.call('GET', `/v1/keys/${bad}`)
      expectProblem(missing, 404, 'not_found')
      expect(missing.body.detail).toMatch(/list keys with GET \/v1\/keys/)
    }
  })
})

describe('PATCH /v1/keys/:id', () => {
  it('changes fields, disables and enables; the change applies to verification at once', async () => {
    const { id, key } = await svc.createKey({ name: 'patched', scopes: ['a:b'] })
    expect((await svc.keyward.verify(key, { scopes: ['a:b'] })).ok).toBe(true)
    const res = await svc.call('PATCH', `/v1/keys/${id}`, {
      body: { name: 'renamed', scopes: ['c:d'], metadata: { x: 1 }, expiresAt: null },
    })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id, name: 'renamed', scopes: ['c:d'], metadata: { x: 1 } })
    expect(await svc.keyward.verify(key, { scopes: ['a:b'] })).toMatchObject({
      ok: false,
      code: 'insufficient_scope',
    })
    const off = await svc.call('PATCH', `/v1/keys/${id}`, { body: { enabled: false } })
    expect(off.body.status).toBe('disabled')
    expect(await svc.keyward.verify(key)).toMatchObject({ ok: false, code: 'key_disabled' })
    const on = await svc.call('PATCH', `/v1/keys/${id}`, { body: { enabled: true } })
    expect(on.body.status).toBe('active')
  })

  it('refuses an empty patch, an unknown field and an unknown key', async () => {
    const { id } = await svc.createKey({ name: 'p2' })
    expectProblem(await svc.call('PATCH', `/v1/keys/${id}`, { body: {} }), 400, 'invalid_request')
    const unknown = await svc.call('PATCH', `/v1/keys/${id}`, { body: { colour: 'red' } })
    expectProblem(unknown, 400, 'invalid_request')
    expect(unknown.body.detail).toMatch(/unknown field "colour"/)
    expectProblem(
      await svc.call('PATCH', '/v1/keys/key_0000000000000000', { body: { name: 'x' } }),
      404,
      'not_found',
    )
  })
})

describe('POST /v1/keys/:id/rotate', () => {
  it('issues a new secret once; the old one works for the grace period only', async () => {
    const { id, key: old } = await svc.createKey({ name: 'rotated' })
    const res = await svc.call('POST', `/v1/keys/${id}/rotate`, { body: { gracePeriod: '1h' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.body.key).toMatch(/^kw_live_/)
    expect(res.body.key).not.toBe(old)
    expect(res.body.hint).toBe(`${res.body.key.slice(0, 12)}…${res.body.key.slice(-4)}`)
    expect((await svc.keyward.verify(res.body.key)).ok).toBe(true)
    expect((await svc.keyward.verify(old)).ok).toBe(true)

    const { id: id2, key: old2 } = await svc.createKey({ name: 'rotated now' })
    const now = await svc.call('POST', `/v1/keys/${id2}/rotate`, { body: { gracePeriod: '0s' } })
    expect(now.status).toBe(200)
    expect(await svc.keyward.verify(old2)).toMatchObject({ ok: false, code: 'key_expired' })
  })

  it('takes no body (default grace), refuses a bad grace, a revoked or unknown key', async () => {
    const { id } = await svc.createKey({ name: 'r2' })
    expect((await svc.call('POST', `/v1/keys/${id}/rotate`)).status).toBe(200)
    const bad = await svc.call('POST', `/v1/keys/${id}/rotate`, { body: { gracePeriod: 'long' } })
    expectProblem(bad, 400, 'invalid_request')
    await svc.keyward.revokeKey(id)
    const revoked = await svc.call('POST', `/v1/keys/${id}/rotate`)
    expectProblem(revoked, 400, 'invalid_request')
    expect(revoked.body.detail).toMatch(/revoked key cannot be rotated/)
    expectProblem(await svc.call('POST', '/v1/keys/key_0000000000000000/rotate'), 404, 'not_found')
  })
})

describe('DELETE /v1/keys/:id', () => {
  it('revokes: the key stops verifying at once and the record stays', async () => {
    const { id, key } = await svc.createKey({ name: 'revoked' })
    const res = await svc.call('DELETE', `/v1/keys/${id}`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id, status: 'revoked' })
    expect(res.body.revokedAt).toMatch(/Z$/)
    expect(await svc.keyward.verify(key)).toMatchObject({ ok: false, code: 'key_revoked' })
    expect((await svc.call('GET', `/v1/keys/${id}`)).body.status).toBe('revoked')
    // again: no error, same record
    expect((await svc.call('DELETE', `/v1/keys/${id}`)).status).toBe(200)
    expectProblem(await svc.call('DELETE', '/v1/keys/key_0000000000000000'), 404, 'not_found')
  })
})
