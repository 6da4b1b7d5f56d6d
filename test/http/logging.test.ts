// Each adapter with its usual request logger: nothing logged may contain a test key.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { serve } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { logger as honoLogger } from 'hono/logger'
import morgan from 'morgan'
import pino from 'pino'
import { pinoHttp } from 'pino-http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import { requireApiKey as expressApiKey } from '../../src/http/express/index.js'
import { keywardFastify } from '../../src/http/fastify/index.js'
import { requireApiKey as honoApiKey } from '../../src/http/hono/index.js'
import {
  createRequestRedactor,
  requireApiKey as nodeApiKey,
  redactRequest,
  redactUrl,
} from '../../src/http/node/index.js'
import type { CredentialSource } from '../../src/http/options.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import { rawRequest } from './apps.js'

const PEPPER = [{ version: 1, secret: 'test-pepper-0123456789abcdefghijklmnopqrstuvwxyz' }]
const SOURCES: CredentialSource[] = ['x-api-key', 'bearer', 'query']
const quiet = { warn() {} }

let keyward: Keyward
let good: string
let unknown: string

beforeAll(async () => {
  keyward = await createKeyward({ store: createMemoryStore(), peppers: PEPPER })
  good = (await keyward.createKey({ name: 'reader', scopes: ['orders:read'] })).key
  // a key-shaped credential that is not stored: denied requests must not leak it either
  unknown = (await keyward.createKey({ name: 'gone' })).key.replace(/^kw_live_/, 'kw_test_')
})
afterAll(() => keyward.close())

/** Collects everything a logger writes. */
function sink(): { stream: Writable; text: () => string; lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk))
      done()
    },
  })
  return { stream, lines, text: () => lines.join('') }
}

async function listen(server: Server): Promise<{ port: number; close: () => Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

/**
 * Sends the test keys every way: header, Bearer, query (the name plain and percent-encoded,
 * as the query source accepts it), and denied variants.
 */
async function exercise(port: number, param = 'api_key'): Promise<void> {
  const encoded = `%${param.charCodeAt(0).toString(16)}${param.slice(1)}`
  const statuses = [
    (await rawRequest(port, { headers: [['X-API-Key', good]] })).status,
    (await rawRequest(port, { headers: [['Authorization', `Bearer ${good}`]] })).status,
    (await rawRequest(port, { path: `/orders?${param}=${good}&page=2` })).status,
    (await rawRequest(port, { path: `/orders?${encoded}=${good}` })).status,
    (await rawRequest(port, { headers: [['X-API-Key', unknown]] })).status,
    (await rawRequest(port, { path: `/orders?${param}=${unknown}` })).status,
    (await rawRequest(port, { path: `/orders?page=1&${encoded.toUpperCase()}=${unknown}` })).status,
    (
      await rawRequest(port, {
        headers: [
          ['X-API-Key', good],
          ['X-API-Key', unknown],
        ],
      })
    ).status,
  ]
  expect(statuses).toEqual([200, 200, 200, 200, 401, 401, 401, 400])
}

function expectNoKeys(logged: string): void {
  expect(logged.length).toBeGreaterThan(0)
  expect(logged).not.toContain(good)
  expect(logged).not.toContain(unknown)
  // the secret part alone (without the prefix) must not appear either
  expect(logged).not.toContain(good.slice(8, 40))
}

describe('request logs never contain a key', () => {
  it('the check itself catches a leak: default pino-http logs the headers', async () => {
    const out = sink()
    const log = pinoHttp({ logger: pino(out.stream) })
    const guard = nodeApiKey({ keyward, sources: SOURCES, logger: quiet })
    const app = await listen(
      createServer(async (req, res) => {
        log(req, res)
        if (await guard(req, res)) res.end('ok')
      }),
    )
    await exercise(app.port)
    await app.close()
    expect(out.text()).toContain(good)
  })

  it('node:http with pino-http and redactRequest', async () => {
    const out = sink()
    const log = pinoHttp({ logger: pino(out.stream), serializers: { req: redactRequest } })
    const guard = nodeApiKey({ keyward, sources: SOURCES, logger: quiet })
    const app = await listen(
      createServer(async (req, res) => {
        log(req, res)
        if (await guard(req, res)) res.end('ok')
      }),
    )
    await exercise(app.port)
    await app.close()
    expectNoKeys(out.text())
    expect(out.text()).toContain('api_key=[REDACTED]')
    expect(out.text()).toContain('"x-api-key":"[REDACTED]"')
  })

  it('node:http with pino-http and a redactor for a custom queryParam', async () => {
    const out = sink()
    const redactor = createRequestRedactor({ queryParam: 'token' })
    const log = pinoHttp({ logger: pino(out.stream), serializers: redactor.serializers })
    const guard = nodeApiKey({ keyward, sources: SOURCES, queryParam: 'token', logger: quiet })
    const app = await listen(
      createServer(async (req, res) => {
        log(req, res)
        if (await guard(req, res)) res.end('ok')
      }),
    )
    await exercise(app.port, 'token')
    await app.close()
    expectNoKeys(out.text())
    expect(out.text()).toContain('%74oken=[REDACTED]')
  })

  it('express with pino-http and morgan', async () => {
    const pinoOut = sink()
    const morganOut = sink()
    morgan.token('url', (req) => redactUrl((req as express.Request).originalUrl ?? req.url ?? ''))
    const app = express()
    app.use(pinoHttp({ logger: pino(pinoOut.stream), serializers: { req: redactRequest } }))
    app.use(morgan('combined', { stream: morganOut.stream }))
    app.get('/orders', expressApiKey({ keyward, sources: SOURCES, logger: quiet }), (req, res) => {
      req.log.info({ keyId: req.apiKey?.id }, 'served')
      res.send('ok')
    })
    const server = await listen(createServer(app))
    await exercise(server.port)
    await server.close()
    expectNoKeys(pinoOut.text())
    expectNoKeys(morganOut.text())
    expect(morganOut.text()).toContain('/orders?api_key=[REDACTED]&page=2')
  })

  it('fastify with its built-in pino logger', async () => {
    const out = sink()
    const app = Fastify({
      logger: { level: 'info', stream: out.stream, serializers: { req: redactRequest } },
    })
    await app.register(keywardFastify, { keyward, sources: SOURCES, logger: app.log })
    app.get('/orders', async (req) => {
      req.log.info({ keyId: req.apiKey?.id }, 'served')
      return 'ok'
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    await exercise((app.server.address() as AddressInfo).port)
    await app.close()
    expectNoKeys(out.text())
    expect(out.text()).toContain('api_key=[REDACTED]')
  })

  it('hono with its logger middleware', async () => {
    const lines: string[] = []
    const app = new Hono()
    app.use(honoLogger((line) => lines.push(redactUrl(line))))
    app.get('/orders', honoApiKey({ keyward, sources: SOURCES, logger: quiet }), (c) =>
      c.text('ok'),
    )
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server
    await new Promise((r) => server.once('listening', r))
    await exercise((server.address() as AddressInfo).port)
    server.closeAllConnections()
    server.close()
    expectNoKeys(lines.join('\n'))
    expect(lines.join('\n')).toContain('api_key=[REDACTED]')
  })
})
