// The store goes away: every route that needs it answers 503 with Retry-After (never 401, which
// would make callers throw good keys away), the service recovers by itself when the store
// returns, and a create cut off half-way leaves nothing behind. PostgreSQL is made unreachable
// through a TCP proxy the test controls; the shared server itself is never stopped.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateKey } from '../core/key-format.js'
import { createMemoryStore } from '../stores/memory/index.js'
import { createPostgresStore } from '../stores/postgres/index.js'
import { createSqliteStore } from '../stores/sqlite/index.js'
import type { Store } from '../stores/types.js'
import { startTcpProxy, type TcpProxy } from '../../test/fixtures/tcp-proxy.js'
import { describeWithService, uniqueName } from '../../test/helpers/services.js'
import { registeredRoutes, startService, type TestService } from '../../test/helpers/service.js'

// open routes, and the dashboard's session routes, which read no store once the key is verified
const OPEN = /^\/(docs(\/.*)?|openapi\.json|healthz|readyz|metrics|dashboard(\/.*)?)$/

/** A request for every route that needs the store, with a body its schema accepts. */
function storeRoutes(svc: TestService, keyId: string): [string, string, unknown][] {
  const unknownKey = generateKey({ prefix: 'kw_live' })
  svc.secrets.add(unknownKey)
  const bodies: Record<string, unknown> = {
    'POST /v1/keys': { name: 'during outage' },
    'PATCH /v1/keys/:id': { name: 'renamed' },
    'PUT /v1/roles/:name': { scopes: ['a:b'] },
    'PUT /v1/policy': { maxAge: '90d' },
    // a key not in the cache, so that the store must be asked
    'POST /v1/keys/verify': { key: unknownKey },
  }
  return registeredRoutes(svc.app)
    .filter(([, path]) => !OPEN.test(path))
    .map(([method, path]) => [
      method,
      path.replace(':id', keyId).replace(':name', 'reader'),
      bodies[`${method} ${path}`],
    ])
}

/** Every store route answers 503 store_unavailable with Retry-After, for the caller `key`. */
async function expectAllUnavailable(svc: TestService, key: string, keyId: string) {
  const routes = storeRoutes(svc, keyId)
  expect(routes.length).toBeGreaterThanOrEqual(14)
  for (const [method, path, body] of routes) {
    const res = await svc.call(method, path, { key, body })
    expect({ route: `${method} ${path}`, status: res.status }).toEqual({
      route: `${method} ${path}`,
      status: 503,
    })
    expect(res.headers.get('retry-after')).toBe('5')
    if (method === 'HEAD') continue
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.body.code).toBe('store_unavailable')
    // the driver's error (hosts, ports, SQL) stays in the logs
    expect(res.text).not.toMatch(/127\.0\.0\.1|ECONN|SQLITE|INSERT|SELECT/)
  }
}

async function expectOpenRoutes(svc: TestService) {
  expect((await svc.call('GET', '/healthz', { key: null })).status).toBe(200)
  const ready = await svc.call('GET', '/readyz', { key: null })
  expect(ready.status).toBe(503)
  expect(ready.body.failed).toEqual(['store'])
  expect((await svc.call('GET', '/openapi.json', { key: null })).status).toBe(200)
}

const CLOSED_STORES: [string, () => { store: Store; cleanup(): void }][] = [
  ['memory', () => ({ store: createMemoryStore(), cleanup: () => {} })],
  [
    'sqlite file',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'keyward-outage-'))
      const store = createSqliteStore({ db: new Database(join(dir, 'keyward.db')) })
      return { store, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
    },
  ],
]

describe.each(CLOSED_STORES)('a closed %s store', (_name, make) => {
  let svc: TestService
  let cleanup: () => void
  beforeAll(async () => {
    const made = make()
    cleanup = made.cleanup
    svc = await startService({ store: made.store })
  })
  afterAll(async () => {
    await svc.close()
    cleanup()
  })
  afterEach(() => svc.expectNoSecretLeaked())

  it('503 with Retry-After on every route, for a cached and an uncached admin key', async () => {
    const { id } = await svc.createKey({ name: 'target' })
    const cold = await svc.createKey({ name: 'cold admin', scopes: ['admin'] })
    // the admin key is verified once, so it is in the cache: the routes themselves meet the
    // closed store; the cold key meets it while being verified
    expect((await svc.call('GET', '/v1/roles')).status).toBe(200)
    await svc.store.close()
    await expectAllUnavailable(svc, svc.adminKey, id)
    await expectAllUnavailable(svc, cold.key, id)
    await expectOpenRoutes(svc)
  })
})

describeWithService('postgres', 'PostgreSQL behind a proxy that the test cuts', (url) => {
  let proxy: TcpProxy
  let svc: TestService
  let pool: pg.Pool
  const schema = uniqueName('kw_outage')

  beforeAll(async () => {
    const target = new URL(url)
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    const proxied = new URL(url)
    proxied.host = `127.0.0.1:${proxy.port}`
    pool = new pg.Pool({ connectionString: proxied.toString(), max: 4 })
    svc = await startService({ store: createPostgresStore({ pool, schema }) })
  })
  afterAll(async () => {
    proxy?.restore()
    await svc?.close()
    await proxy?.close()
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await admin.end()
  })
  afterEach(() => svc.expectNoSecretLeaked())

  it('503 with Retry-After on every route while cut; recovers by itself when restored', async () => {
    const { id, key } = await svc.createKey({ name: 'target' })
    const cold = await svc.createKey({ name: 'cold admin', scopes: ['admin'] })
    expect((await svc.call('GET', '/v1/roles')).status).toBe(200)
    const listed = await svc.call('GET', '/v1/keys')
    expect(listed.status).toBe(200)

    proxy.cut()
    await expectAllUnavailable(svc, svc.adminKey, id)
    await expectAllUnavailable(svc, cold.key, id)
    await expectOpenRoutes(svc)

    proxy.restore()
    // no restart, no reconnect call: the next requests simply work
    expect((await svc.call('GET', '/readyz', { key: null })).status).toBe(200)
    const again = await svc.call('GET', '/v1/keys')
    expect(again.status).toBe(200)
    expect(again.body.items.map((k: { id: string }) => k.id)).toEqual(
      listed.body.items.map((k: { id: string }) => k.id),
    )
    expect((await svc.call('GET', '/v1/roles', { key: cold.key })).status).toBe(200)
    expect((await svc.call('POST', '/v1/keys/verify', { key: svc.verifyKey, body: { key } })).body)
      .toMatchObject({ valid: true, keyId: id })
    const created = await svc.call('POST', '/v1/keys', { body: { name: 'after' } })
    expect(created.status).toBe(201)
  })

  it('a create cut off between its two inserts leaves no key and no secret behind', async () => {
    const count = async (table: string) => {
      const direct = new pg.Client({ connectionString: url })
      await direct.connect()
      try {
        const { rows } = await direct.query(`SELECT count(*)::int AS n FROM "${schema}".${table}`)
        return rows[0].n as number
      } finally {
        await direct.end()
      }
    }
    const before = { keys: await count('keys'), secrets: await count('secrets') }
    // the key row is written, then the connection dies as the secret's INSERT goes out
    proxy.dropWhen((chunk) => {
      const text = chunk.toString('latin1')
      return text.includes('INSERT INTO') && text.includes(`"${schema}".secrets (`)
    })
    const res = await svc.call('POST', '/v1/keys', { body: { name: 'half', owner: 'svc:half' } })
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
    expect(res.body.code).toBe('store_unavailable')
    expect({ keys: await count('keys'), secrets: await count('secrets') }).toEqual(before)
    const listed = await svc.call('GET', '/v1/keys?owner=svc:half')
    expect(listed.body.items).toEqual([])
    // and the same create goes through on the next try
    const retried = await svc.call('POST', '/v1/keys', { body: { name: 'half', owner: 'svc:half' } })
    expect(retried.status).toBe(201)
    expect({ keys: await count('keys'), secrets: await count('secrets') }).toEqual({
      keys: before.keys + 1,
      secrets: before.secrets + 1,
    })
  })
})
