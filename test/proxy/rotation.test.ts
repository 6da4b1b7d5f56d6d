// The proxy's answers to an old secret in its grace period carry Deprecation and Sunset on
// top of the upstream's response; the current secret's do not. Usage is counted under the
// matched rule's path pattern.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ProxiedService, startProxy } from '../helpers/proxy.js'

let svc: ProxiedService
beforeAll(async () => {
  svc = await startProxy({
    routes: [
      { method: 'GET', path: '/orders/**', scopes: ['orders:read'] },
      { method: 'GET', path: '/me', scopes: [] },
    ],
  })
})
afterAll(() => svc.close())

describe('proxy: rotation headers and usage tags', () => {
  it('adds Deprecation and Sunset to upstream responses for the old secret only', async () => {
    const { key, id } = await svc.createKey({ name: 'caller', scopes: ['orders:read'] })
    const before = await svc.call('GET', '/orders/1', { key })
    expect(before.status).toBe(200)
    expect(before.headers.get('deprecation')).toBeNull()
    const rotatedAt = Date.now()
    const rotated = await svc.keyward.rotateKey(id, { graceMs: 3_600_000 })
    svc.secrets.add(rotated.key)
    const old = await svc.call('GET', '/orders/2', { key })
    expect(old.status).toBe(200)
    const deprecatedAt = Number(old.headers.get('deprecation')?.slice(1)) * 1000
    expect(deprecatedAt).toBeGreaterThanOrEqual(Math.floor(rotatedAt / 1000) * 1000)
    // both in whole seconds, a grace period of whole seconds apart
    expect(Date.parse(old.headers.get('sunset')!) - deprecatedAt).toBe(3_600_000)
    // the upstream's own status pages pass through with the headers too
    const status = await svc.call('GET', '/orders/status/404', { key })
    expect(status.headers.get('sunset')).toBe(old.headers.get('sunset'))
    const fresh = await svc.call('GET', '/orders/3', { key: rotated.key })
    expect(fresh.status).toBe(200)
    expect(fresh.headers.get('deprecation')).toBeNull()
    expect(fresh.headers.get('sunset')).toBeNull()
    svc.expectNoSecretLeaked()
  })

  it("counts proxied requests under the rule's pattern", async () => {
    const { key, id } = await svc.createKey({ name: 'tagged', scopes: ['orders:read'] })
    await svc.call('GET', '/orders/7?page=1', { key })
    await svc.call('GET', '/me', { key })
    await svc.keyward.verifier.flush()
    const usage = await svc.call('GET', `/v1/keys/${id}/usage`)
    expect(usage.body.routes).toEqual([
      { tag: '/me', total: 1 },
      { tag: '/orders/**', total: 1 },
    ])
  })
})
