// Hono specifics the shared tables cannot show: rate limit headers reach a Response the
// handler builds itself, not only the ones made with c.json()/c.text().
import { Hono } from 'hono'
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
  })
})
