// Deprecation (RFC 9745) and Sunset (RFC 8594) on every response to an old secret inside its
// rotation grace period, in all four adapters; never for the current secret. And the usage tag
// each adapter records (the route pattern where it knows it, else the `usageTag` option).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import { createMemoryLimiter } from '../../src/limits/memory.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import type { Store } from '../../src/stores/types.js'
import { ADAPTERS, type AppOptions, rawRequest, type RunningApp, startApp } from './apps.js'

const PEPPER = [{ version: 1, secret: 'rotation-headers-pepper-0123456789abcdefghij' }]
const START = Date.UTC(2026, 0, 1, 8, 0, 0)
const GRACE = 2 * 86_400_000

const clock = {
  t: START,
  now() {
    return this.t
  },
}

let store: Store
let keyward: Keyward

beforeAll(async () => {
  store = createMemoryStore()
  keyward = await createKeyward({
    store,
    peppers: PEPPER,
    clock,
    limits: { limiter: createMemoryLimiter({ clock }) },
  })
})
afterAll(async () => {
  await keyward.close()
})

const get = (port: number, key: string, path = '/orders') =>
  rawRequest(port, { path, headers: [['X-API-Key', key]] })

describe.each(ADAPTERS)('%s', (adapter) => {
  let app: RunningApp
  const start = async (options: Partial<AppOptions> = {}) => {
    app = await startApp(adapter, { keyward, ...options })
    return app
  }
  afterEach(async () => {
    await app?.close()
    clock.t = START
  })

  it('sends Deprecation and Sunset to the old secret during its grace period, never to the new one', async () => {
    const { port } = await start()
    const created = await keyward.createKey({ name: `${adapter} rotated`, scopes: ['orders:read'] })
    const before = await get(port, created.key)
    expect(before.status).toBe(200)
    expect(before.headers.deprecation).toBeUndefined()
    expect(before.headers.sunset).toBeUndefined()

    clock.t = START + 90_000
    const rotated = await keyward.rotateKey(created.record.id, { graceMs: GRACE })
    for (let i = 0; i < 2; i++) {
      // the second request is answered from the cache: the headers stay
      const old = await get(port, created.key)
      expect(old.status).toBe(200)
      expect(old.headers.deprecation).toBe(`@${(START + 90_000) / 1000}`)
      expect(old.headers.sunset).toBe(new Date(START + 90_000 + GRACE).toUTCString())
      expect(old.headers.sunset).toBe('Sat, 03 Jan 2026 08:01:30 GMT')
    }
    const fresh = await get(port, rotated.key)
    expect(fresh.status).toBe(200)
    expect(fresh.headers.deprecation).toBeUndefined()
    expect(fresh.headers.sunset).toBeUndefined()

    // the grace period over: the old secret is refused, with no such headers
    clock.t = START + 90_000 + GRACE
    const ended = await get(port, created.key)
    expect(ended.status).toBe(401)
    expect(JSON.parse(ended.body).code).toBe('key_expired')
    expect(ended.headers.deprecation).toBeUndefined()
  })

  it('sends them next to the RateLimit fields for a key with limits', async () => {
    const { port } = await start()
    const created = await keyward.createKey({
      name: `${adapter} limited`,
      scopes: ['orders:read'],
      rateLimits: [{ name: 'minute', limit: 100, windowMs: 60_000 }],
    })
    await keyward.rotateKey(created.record.id, { graceMs: GRACE })
    const old = await get(port, created.key)
    expect(old.status).toBe(200)
    expect(old.headers.ratelimit).toMatch(/^"minute";r=\d+;t=\d+$/)
    expect(old.headers.deprecation).toBe(`@${START / 1000}`)
    expect(old.headers.sunset).toBe(new Date(START + GRACE).toUTCString())
  })

  it('counts usage under the route pattern, or the usageTag option (cut at "?")', async () => {
    const first = await start()
    const a = await keyward.createKey({ name: `${adapter} tagged`, scopes: ['orders:read'] })
    await get(first.port, a.key, '/orders?page=2')
    await first.close()
    const second = await start({ usageTag: () => 'orders-api?api_key=x' })
    const b = await keyward.createKey({ name: `${adapter} named`, scopes: ['orders:read'] })
    await get(second.port, b.key)
    await keyward.verifier.flush()
    const tags = async (keyId: string) =>
      (
        await store.summarizeUsage({
          keyId,
          since: 0,
          until: START + 86_400_000,
          stepMs: 60_000,
          tagLimit: 5,
        })
      ).tags.map((t) => t.tag)
    // node:http has no router: without the option, its requests are untagged
    expect(await tags(a.record.id)).toEqual([adapter === 'node' ? '' : '/orders'])
    expect(await tags(b.record.id)).toEqual(['orders-api'])
  })
})
