// Hono specifics the shared tables cannot show: rate limit headers reach a Response the
// handler builds itself, not only the ones made with c.json()/c.text(); off Node, the client
// address comes from the getClientIp hook.
import { type Context, Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import { requireApiKey } from '../../src/http/hono/index.js'
import { createMemoryLimiter } from '../../src/limits/memory.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'

const PEPPER = [{ version: 1, secret: 'test-pepper-0123456789abcdefghijklmnopqrstuvwxyz' }]
const RULE = { name: 'default', limit: 10, windowMs: 60_000 }

describe('hono adapter, rate limit headers', () => {
  let keyward: Keyward
  afterEach(() => keyward.close())

  async function app(): Promise<{ app: Hono; key: string }> {
    keyward = await createKeyward({
      store: createMemoryStore(),
      peppers: PEPPER,
      limits: { limiter: createMemoryLimiter() },
    })
    const { key } = await keyward.createKey({
      name: 'hono',
      scopes: ['orders:read'],
      rateLimits: [RULE],
    })
    const app = new Hono()
    const guard = requireApiKey({ keyward, scopes: ['orders:read'] })
    app.get('/json', guard, (c) => c.json({ keyId: c.get('apiKey').id }))
    app.get(
      '/own',
      guard,
      () =>
        new Response('built by hand', {
          headers: { 'x-own': 'kept', 'content-type': 'text/plain' },
        }),
    )
    // a handler that sets a header keyward would add keeps its own
    app.get(
      '/mine',
      guard,
      () => new Response('mine', { headers: { ratelimit: '"mine";r=1;t=1' } }),
    )
    return { app, key }
  }

  it('puts RateLimit on c.json() responses and on a Response the handler built', async () => {
    const { app: a, key } = await app()
    const json = await a.request('/json', { headers: { 'X-API-Key': key } })
    expect(json.status).toBe(200)
    expect(json.headers.get('ratelimit-policy')).toBe('"default";q=10;w=60')
    expect(json.headers.get('ratelimit')).toBe('"default";r=9;t=6')

    const own = await a.request('/own', { headers: { 'X-API-Key': key } })
    expect(own.status).toBe(200)
    expect(await own.text()).toBe('built by hand')
    expect(own.headers.get('x-own')).toBe('kept')
    expect(own.headers.get('ratelimit-policy')).toBe('"default";q=10;w=60')
    // the second request of the key: one fewer left, and the reset is further away
    expect(own.headers.get('ratelimit')).toBe('"default";r=8;t=12')

    const mine = await a.request('/mine', { headers: { 'X-API-Key': key } })
    expect(mine.headers.get('ratelimit')).toBe('"mine";r=1;t=1')
    expect(mine.headers.get('ratelimit-policy')).toBe('"default";q=10;w=60')
  })
})

describe('hono adapter off Node: the client address from getClientIp', () => {
  let keyward: Keyward
  afterEach(() => keyward.close())

  async function setup(getClientIp?: (c: Context) => string | undefined) {
    keyward = await createKeyward({ store: createMemoryStore(), peppers: PEPPER })
    const { key } = await keyward.createKey({
      name: 'office',
      scopes: ['orders:read'],
      ipAllowlist: ['203.0.113.0/24'],
    })
    const app = new Hono()
    app.get(
      '/orders',
      requireApiKey({ keyward, scopes: ['orders:read'], ...(getClientIp ? { getClientIp } : {}) }),
      (c) => c.json({ keyId: c.get('apiKey').id }),
    )
    // app.request() runs the fetch handler alone: no Node socket, as on Bun, Deno or Workers
    return (ip?: string) => app.request('/orders', { headers: { 'X-API-Key': key } }, ip)
  }

  it('admits an allowlisted key from the address the hook gives', async () => {
    const get = await setup(() => '203.0.113.7')
    expect((await get()).status).toBe(200)
  })

  it('refuses other addresses, and a key with an allowlist when no address is known', async () => {
    const outside = await setup(() => '198.51.100.1')
    const res = await outside()
    expect(res.status).toBe(403)
    expect(await res.json()).toMatchObject({ code: 'ip_not_allowed' })
    await keyward.close()
    const unknown = await setup()
    expect((await unknown()).status).toBe(403)
  })

  it('treats a hook that throws as an error of the app (500), never as a pass', async () => {
    const broken = await setup(() => {
      throw new Error('no conninfo here')
    })
    expect((await broken()).status).toBe(500)
  })
})
