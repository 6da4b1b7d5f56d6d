// The hooks every adapter shares (getCredential, onDenied, errorBody), the query-source
// warning, and a seed-style server switched to keyward without its callers noticing.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import type { DeniedEvent } from '../../src/http/options.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import { ADAPTERS, rawRequest, type RunningApp, startApp } from './apps.js'

const PEPPER = [{ version: 1, secret: 'test-pepper-0123456789abcdefghijklmnopqrstuvwxyz' }]

let keyward: Keyward
let key: string
const running: RunningApp[] = []

beforeAll(async () => {
  keyward = await createKeyward({ store: createMemoryStore(), peppers: PEPPER })
  key = (await keyward.createKey({ name: 'reader', scopes: ['orders:read'] })).key
})

afterAll(async () => {
  for (const app of running) await app.close()
  await keyward.close()
})

async function start(...args: Parameters<typeof startApp>): Promise<RunningApp> {
  const app = await startApp(...args)
  running.push(app)
  return app
}

/** Reads a custom header from any adapter's request object (Hono passes its Context). */
function customHeader(req: unknown): string | undefined {
  const r = req as {
    req?: { header(n: string): string | undefined }
    headers?: Record<string, string>
  }
  if (typeof r.req?.header === 'function') return r.req.header('x-custom-key')
  return r.headers?.['x-custom-key']
}

describe.each(ADAPTERS)('%s adapter hooks', (adapter) => {
  it('getCredential is asked first and falls back to the sources', async () => {
    const app = await start(adapter, { keyward, getCredential: customHeader })
    expect((await rawRequest(app.port, { headers: [['X-Custom-Key', key]] })).status).toBe(200)
    expect((await rawRequest(app.port, { headers: [['X-API-Key', key]] })).status).toBe(200)
    const bad = await rawRequest(app.port, { headers: [['X-Custom-Key', 'nope']] })
    expect(bad.status).toBe(401)
    expect(JSON.parse(bad.body).code).toBe('key_invalid')
  })

  it('getCredential may answer with a promise, and its rejection fails closed', async () => {
    const app = await start(adapter, { keyward, getCredential: async (req) => customHeader(req) })
    expect((await rawRequest(app.port, { headers: [['X-Custom-Key', key]] })).status).toBe(200)
    expect((await rawRequest(app.port, { headers: [['X-API-Key', key]] })).status).toBe(200)
    const failing = await start(adapter, {
      keyward,
      getCredential: () => Promise.reject(new Error('credential lookup failed')),
    })
    expect((await rawRequest(failing.port, { headers: [['X-API-Key', key]] })).status).toBe(500)
  })

  it('getCredential alone with sources: []', async () => {
    const app = await start(adapter, { keyward, getCredential: customHeader, sources: [] })
    const res = await rawRequest(app.port, { headers: [['X-API-Key', key]] })
    expect(res.status).toBe(401)
    expect(JSON.parse(res.body).code).toBe('key_missing')
  })

  it('onDenied sees every denial with its status, never the key', async () => {
    const events: DeniedEvent[] = []
    const app = await start(adapter, { keyward, onDenied: (e) => events.push(e) })
    await rawRequest(app.port, {})
    await rawRequest(app.port, { headers: [['X-API-Key', `${key}x`]] })
    await rawRequest(app.port, { headers: [['X-API-Key', key]] })
    expect(events.map((e) => [e.code, e.status, e.credentialPresented])).toEqual([
      ['key_missing', 401, false],
      ['key_invalid', 401, true],
    ])
    expect(JSON.stringify(events)).not.toContain(key)
  })

  it('errorBody changes the body, not the status or headers', async () => {
    const app = await start(adapter, {
      keyward,
      errorBody: (problem) => ({ error: problem.detail, code: problem.code }),
    })
    const res = await rawRequest(app.port, {})
    expect(res.status).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer realm="keyward"')
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers['content-type']).toBe('application/json')
    expect(JSON.parse(res.body)).toEqual({
      error:
        'No API key was sent. Send your API key in the X-API-Key header or as "Authorization: Bearer <key>".',
      code: 'key_missing',
    })
  })

  it('a seed-style server switches to keyward without its callers changing', async () => {
    // the recipe most services start from: read X-API-Key, look it up, 401 with a message
    const known = new Set([key])
    const seed = createServer((req, res) => {
      const sent = req.headers['x-api-key']
      res.setHeader('content-type', 'application/json')
      if (typeof sent !== 'string' || !known.has(sent)) {
        res.statusCode = 401
        res.end(JSON.stringify({ error: 'Invalid or missing API key' }))
        return
      }
      res.end(JSON.stringify({ orders: [] }))
    })
    await new Promise<void>((r) => seed.listen(0, '127.0.0.1', r))
    const seedPort = (seed.address() as AddressInfo).port
    const app = await start(adapter, { keyward, errorBody: (p) => ({ error: p.detail }) })
    // the caller: sends X-API-Key, treats 401 as "bad key" and shows body.error
    const caller = async (port: number, apiKey: string | undefined) => {
      const res = await fetch(`http://127.0.0.1:${port}/orders`, {
        headers: apiKey === undefined ? {} : { 'X-API-Key': apiKey },
      })
      const body = (await res.json()) as { error?: unknown }
      return { status: res.status, hasMessage: typeof body.error === 'string' }
    }
    for (const apiKey of [key, undefined, 'not-a-key', `${key}0`]) {
      expect(await caller(app.port, apiKey)).toEqual(await caller(seedPort, apiKey))
    }
    seed.close()
  })

  it('a throwing getCredential fails closed through the framework error path', async () => {
    const app = await start(adapter, {
      keyward,
      getCredential: () => {
        throw new Error('bug in getCredential')
      },
    })
    const res = await rawRequest(app.port, { headers: [['X-API-Key', key]] })
    expect(res.status).toBe(500)
  })

  it('warns once at start-up when the query source is on', async () => {
    const warnings: string[] = []
    await start(adapter, { keyward, sources: ['query'], logger: { warn: (m) => warnings.push(m) } })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('"api_key" query parameter')
  })
})
