// Idempotency-Key over real HTTP, on every adapter and both limiters: a constant key must not
// switch off rate limits or quotas (issue 9, hole 1), and a proper retry of the same request
// is admitted within the rate limits without spending quota (docs/http.md#idempotency-key).
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import express, { type Request } from 'express'
import Fastify, { type FastifyRequest } from 'fastify'
import { type Context, Hono } from 'hono'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type CreateKeyInput, createKeyward, type Keyward } from '../../src/core/keyward.js'
import { requireApiKey as expressApiKey } from '../../src/http/express/index.js'
import { requireApiKey as fastifyApiKey, keywardFastify } from '../../src/http/fastify/index.js'
import { requireApiKey as honoApiKey } from '../../src/http/hono/index.js'
import { requireApiKey as nodeApiKey } from '../../src/http/node/index.js'
import type { ApiKeyOptions } from '../../src/http/options.js'
import { createMemoryLimiter } from '../../src/limits/memory.js'
import { createRedisLimiter } from '../../src/limits/redis.js'
import type { Limiter } from '../../src/limits/types.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import { describeWithService, uniqueName } from '../helpers/services.js'
import { ADAPTERS, type AdapterName, type RawResponse, rawRequest } from './apps.js'

const PEPPER = [{ version: 1, secret: 'test-pepper-0123456789abcdefghijklmnopqrstuvwxyz' }]
const MINUTE = 60_000
const DAY = 86_400_000
const PATHS = ['/orders', '/invoices']

type Options = Omit<ApiKeyOptions<unknown>, 'keyward'>

interface App {
  port: number
  /** How many times a route handler ran (requests that got past keyward). */
  handled(): number
  close(): Promise<void>
}

function listening(server: Server, handled: () => number): App {
  return {
    port: (server.address() as AddressInfo).port,
    handled,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

async function listenNode(server: Server, handled: () => number): Promise<App> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return listening(server, handled)
}

/**
 * GET and POST on /orders and /invoices behind keyward, used as each framework's docs show.
 * Express parses JSON bodies first, so keyward can hash them; the others authenticate before
 * the body is read.
 */
async function startApp(adapter: AdapterName, options: ApiKeyOptions<unknown>): Promise<App> {
  let runs = 0
  const handled = () => runs
  const ok = () => {
    runs++
    return JSON.stringify({ ok: true })
  }
  switch (adapter) {
    case 'node': {
      const guard = nodeApiKey(options as ApiKeyOptions<IncomingMessage>)
      const server = createServer(async (req, res) => {
        req.resume()
        if (!PATHS.includes((req.url ?? '/').split('?')[0]!)) {
          res.statusCode = 404
          res.end()
          return
        }
        if (await guard(req, res)) res.end(ok())
      })
      return listenNode(server, handled)
    }
    case 'express': {
      const app = express()
      app.use(express.json())
      app.use(expressApiKey(options as ApiKeyOptions<Request>))
      for (const path of PATHS) {
        app.get(path, (_req, res) => void res.send(ok()))
        app.post(path, (_req, res) => void res.send(ok()))
      }
      return listenNode(createServer(app), handled)
    }
    case 'fastify': {
      const app = Fastify()
      await app.register(keywardFastify, options as ApiKeyOptions<FastifyRequest>)
      for (const path of PATHS) {
        app.get(path, async () => ok())
        app.post(path, async () => ok())
      }
      await app.listen({ port: 0, host: '127.0.0.1' })
      return {
        port: (app.server.address() as AddressInfo).port,
        handled,
        close: () => app.close(),
      }
    }
    case 'hono': {
      const app = new Hono()
      app.use('*', honoApiKey(options as ApiKeyOptions<Context>))
      for (const path of PATHS) app.on(['GET', 'POST'], path, (c) => c.body(ok()))
      const server = await new Promise<Server>((resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
          resolve(s as Server),
        ) as Server
      })
      return listening(server, handled)
    }
  }
}

/** `remaining` of every policy in a response's `RateLimit` field, by name. */
function remaining(res: RawResponse): Record<string, number> {
  const out: Record<string, number> = {}
  for (const m of String(res.headers.ratelimit).matchAll(/"([a-z]+)";r=(\d+)/g))
    out[m[1]!] = Number(m[2])
  return out
}

/** The API key and an Idempotency-Key, as request headers. */
function withKey(apiKey: string, idempotencyKey: string): [string, string][] {
  return [
    ['X-API-Key', apiKey],
    ['Idempotency-Key', idempotencyKey],
  ]
}

function expectProblem(res: RawResponse, status: number, code: string): void {
  expect(res.status).toBe(status)
  expect(res.headers['content-type']).toBe('application/problem+json')
  expect(JSON.parse(res.body)).toMatchObject({ status, code })
}

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Ctx {
  app: App
  keyward: Keyward
  key(input: Partial<CreateKeyInput>): Promise<string>
  send(
    method: string,
    path: string,
    headers: [string, string][],
    body?: unknown,
  ): Promise<RawResponse>
}

/** A keyward on a memory store with `limiter`, both closed after the test. */
async function keywardOn(limiter: Limiter): Promise<Keyward> {
  cleanups.push(() => limiter.close())
  const keyward = await createKeyward({
    store: createMemoryStore(),
    peppers: PEPPER,
    limits: { limiter },
  })
  cleanups.push(() => keyward.close())
  return keyward
}

async function setup(adapter: AdapterName, limiter: Limiter, options: Options = {}): Promise<Ctx> {
  const keyward = await keywardOn(limiter)
  const app = await startApp(adapter, { keyward, ...options })
  cleanups.push(() => app.close())
  return {
    app,
    keyward,
    key: async (input) => (await keyward.createKey({ name: 'k', ...input })).key,
    send: (method, path, headers, body) =>
      rawRequest(app.port, {
        method,
        path,
        headers: body === undefined ? headers : [...headers, ['Content-Type', 'application/json']],
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
  }
}

function adapterSuites(limiterName: string, makeLimiter: () => Limiter): void {
  describe.each(ADAPTERS)(`%s adapter, ${limiterName} limiter: Idempotency-Key`, (adapter) => {
    it('a constant Idempotency-Key switches off no limit (2/min, quota 3/day, 50 requests)', async () => {
      const { key, send, app } = await setup(adapter, makeLimiter())
      const k = await key({
        rateLimits: [{ name: 'default', limit: 2, windowMs: MINUTE }],
        quota: { limit: 3, periodMs: DAY },
      })
      const headers = withKey(k, 'constant-key')
      const plan = [
        ['POST', '/orders'],
        ['GET', '/orders'],
        ['POST', '/invoices'],
        ['GET', '/invoices'],
      ] as const
      const statuses: number[] = []
      for (let i = 0; i < 50; i++) {
        const [method, path] = plan[i % plan.length]!
        const res = await send(method, path, headers, method === 'POST' ? { n: 1 } : undefined)
        statuses.push(res.status)
        if (method === 'POST' && path === '/invoices') {
          // the key belongs to POST /orders now: another operation is refused, limits or not
          expectProblem(res, 422, 'idempotency_key_reused')
          expect(res.headers['retry-after']).toBeUndefined()
          expect(JSON.parse(res.body).detail).toMatch(/new Idempotency-Key/)
        } else if (i >= 2) expectProblem(res, 429, 'rate_limited')
      }
      // the first POST and the GET (where the header means nothing) spent the rate limit
      expect(statuses.slice(0, 2)).toEqual([200, 200])
      expect(statuses.filter((s) => s === 200)).toHaveLength(2)
      expect(app.handled()).toBe(2)
    })

    it('admits a proper retry within the rate limit without spending quota', async () => {
      const { key, send, app } = await setup(adapter, makeLimiter())
      const k = await key({
        rateLimits: [{ name: 'default', limit: 5, windowMs: MINUTE }],
        quota: { limit: 3, periodMs: DAY },
      })
      const order = withKey(k, 'order-1')
      const first = await send('POST', '/orders', order, { amount: 10 })
      expect(first.status).toBe(200)
      expect(remaining(first)).toEqual({ default: 4, quota: 2 })
      const retry = await send('POST', '/orders', order, { amount: 10 })
      expect(retry.status).toBe(200)
      expect(remaining(retry)).toEqual({ default: 3, quota: 2 })
      // a different query is a different request
      expectProblem(
        await send('POST', '/orders?draft=1', order, { amount: 10 }),
        422,
        'idempotency_key_reused',
      )
      // a different body: refused where the adapter has the body when keyward runs (Express
      // after express.json()); elsewhere the body is unknown there, and it counts as a retry
      const otherBody = await send('POST', '/orders', order, { amount: 11 })
      if (adapter === 'express') expectProblem(otherBody, 422, 'idempotency_key_reused')
      else expect(remaining(otherBody)).toEqual({ default: 2, quota: 2 })
      // on GET the header is ignored: charged like any request, never refused as a reuse
      const get = await send('GET', '/orders', order)
      expect(get.status).toBe(200)
      expect(remaining(get).quota).toBe(1)
      expect(app.handled()).toBe(adapter === 'express' ? 3 : 4)
    })

    it('honours the header on no method with idempotency: false', async () => {
      const { key, send } = await setup(adapter, makeLimiter(), { idempotency: false })
      const k = await key({ quota: { limit: 2, periodMs: DAY } })
      const order = withKey(k, 'order-1')
      expect(remaining(await send('POST', '/orders', order, { a: 1 }))).toEqual({ quota: 1 })
      expect(remaining(await send('POST', '/orders', order, { a: 1 }))).toEqual({ quota: 0 })
      expectProblem(await send('POST', '/invoices', order, { a: 1 }), 429, 'quota_exhausted')
    })
  })
}

adapterSuites('memory', () => createMemoryLimiter())

describeWithService('redis', 'Idempotency-Key over HTTP on the Redis limiter', (url) => {
  let client: Redis
  beforeAll(() => {
    client = new Redis(url)
  })
  afterAll(async () => {
    await client.quit()
  })
  adapterSuites('redis', () => createRedisLimiter({ client, keyPrefix: uniqueName('kwidem') }))
})

describe('fastify: requireApiKey as a preHandler hook sees the parsed body', () => {
  it('binds the Idempotency-Key to the body too', async () => {
    const keyward = await keywardOn(createMemoryLimiter())
    const app = Fastify()
    app.post('/orders', { preHandler: fastifyApiKey({ keyward }) }, async () => ({ ok: true }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    cleanups.push(() => app.close())
    const { key } = await keyward.createKey({ name: 'k', quota: { limit: 5, periodMs: DAY } })
    const send = (body: unknown) =>
      rawRequest((app.server.address() as AddressInfo).port, {
        method: 'POST',
        path: '/orders',
        headers: [...withKey(key, 'order-1'), ['Content-Type', 'application/json']],
        body: JSON.stringify(body),
      })
    expect((await send({ amount: 10 })).status).toBe(200)
    expect((await send({ amount: 10 })).status).toBe(200)
    expectProblem(await send({ amount: 11 }), 422, 'idempotency_key_reused')
  })
})
