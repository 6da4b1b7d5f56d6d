// GET /metrics after real traffic on a running service: the right counts, labels from fixed
// sets only, and no secret, hash, hint or key id anywhere in the exposition.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { generateKey } from '../core/key-format.js'
import { createKeyward, type Keyward } from '../core/keyward.js'
import { createMemoryLimiter } from '../limits/memory.js'
import { createSqliteStore } from '../stores/sqlite/index.js'
import { createService, SERVICE_IMPLIED_SCOPES, type ServiceOptions } from './app.js'

const peppers = [{ version: 1, secret: 'metrics-test-pepper-0123456789abcdefghijk' }]

interface Running {
  app: FastifyInstance
  keyward: Keyward
  db: Database.Database
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function start(options: Partial<ServiceOptions> = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-metrics-'))
  const db = new Database(join(dir, 'keyward.db'))
  const store = createSqliteStore({ db })
  await store.migrate()
  const keyward = await createKeyward({
    store,
    peppers,
    impliedScopes: SERVICE_IMPLIED_SCOPES,
    limits: { limiter: createMemoryLimiter() },
    usageFlushIntervalMs: 3_600_000,
  })
  const app = await createService({ keyward, version: '9.8.7', ...options })
  cleanups.push(async () => {
    await app.close()
    // the store may have been closed by the test: its last usage flush fails then
    await keyward.close().catch(() => {})
    if (db.open) db.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { app, keyward, db }
}

/** The exposition's samples: `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line)
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`)
    out.set(m[1]!, Number(m[2]))
  }
  return out
}

async function scrape(app: FastifyInstance, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'GET', url: '/metrics', headers })
  return { res, text: res.body, values: res.statusCode === 200 ? samples(res.body) : new Map() }
}

describe('GET /metrics', () => {
  it('counts verifications, cache, limiter, store errors, requests and latency after real traffic; leaks no secret', async () => {
    const { app, keyward, db } = await start()
    const created: { key: string; id: string; hint: string }[] = []
    const make = async (input: Parameters<Keyward['createKey']>[0]) => {
      const { key, record } = await keyward.createKey(input)
      created.push({ key, id: record.id, hint: record.hint })
      return key
    }
    const admin = await make({ name: 'admin', scopes: ['admin'] })
    const verifyOnly = await make({ name: 'verifier', scopes: ['keys:verify'] })
    const limited = await make({
      name: 'limited',
      scopes: ['keys:read'],
      rateLimits: [{ name: 'default', limit: 1, windowMs: 60_000 }],
    })
    const unused = await make({ name: 'unused', scopes: ['keys:read'] })
    const unknown = generateKey()
    const get = (url: string, key?: string) =>
      app.inject({ method: 'GET', url, headers: key === undefined ? {} : { 'x-api-key': key } })

    expect((await get('/v1/keys', admin)).statusCode).toBe(200) // miss, ok
    expect((await get(`/v1/keys/${created[1]!.id}`, admin)).statusCode).toBe(200) // hit, ok
    expect((await get('/v1/keys', unknown)).statusCode).toBe(401) // miss, key_invalid
    expect((await get('/v1/keys', verifyOnly)).statusCode).toBe(403) // miss, insufficient_scope
    expect((await get('/v1/keys', limited)).statusCode).toBe(200) // miss, ok, limiter allowed
    expect((await get('/v1/keys', limited)).statusCode).toBe(429) // hit, rate_limited
    expect((await get('/v1/keys')).statusCode).toBe(401) // key_missing
    expect((await get(`/no/such/${unknown}`, admin)).statusCode).toBe(404) // hit, ok; unmatched
    expect((await get('/healthz')).statusCode).toBe(200) // open: no verification
    expect((await app.inject({ method: 'HEAD', url: '/healthz' })).statusCode).toBe(200)
    db.close() // the store goes away
    const create = await app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { 'x-api-key': admin },
      payload: { name: 'during-outage' },
    })
    expect(create.statusCode).toBe(503) // hit, ok; the store fails in the route
    expect((await get('/v1/keys', unused)).statusCode).toBe(503) // miss, store_unavailable

    const { res, text, values } = await scrape(app)
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(res.headers['cache-control']).toBe('no-store')

    const v = (name: string) => values.get(name)
    expect(v('keyward_verifications_total{code="ok"}')).toBe(5)
    expect(v('keyward_verifications_total{code="key_invalid"}')).toBe(1)
    expect(v('keyward_verifications_total{code="insufficient_scope"}')).toBe(1)
    expect(v('keyward_verifications_total{code="rate_limited"}')).toBe(1)
    expect(v('keyward_verifications_total{code="key_missing"}')).toBe(1)
    expect(v('keyward_verifications_total{code="store_unavailable"}')).toBe(1)
    expect(v('keyward_verifications_total{code="key_revoked"}')).toBe(0)
    expect(v('keyward_cache_lookups_total{result="hit"}')).toBe(4)
    expect(v('keyward_cache_lookups_total{result="miss"}')).toBe(5)
    expect(v('keyward_cache_lookups_total{result="negative_hit"}')).toBe(0)
    // admin, verifyOnly and limited are cached; the unknown key too (as unknown)
    expect(v('keyward_cache_entries{kind="key"}')).toBe(3)
    expect(v('keyward_cache_entries{kind="unknown"}')).toBe(1)
    expect(v('keyward_limiter_decisions_total{decision="allowed"}')).toBe(1)
    expect(v('keyward_limiter_decisions_total{decision="rate_limited"}')).toBe(1)
    expect(v('keyward_limiter_decisions_total{decision="quota_exhausted"}')).toBe(0)
    expect(v('keyward_limiter_degraded_total')).toBe(0)
    expect(v('keyward_store_errors_total{operation="verify"}')).toBe(1)
    expect(v('keyward_store_errors_total{operation="api"}')).toBe(1)
    expect(v('keyward_store_errors_total{operation="usage_flush"}')).toBe(0)

    const http = (method: string, route: string, status: string) =>
      v(`keyward_http_requests_total{method="${method}",route="${route}",status_class="${status}"}`)
    expect(http('GET', '/v1/keys', '2xx')).toBe(2)
    expect(http('GET', '/v1/keys', '4xx')).toBe(4)
    expect(http('GET', '/v1/keys', '5xx')).toBe(1)
    expect(http('GET', '/v1/keys/:id', '2xx')).toBe(1)
    expect(http('POST', '/v1/keys', '5xx')).toBe(1)
    expect(http('GET', '/healthz', '2xx')).toBe(1)
    expect(http('HEAD', '/healthz', '2xx')).toBe(1)
    expect(http('GET', 'unmatched', '4xx')).toBe(1)
    // this scrape is counted when its response is done: not in its own output
    expect(text).not.toContain('route="/metrics"')
    expect(
      (await scrape(app)).values.get(
        'keyward_http_requests_total{method="GET",route="/metrics",status_class="2xx"}',
      ),
    ).toBe(1)

    // authentication was timed for each authenticated call to a route, granted or denied
    expect(v('keyward_verify_duration_seconds_count{route="auth"}')).toBe(9)
    expect(v('keyward_verify_duration_seconds_bucket{route="auth",le="+Inf"}')).toBe(9)
    expect(v('keyward_verify_duration_seconds_sum{route="auth"}')).toBeGreaterThan(0)
    expect(v('keyward_verify_duration_seconds_count{route="verify_api"}')).toBe(0)
    expect(v(`keyward_build_info{version="9.8.7",node="${process.version}"}`)).toBe(1)
    expect(v('process_resident_memory_bytes')).toBeGreaterThan(0)

    // no secret, no keyed hash, no hint, no key id, whatever the traffic carried
    const hashes = created.flatMap((c) =>
      keyward.hasher.versions.map((ver) => keyward.hasher.hash(c.key, ver)),
    )
    const needles = [...created.flatMap((c) => [c.key, c.id, c.hint]), unknown, ...hashes]
    expect(needles.filter((n) => text.includes(n))).toEqual([])
    // a hint's visible ends are too short to grep alone; its 4-character tail must not be a label
    for (const c of created) expect(text).not.toContain(`"${c.hint.slice(-4)}"`)
  })

  it('times each verify API call under route="verify_api", beside the caller\'s authentication', async () => {
    const { app, keyward } = await start()
    const caller = await keyward.createKey({ name: 'svc', scopes: ['keys:verify'] })
    const target = await keyward.createKey({ name: 't' })
    for (const key of [target.key, generateKey(), target.key]) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/keys/verify',
        headers: { 'x-api-key': caller.key },
        payload: { key },
      })
      expect(res.statusCode).toBe(200)
    }
    const { values, text } = await scrape(app)
    expect(values.get('keyward_verify_duration_seconds_count{route="verify_api"}')).toBe(3)
    expect(values.get('keyward_verify_duration_seconds_count{route="auth"}')).toBe(3)
    // the caller's authentication and the verified keys: 2 valid, 1 unknown, plus 3 callers
    expect(values.get('keyward_verifications_total{code="ok"}')).toBe(5)
    expect(values.get('keyward_verifications_total{code="key_invalid"}')).toBe(1)
    expect(text).not.toContain(target.key)
  })

  it('keeps cumulative buckets: each le counts the observations at or below it', async () => {
    const { app, keyward } = await start()
    const admin = (await keyward.createKey({ name: 'x', scopes: ['keys:read'] })).key
    await app.inject({ method: 'GET', url: '/v1/keys', headers: { 'x-api-key': admin } })
    const { values } = await scrape(app)
    const buckets = [...values.entries()]
      .filter(([name]) => name.startsWith('keyward_verify_duration_seconds_bucket{route="auth"'))
      .map(([, n]) => n)
    expect(buckets.length).toBeGreaterThan(10)
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1]!)
    expect(buckets.at(-1)).toBe(1)
  })
})

describe('GET /metrics with metricsScope', () => {
  it('requires a key holding that scope; admin keys do not imply it', async () => {
    const { app, keyward } = await start({ metricsScope: 'metrics:read' })
    const scraper = (await keyward.createKey({ name: 'prometheus', scopes: ['metrics:read'] })).key
    const admin = (await keyward.createKey({ name: 'admin', scopes: ['admin'] })).key
    expect((await scrape(app)).res.statusCode).toBe(401)
    expect((await scrape(app, { authorization: `Bearer ${admin}` })).res.statusCode).toBe(403)
    const ok = await scrape(app, { authorization: `Bearer ${scraper}` })
    expect(ok.res.statusCode).toBe(200)
    expect(ok.values.get('keyward_verifications_total{code="key_missing"}')).toBe(1)
    expect(ok.text).not.toContain(scraper)
  })

  it('refuses a malformed scope at start-up', async () => {
    await expect(start({ metricsScope: 'not a scope' })).rejects.toThrow(/scope/)
  })
})
