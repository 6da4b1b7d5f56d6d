// Node builds req.headers from the first maxHeadersCount header lines and drops the rest
// silently: a second credential past the limit must not leave the first one authenticated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeyward, type Keyward } from '../../src/core/keyward.js'
import { createMemoryStore } from '../../src/stores/memory/index.js'
import { ADAPTERS, type AdapterName, type RunningApp, rawLines, startApp } from './apps.js'

const PEPPER = [{ version: 1, secret: 'test-pepper-0123456789abcdefghijklmnopqrstuvwxyz' }]
/** Node's default: `maxHeadersCount` null leaves the parser at 2000 rawHeaders entries. */
const DEFAULT_LINES = 1000

let keyward: Keyward
let reader: string
let other: string
const apps = new Map<AdapterName, RunningApp>()

beforeAll(async () => {
  keyward = await createKeyward({ store: createMemoryStore(), peppers: PEPPER })
  reader = (await keyward.createKey({ name: 'reader', scopes: ['orders:read'] })).key
  other = (await keyward.createKey({ name: 'other', scopes: ['orders:read'] })).key
  for (const adapter of ADAPTERS) apps.set(adapter, await startApp(adapter, { keyward }))
})

afterAll(async () => {
  for (const app of apps.values()) await app.close()
  await keyward?.close()
})

/** `count` distinct short lines (short, so 2,000 of them stay under Node's 16 KiB header cap). */
function filler(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `x${i.toString(36)}:`)
}

/** A request of exactly `total` header lines: Host, Connection, `first`, filler, `last`. */
function request(total: number, first: string, last?: string): string[] {
  const fixed = ['Host: 127.0.0.1', 'Connection: close', first]
  const tail = last === undefined ? [] : [last]
  return [...fixed, ...filler(total - fixed.length - tail.length), ...tail]
}

const PAIRS: [string, (a: string, b: string) => [string, string]][] = [
  ['two X-API-Key lines', (a, b) => [`X-API-Key: ${a}`, `X-API-Key: ${b}`]],
  [
    'two Authorization lines',
    (a, b) => [`Authorization: Bearer ${a}`, `Authorization: Bearer ${b}`],
  ],
  ['X-API-Key, then Authorization', (a, b) => [`X-API-Key: ${a}`, `Authorization: Bearer ${b}`]],
]

describe.each(ADAPTERS)('%s adapter', (adapter) => {
  const app = () => apps.get(adapter)!

  it.each(PAIRS)('%s side by side: 400 key_ambiguous', async (_name, pair) => {
    const [first, second] = pair(reader, other)
    const res = await rawLines(app().port, ['Host: 127.0.0.1', 'Connection: close', first, second])
    expect(res.status).toBe(400)
    expect(JSON.parse(res.body).code).toBe('key_ambiguous')
  })

  it.each(PAIRS)('%s with 2,000 lines between: 431 headers_truncated', async (_name, pair) => {
    const [first, second] = pair(reader, other)
    const res = await rawLines(app().port, request(2004, first, second))
    expect(res.status).toBe(431)
    expect(res.headers['content-type']).toBe('application/problem+json')
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers['www-authenticate']).toBeUndefined()
    const body = JSON.parse(res.body)
    expect(body).toMatchObject({
      type: 'urn:keyward:problem:headers_truncated',
      status: 431,
      code: 'headers_truncated',
    })
    expect(body.detail).toMatch(/Send fewer headers/)
    expect(res.body).not.toContain(reader)
    expect(res.body).not.toContain(other)
  })

  it('one line under the limit: authenticated', async () => {
    const res = await rawLines(app().port, request(DEFAULT_LINES - 1, `X-API-Key: ${reader}`))
    expect(res.status).toBe(200)
  })

  it('at the limit (lines may have been dropped): 431', async () => {
    const res = await rawLines(app().port, request(DEFAULT_LINES, `X-API-Key: ${reader}`))
    expect(res.status).toBe(431)
  })

  it("follows the server's own maxHeadersCount, and 0 as no limit", async () => {
    const { server, port } = app()
    try {
      server.maxHeadersCount = 10
      expect((await rawLines(port, request(9, `X-API-Key: ${reader}`))).status).toBe(200)
      expect((await rawLines(port, request(10, `X-API-Key: ${reader}`))).status).toBe(431)
      server.maxHeadersCount = 0
      const [first, second] = PAIRS[0]![1](reader, other)
      const unlimited = await rawLines(port, request(2004, first, second))
      expect(unlimited.status).toBe(400)
      expect(JSON.parse(unlimited.body).code).toBe('key_ambiguous')
      expect((await rawLines(port, request(1500, `X-API-Key: ${reader}`))).status).toBe(200)
    } finally {
      server.maxHeadersCount = null as unknown as number
    }
  })
})
