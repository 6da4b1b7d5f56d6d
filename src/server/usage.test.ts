// The service's side of usage and rotation: GET /v1/keys/:id/usage and GET /v1/usage on real
// recorded verifications, the verify API's deprecation fields, Deprecation/Sunset on the
// service's own routes, and the memory bound's metric.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startService, type TestService } from '../../test/helpers/service.js'

let svc: TestService
beforeAll(async () => {
  svc = await startService({ keyward: { usage: { maxCells: 100, maxTagsPerKey: 2 } } })
})
afterEach(() => svc.expectNoSecretLeaked())
afterAll(() => svc.close())

const verify = (body: Record<string, unknown>) =>
  svc.call('POST', '/v1/keys/verify', { key: svc.verifyKey, body })

describe('GET /v1/keys/:id/usage', () => {
  it('answers the series by outcome, totals, routes and first/last IP of real verifications', async () => {
    const { key, id } = await svc.createKey({ name: 'usage one', scopes: ['orders:read'] })
    await verify({ key, scopes: ['orders:read'], ip: '203.0.113.5', tag: '/orders' })
    await verify({ key, scopes: ['orders:read'], ip: '203.0.113.6', tag: '/orders' })
    await verify({ key, scopes: ['orders:write'], ip: '203.0.113.7', tag: '/orders/:id' })
    const res = await svc.call('GET', `/v1/keys/${id}/usage?since=1h&step=1h`)
    expect(res.status).toBe(200)
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString()
    expect(res.body).toMatchObject({
      keyId: id,
      step: '1h',
      series: [{ at: hour, counts: { valid: 2, insufficient_scope: 1 } }],
      totals: { valid: 2, insufficient_scope: 1 },
      firstIp: '203.0.113.5',
      routes: [
        { tag: '/orders', total: 2 },
        { tag: '/orders/:id', total: 1 },
      ],
    })
    // the last IP is of the latest minute; within one minute, of one of its rows
    expect(['203.0.113.6', '203.0.113.7']).toContain(res.body.lastIp)
    expect(Date.parse(res.body.since)).toBeLessThanOrEqual(Date.now() - 3_600_000)
  })

  it('counts requests to the service itself under their route pattern', async () => {
    const { key, id } = await svc.createKey({ name: 'reader', scopes: ['keys:read'] })
    await svc.call('GET', `/v1/keys/${svc.adminId}`, { key })
    await svc.call('GET', `/v1/keys/${svc.adminId}?x=1`, { key })
    await svc.call('POST', '/v1/keys', { key, body: { name: 'nope' } })
    const res = await svc.call('GET', `/v1/keys/${id}/usage`)
    expect(res.body.routes).toEqual([
      { tag: '/v1/keys/:id', total: 2 },
      { tag: '/v1/keys', total: 1 },
    ])
    expect(res.body.totals).toEqual({ valid: 2, insufficient_scope: 1 })
  })

  it('refuses bad parameters, unknown keys and keys without keys:read', async () => {
    const { id } = await svc.createKey({ name: 'x' })
    const bad = await svc.call('GET', `/v1/keys/${id}/usage?since=yesterday`)
    expect(bad.status).toBe(400)
    expect(bad.body.detail).toContain('since "yesterday" is neither a duration nor a time')
    const fine = await svc.call('GET', `/v1/keys/${id}/usage?since=30d&step=1m`)
    expect(fine.status).toBe(400)
    expect(fine.body.detail).toContain('use a larger step or a shorter range')
    expect((await svc.call('GET', `/v1/keys/${id}/usage?step=2h`)).status).toBe(400)
    const missing = await svc.call('GET', '/v1/keys/key_0000000000000000/usage')
    expect(missing.status).toBe(404)
    const stranger = await svc.createKey({ name: 'stranger', scopes: ['keys:verify'] })
    expect((await svc.call('GET', `/v1/keys/${id}/usage`, { key: stranger.key })).status).toBe(403)
  })
})

describe('GET /v1/usage', () => {
  it('answers every key’s series with the top keys by traffic and by denials', async () => {
    const busy = await svc.createKey({ name: 'busy', scopes: ['a:read'] })
    const refused = await svc.createKey({ name: 'refused' })
    for (let i = 0; i < 5; i++) await verify({ key: busy.key, scopes: ['a:read'] })
    for (let i = 0; i < 3; i++) await verify({ key: refused.key, scopes: ['a:read'] })
    const res = await svc.call('GET', '/v1/usage?since=24h&step=1d&top=100')
    expect(res.status).toBe(200)
    expect(res.body.step).toBe('1d')
    const traffic = res.body.topByTraffic as { keyId: string; name: string; total: number }[]
    expect(traffic).toContainEqual({ keyId: busy.id, name: 'busy', total: 5 })
    const denials = res.body.topByDenials as { keyId: string; name: string; denied: number }[]
    expect(denials).toContainEqual({ keyId: refused.id, name: 'refused', denied: 3 })
    expect(denials.map((d) => d.keyId)).not.toContain(busy.id)
    const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0)
    expect(sum(res.body.totals)).toBe(traffic.reduce((n, k) => n + k.total, 0))
    const top1 = await svc.call('GET', '/v1/usage?top=1')
    expect(top1.body.topByTraffic).toHaveLength(1)
    expect((await svc.call('GET', '/v1/usage?top=0')).status).toBe(400)
  })

  it('is described in /openapi.json', async () => {
    const doc = (await svc.call('GET', '/openapi.json')).body
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/usage', '/v1/keys/{id}/usage']),
    )
    const verifyAnswer =
      doc.paths['/v1/keys/verify'].post.responses['200'].content['application/json'].schema
    expect(Object.keys(verifyAnswer.properties)).toEqual(
      expect.arrayContaining(['deprecation', 'sunset']),
    )
  })
})

describe('rotation seen by the service', () => {
  it('the verify API answers deprecation and sunset for the old secret only', async () => {
    const { key, id } = await svc.createKey({ name: 'rotated' })
    const before = await verify({ key })
    expect(before.body).not.toHaveProperty('deprecation')
    const rotated = await svc.call('POST', `/v1/keys/${id}/rotate`, { body: { gracePeriod: '1d' } })
    expect(rotated.status).toBe(200)
    const old = await verify({ key })
    expect(old.body.valid).toBe(true)
    expect(Date.parse(old.body.sunset) - Date.parse(old.body.deprecation)).toBe(86_400_000)
    const fresh = await verify({ key: rotated.body.key })
    expect(fresh.body.valid).toBe(true)
    expect(fresh.body).not.toHaveProperty('deprecation')
    expect(fresh.body).not.toHaveProperty('sunset')
  })

  it("the service's own routes send Deprecation and Sunset to a rotated admin key", async () => {
    const { key, id } = await svc.createKey({ name: 'old admin', scopes: ['keys:read'] })
    const rotated = await svc.call('POST', `/v1/keys/${id}/rotate`, { body: { gracePeriod: '2h' } })
    const old = await svc.call('GET', '/v1/keys?limit=1', { key })
    expect(old.status).toBe(200)
    expect(old.headers.get('deprecation')).toMatch(/^@\d+$/)
    const sunset = Date.parse(old.headers.get('sunset')!)
    const deprecatedAt = Number(old.headers.get('deprecation')!.slice(1)) * 1000
    expect(sunset - deprecatedAt).toBeLessThanOrEqual(2 * 3_600_000)
    expect(sunset - deprecatedAt).toBeGreaterThan(2 * 3_600_000 - 2000)
    const fresh = await svc.call('GET', '/v1/keys?limit=1', { key: rotated.body.key })
    expect(fresh.headers.get('deprecation')).toBeNull()
    expect(fresh.headers.get('sunset')).toBeNull()
  })
})

describe('the memory bound', () => {
  it('merges tags past the limit and shows it in /metrics', async () => {
    const { key } = await svc.createKey({ name: 'many tags' })
    for (const tag of ['/a', '/b', '/c', '/d']) await verify({ key, tag })
    const metrics = (await svc.call('GET', '/metrics')).text
    const merged = /keyward_usage_cells_dropped_total\{reason="merged"\} (\d+)/.exec(metrics)
    expect(Number(merged?.[1])).toBeGreaterThanOrEqual(2)
    expect(metrics).toContain('keyward_usage_cells_dropped_total{reason="dropped"}')
  })
})
