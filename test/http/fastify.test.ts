// Fastify specifics: plugin-wide and per-route scopes, open routes, HEAD routes, contexts.
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { createKeyward, type Keyward, type VerifiedKey } from '../../src/core/keyward.js'
import { keywardFastify, requireApiKey } from '../../src/http/fastify/index.js'
import { createMemoryLimiter } from '../../src/limits/memory.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'

const PEPPER = [{ version: 1, secret: 'test-pepper-0123456789abcdefghijklmnopqrstuvwxyz' }]
let keyward: Keyward
let reader: string
let both: string

beforeAll(async () => {
  keyward = await createKeyward({ store: createMemoryStore(), peppers: PEPPER })
  reader = (await keyward.createKey({ name: 'r', scopes: ['orders:read'] })).key
  both = (await keyward.createKey({ name: 'rw', scopes: ['orders:*', 'admin:read'] })).key
})
afterAll(() => keyward.close())

describe('keywardFastify', () => {
  it('requires plugin scopes plus route scopes, opens config.keyward: false routes', async () => {
    const app = Fastify()
    await app.register(keywardFastify, { keyward, scopes: ['orders:read'] })
    app.get('/health', { config: { keyward: false } }, async (req) => ({ key: req.apiKey }))
    app.get('/orders', async (req) => {
      expectTypeOf(req.apiKey).toEqualTypeOf<VerifiedKey | null>()
      return { id: req.apiKey?.id }
    })
    app.get('/admin', { config: { keyward: { scopes: ['admin:read'] } } }, async () => 'ok')
    const get = (url: string, key?: string) =>
      app.inject({ url, headers: key === undefined ? {} : { 'x-api-key': key } })
    expect((await get('/health')).json()).toEqual({ key: null })
    expect((await get('/orders', reader)).statusCode).toBe(200)
    const denied = await get('/admin', reader)
    expect(denied.statusCode).toBe(403)
    expect(denied.json().missingScopes).toEqual(['admin:read'])
    expect((await get('/admin', both)).statusCode).toBe(200)
    // an unknown path is authenticated too: a 404 would tell a caller without a key which routes exist
    expect((await get('/nope')).statusCode).toBe(401)
    await app.close()
  })

  it('authenticates the automatic HEAD route with the GET route config', async () => {
    const app = Fastify()
    await app.register(keywardFastify, { keyward })
    app.get('/admin', { config: { keyward: { scopes: ['admin:read'] } } }, async () => 'ok')
    const head = (key: string) =>
      app.inject({ method: 'HEAD', url: '/admin', headers: { 'x-api-key': key } })
    expect((await head(reader)).statusCode).toBe(403)
    expect((await head(both)).statusCode).toBe(200)
    await app.close()
  })

  it("runs before the route's own onRequest hooks", async () => {
    const app = Fastify()
    await app.register(keywardFastify, { keyward })
    const seen: (string | undefined)[] = []
    app.get(
      '/orders',
      {
        onRequest: async (req) => {
          seen.push(req.apiKey?.id)
        },
      },
      async () => 'ok',
    )
    expect((await app.inject({ url: '/orders' })).statusCode).toBe(401)
    expect(
      (await app.inject({ url: '/orders', headers: { 'x-api-key': reader } })).statusCode,
    ).toBe(200)
    expect(seen).toEqual([expect.stringMatching(/^key_/)])
    await app.close()
  })

  it('fails at start-up for a malformed route scope', async () => {
    const app = Fastify()
    await app.register(keywardFastify, { keyward })
    expect(() =>
      app.get('/x', { config: { keyward: { scopes: ['Orders:Read'] } } }, async () => 'ok'),
    ).toThrow(/scope "Orders:Read" is not valid/)
    expect(() =>
      app.get('/y', { config: { keyward: { scopes: 'orders:read' as never } } }, async () => 'ok'),
    ).toThrow('route GET /y config "keyward.scopes" must be a list of scopes')
    await app.close()
  })

  it('protects only the context it is registered in', async () => {
    const app = Fastify()
    app.get('/public', async () => 'ok')
    await app.register(
      async (api) => {
        await api.register(keywardFastify, { keyward })
        api.get('/orders', async (req) => req.apiKey?.id)
      },
      { prefix: '/api' },
    )
    expect((await app.inject({ url: '/public' })).statusCode).toBe(200)
    expect((await app.inject({ url: '/api/orders' })).statusCode).toBe(401)
    await app.close()
  })

  it('requireApiKey works as a per-route onRequest hook', async () => {
    const app = Fastify()
    app.get(
      '/orders',
      { onRequest: requireApiKey({ keyward, scopes: ['orders:write'] }) },
      async () => 'ok',
    )
    expect(
      (await app.inject({ url: '/orders', headers: { authorization: `Bearer ${reader}` } }))
        .statusCode,
    ).toBe(403)
    expect(
      (await app.inject({ url: '/orders', headers: { authorization: `Bearer ${both}` } }))
        .statusCode,
    ).toBe(200)
    await app.close()
  })

  it('a plugin registered again in a child context adds its scopes to the parent’s', async () => {
    const app = Fastify()
    await app.register(keywardFastify, { keyward, scopes: ['orders:read'] })
    await app.register(
      async (admin) => {
        await admin.register(keywardFastify, { keyward, scopes: ['admin:read'] })
        admin.get('/x', { config: { keyward: { scopes: ['orders:write'] } } }, async () => 'ok')
        admin.get('/y', async () => 'ok')
      },
      { prefix: '/admin' },
    )
    const get = (key: string, url = '/admin/x') =>
      app.inject({ url, headers: { 'x-api-key': key } })
    const denied = await get(reader)
    expect(denied.statusCode).toBe(403)
    expect(denied.json().missingScopes).toEqual(['orders:write', 'admin:read'])
    expect((await get(both)).statusCode).toBe(200)
    // without scopes of its own, a route needs both plugins' scopes
    const plain = await get(reader, '/admin/y')
    expect(plain.statusCode).toBe(403)
    expect(plain.json().missingScopes).toEqual(['admin:read'])
    expect((await get(both, '/admin/y')).statusCode).toBe(200)
    const adminOnly = (await keyward.createKey({ name: 'a', scopes: ['admin:read'] })).key
    expect((await get(adminOnly, '/admin/y')).json().missingScopes).toEqual(['orders:read'])
    await app.close()
  })

  it('a route’s own requireApiKey under the plugin needs the plugin’s scopes too', async () => {
    const app = Fastify()
    await app.register(keywardFastify, { keyward, scopes: ['admin:read'] })
    app.get(
      '/orders',
      { onRequest: requireApiKey({ keyward, scopes: ['orders:read'] }) },
      async () => 'ok',
    )
    const get = (key: string) => app.inject({ url: '/orders', headers: { 'x-api-key': key } })
    const denied = await get(reader)
    expect(denied.statusCode).toBe(403)
    expect(denied.json().missingScopes).toEqual(['admin:read'])
    expect((await get(both)).statusCode).toBe(200)
    await app.close()
  })

  it('authenticates a request once, however many keyward hooks its route was given', async () => {
    const limited = await createKeyward({
      store: createMemoryStore(),
      peppers: PEPPER,
      limits: { limiter: createMemoryLimiter() },
    })
    const app = Fastify()
    await app.register(keywardFastify, { keyward: limited })
    const order: string[] = []
    const mine = async (req: { apiKey: VerifiedKey | null }) => {
      order.push(req.apiKey === null ? 'mine before keyward' : 'mine after keyward')
    }
    // the route's own hook first, its requireApiKey after it: the order is kept
    app.get('/own', { onRequest: [mine, requireApiKey({ keyward: limited })] }, async () => 'ok')
    app.get('/orders', { onRequest: mine }, async () => 'ok')
    await app.register(
      async (child) => {
        await child.register(keywardFastify, { keyward: limited })
        child.get('/x', async () => 'ok')
      },
      { prefix: '/child' },
    )
    const cases: [string, string][] = [
      ['GET', '/own'],
      ['HEAD', '/orders'],
      ['HEAD', '/own'],
      ['GET', '/child/x'],
    ]
    for (const [method, url] of cases) {
      const { key } = await limited.createKey({
        name: url,
        rateLimits: [{ name: 'default', limit: 2, windowMs: 60_000 }],
      })
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) {
        const res = await app.inject({
          method: method as 'GET',
          url,
          headers: { 'x-api-key': key },
        })
        statuses.push(res.statusCode)
      }
      expect([method, url, statuses]).toEqual([method, url, [200, 200, 429]])
    }
    expect(new Set(order)).toEqual(new Set(['mine before keyward', 'mine after keyward']))
    expect(order.slice(0, 2)).toEqual(['mine before keyward', 'mine before keyward'])
    await app.close()
    await limited.close()
  })

  it('takes the options of the innermost plugin, and of a route’s own requireApiKey over any plugin', async () => {
    const app = Fastify()
    await app.register(keywardFastify, { keyward, sources: ['x-api-key'] })
    await app.register(
      async (child) => {
        await child.register(keywardFastify, { keyward, sources: ['bearer'] })
        child.get('/x', async () => 'ok')
      },
      { prefix: '/child' },
    )
    await app.register(
      async (child) => {
        await child.register(keywardFastify, { keyward, sources: ['bearer'] })
        child.get(
          '/own',
          { onRequest: requireApiKey({ keyward, sources: ['x-api-key'] }) },
          async () => 'ok',
        )
      },
      { prefix: '/nested' },
    )
    const call = (url: string, headers: Record<string, string>) =>
      app.inject({ url, headers }).then((r) => r.statusCode)
    expect(await call('/child/x', { authorization: `Bearer ${reader}` })).toBe(200)
    expect(await call('/child/x', { 'x-api-key': reader })).toBe(401)
    expect(await call('/nested/own', { 'x-api-key': reader })).toBe(200)
    expect(await call('/nested/own', { authorization: `Bearer ${reader}` })).toBe(401)
    await app.close()
  })
})
