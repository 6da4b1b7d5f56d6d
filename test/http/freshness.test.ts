// What a request sees right after a change or an expiry, through every adapter: never the
// cached state from before.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import { ADAPTERS, rawRequest, type RunningApp, startApp } from './apps.js'

const PEPPER = [{ version: 1, secret: 'freshness-pepper-0123456789abcdefghijklmnopqrstuvwxyz' }]

describe.each(ADAPTERS)('freshness through %s', (adapter) => {
  const clock = { t: Date.UTC(2026, 0, 1), now: () => clock.t }
  let keyward: Keyward
  let app: RunningApp
  const get = (key: string) => rawRequest(app.port, { headers: [['X-API-Key', key]] })
  const codeOf = (body: string) => (JSON.parse(body) as { code: string }).code

  beforeAll(async () => {
    keyward = await createKeyward({
      store: createMemoryStore(),
      peppers: PEPPER,
      clock,
      cache: { ttlMs: 3_600_000 },
    })
    app = await startApp(adapter, { keyward, clock })
  })
  afterAll(async () => {
    await app.close()
    await keyward.close()
  })

  it('refuses a key whose expiry passes while it is cached', async () => {
    const { key } = await keyward.createKey({
      name: 'x',
      scopes: ['orders:read'],
      expiresInMs: 60_000,
    })
    expect((await get(key)).status).toBe(200)
    clock.t += 60_000
    const res = await get(key)
    expect(res.status).toBe(401)
    expect(codeOf(res.body)).toBe('key_expired')
  })

  it('refuses an old secret at the end of its grace period, and at once with grace 0', async () => {
    const a = await keyward.createKey({ name: 'a', scopes: ['orders:read'] })
    expect((await get(a.key)).status).toBe(200)
    await keyward.rotateKey(a.record.id, { graceMs: 5_000 })
    expect((await get(a.key)).status).toBe(200)
    clock.t += 5_000
    expect(codeOf((await get(a.key)).body)).toBe('key_expired')

    const b = await keyward.createKey({ name: 'b', scopes: ['orders:read'] })
    expect((await get(b.key)).status).toBe(200)
    const next = await keyward.rotateKey(b.record.id, { graceMs: 0 })
    expect(codeOf((await get(b.key)).body)).toBe('key_expired')
    expect((await get(next.key)).status).toBe(200)
  })

  it('stops granting a scope removed from a role at once', async () => {
    await keyward.setRole(`reader-${adapter}`, ['orders:read'])
    const { key } = await keyward.createKey({ name: 'r', roles: [`reader-${adapter}`] })
    expect((await get(key)).status).toBe(200)
    await keyward.setRole(`reader-${adapter}`, ['users:read'])
    const res = await get(key)
    expect(res.status).toBe(403)
    expect(codeOf(res.body)).toBe('insufficient_scope')
  })
})
