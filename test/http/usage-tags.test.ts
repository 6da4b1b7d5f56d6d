// Which tag usage analytics record per adapter: route patterns where the framework has them
// (never the URL), the per-route override on Fastify, the handler's pattern behind Hono's
// catch-all middleware, and options checked at start-up.
import Fastify from 'fastify'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import { keywardFastify, requireApiKey as fastifyApiKey } from '../../src/http/fastify/index.js'
import { requireApiKey as honoApiKey } from '../../src/http/hono/index.js'
import { requireApiKey as nodeApiKey } from '../../src/http/node/index.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import type { Store } from '../../src/stores/types.js'

const PEPPER = [{ version: 1, secret: 'usage-tags-pepper-0123456789abcdefghijklmn' }]
let store: Store
let keyward: Keyward
let key: string
let keyId: string

beforeAll(async () => {
  store = createMemoryStore()
  keyward = await createKeyward({ store, peppers: PEPPER })
  const created = await keyward.createKey({ name: 'tags' })
  key = created.key
  keyId = created.record.id
})
afterAll(() => keyward.close())

/** The key's usage per tag so far, as the store summarizes it. */
async function tagTotals(): Promise<{ tag: string; total: number }[]> {
  await keyward.verifier.flush()
  const { tags } = await store.summarizeUsage({
    keyId,
    since: 0,
    until: Date.now() + 60_000,
    stepMs: 60_000,
    tagLimit: 20,
  })
  return tags
}

/** The tags recorded so far, sorted. */
const tagsSoFar = async (): Promise<string[]> => (await tagTotals()).map((t) => t.tag).sort()

/** How many requests were counted under `tag` so far. */
const requestsTagged = async (tag: string): Promise<number> =>
  (await tagTotals()).find((t) => t.tag === tag)?.total ?? 0

describe('usage tags', () => {
  it('Fastify: the route pattern, a route’s own usageTag, and the pattern for requireApiKey', async () => {
    const app = Fastify()
    await app.register(keywardFastify, { keyward })
    app.get('/orders/:id', async () => 'ok')
    app.get('/reports/:id', { config: { keyward: { usageTag: 'reports' } } }, async () => 'ok')
    app.get('/single/:id', { onRequest: fastifyApiKey({ keyward }) }, async () => 'ok')
    const headers = { 'x-api-key': key }
    for (const url of ['/orders/1?api_key=x', '/orders/2', '/reports/3', '/single/4']) {
      expect((await app.inject({ url, headers })).statusCode).toBe(200)
    }
    // an unmatched path is authenticated too, and counted untagged
    expect((await app.inject({ url: '/nowhere', headers })).statusCode).toBe(404)
    expect(await tagsSoFar()).toEqual(['', '/orders/:id', '/single/:id', 'reports'])
    await app.close()
  })

  it('Hono: behind app.use("*"), the pattern of the route that answers', async () => {
    const before = await tagsSoFar()
    const app = new Hono()
    app.use('*', honoApiKey({ keyward }))
    app.get('/parcels/:id', (c) => c.text('ok'))
    const res = await app.request('/parcels/9?x=1', { headers: { 'x-api-key': key } })
    expect(res.status).toBe(200)
    expect((await tagsSoFar()).filter((t) => !before.includes(t))).toEqual(['/parcels/:id'])
  })

  it('Hono: the pattern the middleware was registered with, a prefix wildcard’s answering route', async () => {
    const before = await tagsSoFar()
    const app = new Hono()
    app.use('/api/*', honoApiKey({ keyward }))
    app.get('/api/items/:id', (c) => c.text('ok'))
    app.use('/v1/:resource', honoApiKey({ keyward }))
    app.get('/v1/orders', (c) => c.text('ok'))
    for (const url of ['/api/items/7', '/v1/orders']) {
      const res = await app.request(url, { headers: { 'x-api-key': key } })
      expect(res.status).toBe(200)
    }
    expect((await tagsSoFar()).filter((t) => !before.includes(t))).toEqual([
      '/api/items/:id',
      '/v1/:resource',
    ])
  })

  it('Fastify: a route’s own requireApiKey keeps its usageTag under the plugin; a not-found hook tags ""', async () => {
    const before = await tagsSoFar()
    const app = Fastify()
    await app.register(keywardFastify, { keyward })
    app.get(
      '/bill/:id',
      { onRequest: fastifyApiKey({ keyward, usageTag: 'billing' }) },
      async () => 'ok',
    )
    const headers = { 'x-api-key': key }
    expect((await app.inject({ url: '/bill/1', headers })).statusCode).toBe(200)
    expect((await tagsSoFar()).filter((t) => !before.includes(t))).toEqual(['billing'])
    // the automatic HEAD route keeps the route's own hook and its tag
    const billed = await requestsTagged('billing')
    expect((await app.inject({ method: 'HEAD', url: '/bill/2', headers })).statusCode).toBe(200)
    expect(await requestsTagged('billing')).toBe(billed + 1)
    await app.close()

    // requireApiKey without the plugin: the matched route's pattern
    const solo = Fastify()
    solo.get('/solo/:id', { onRequest: fastifyApiKey({ keyward }) }, async () => 'ok')
    expect((await solo.inject({ url: '/solo/5', headers })).statusCode).toBe(200)
    expect(await requestsTagged('/solo/:id')).toBe(1)
    await solo.close()

    // routeOptions.url is undefined for a request no route matched: counted untagged
    const other = Fastify()
    other.setNotFoundHandler({ preHandler: fastifyApiKey({ keyward }) as never }, (_req, reply) =>
      reply.code(404).send('none'),
    )
    const untagged = await requestsTagged('')
    expect((await other.inject({ url: '/gone', headers })).statusCode).toBe(404)
    expect(await requestsTagged('')).toBe(untagged + 1)
    await other.close()
  })

  it('refuses a fixed usageTag that is not a name or a pattern, naming it', () => {
    expect(() => nodeApiKey({ keyward, usageTag: '/orders?api_key=1' })).toThrow(
      '"usageTag" must be a route pattern or a name of 1-128 printable ASCII characters without "?"',
    )
    expect(() => nodeApiKey({ keyward, usageTag: 42 as never })).toThrow(
      '"usageTag" must be a function, got number',
    )
  })

  it('refuses a bad per-route usageTag on Fastify when the route is added', async () => {
    const app = Fastify()
    await app.register(keywardFastify, { keyward })
    expect(() =>
      app.get('/x', { config: { keyward: { usageTag: 'a'.repeat(200) } } }, async () => 'ok'),
    ).toThrow('route GET /x config "keyward.usageTag" must be a route pattern')
    await app.close().catch(() => {})
  })
})
