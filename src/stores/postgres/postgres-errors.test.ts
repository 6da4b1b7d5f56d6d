import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { KeywardError } from '../../core/errors.js'
import { makeKey, makeSecret } from '../../../test/contract/store.js'
import { describeWithService, uniqueName } from '../../../test/helpers/services.js'
import { describePoolTarget } from './errors.js'
import { foundKey } from '../found-key.js'
import { createPostgresStore } from './postgres-store.js'

async function caught(p: Promise<unknown> | (() => unknown)): Promise<KeywardError> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    expect(e).toBeInstanceOf(KeywardError)
    return e as KeywardError
  }
  throw new Error('expected a KeywardError, but the call succeeded')
}

describe('PostgreSQL store without a server', () => {
  it('a dead port is store_unavailable naming host:port, never the password', async () => {
    const pool = new pg.Pool({
      connectionString: 'postgres://keyward:s3cret-Passw0rd@127.0.0.1:1/keyward',
      connectionTimeoutMillis: 5000,
    })
    const store = createPostgresStore({ pool })
    for (const call of [
      () => store.migrate(),
      () => store.findByHash('x'),
      () => store.listRoles(),
    ]) {
      const e = await caught(call)
      expect(e.code).toBe('store_unavailable')
      expect(e.message).toMatch(/^cannot reach PostgreSQL at 127\.0\.0\.1:1: connection refused/)
      expect(e.message).not.toContain('s3cret')
      expect(e.message).not.toContain('\n')
      expect(e.cause).toBeDefined()
    }
    await store.close()
  })

  it('describes a pool target without credentials', () => {
    expect(describePoolTarget({ connectionString: 'postgres://u:pw@db.internal:5433/app' })).toBe(
      'db.internal:5433',
    )
    expect(
      describePoolTarget({ host: 'h', port: 6000, connectionString: 'postgres://u:pw@x/y' }),
    ).toBe('h:6000')
    expect(describePoolTarget({ connectionString: 'postgres://u:pw@[::1]/y' })).toBe('[::1]:5432')
  })

  it.each([
    ['bad-name', /"schema" must match/],
    ['x"; DROP SCHEMA public; --', /"schema" must match/],
    ['1abc', /"schema" must match/],
    ['a'.repeat(64), /at most 63 characters/],
  ])('refuses the schema name %j', (schema, message) => {
    const pool = new pg.Pool()
    expect(() => createPostgresStore({ pool, schema })).toThrow(message)
    void pool.end()
  })

  it('refuses unknown options and a pool that is not one', () => {
    const pool = new pg.Pool()
    expect(() => createPostgresStore({ pool, schmea: 'x' } as never)).toThrow(
      /unknown option "schmea"/,
    )
    expect(() => createPostgresStore({ pool: {} as never })).toThrow(/"pool" must be a pg Pool/)
    void pool.end()
  })
})

describeWithService('postgres', 'PostgreSQL store against a real server', (url) => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const f of cleanups.splice(0)) await f()
  })

  function schemaStore(schema: string, options: { closePool?: boolean } = {}) {
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    const store = createPostgresStore({ pool, schema, ...options })
    cleanups.push(() => store.close())
    return { pool, store }
  }
  function dropLater(schema: string): void {
    cleanups.push(async () => {
      const admin = new pg.Client({ connectionString: url })
      await admin.connect()
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await admin.end()
    })
  }

  it('a schema never migrated says to run keyward migrate', async () => {
    const schema = uniqueName('kw_nomig')
    const { store } = schemaStore(schema)
    const e = await caught(store.getKey('key_AAAAAAAAAAAAAAAA'))
    expect(e.code).toBe('store_unavailable')
    expect(e.message).toBe('the database has no keyward tables: run keyward migrate')
  })

  it('migrates once when many nodes migrate at the same time', async () => {
    const schema = uniqueName('kw_race')
    dropLater(schema)
    const stores = Array.from({ length: 4 }, () => schemaStore(schema).store)
    await Promise.all(stores.map((s) => s.migrate()))
    await Promise.all(stores.map((s) => s.migrate()))
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    const { rows } = await admin.query(`SELECT version FROM "${schema}".migrations ORDER BY version`)
    await admin.end()
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 5])
    await expect(stores[3]!.getKey('key_AAAAAAAAAAAAAAAA')).resolves.toBeNull()
  })

  it('refuses a schema migrated by a newer keyward', async () => {
    const schema = uniqueName('kw_newer')
    dropLater(schema)
    const { store, pool } = schemaStore(schema, { closePool: false })
    await store.migrate()
    await pool.query(`INSERT INTO "${schema}".migrations VALUES (999, 'future', 0)`)
    const e = await caught(store.migrate())
    expect(e.code).toBe('store_unavailable')
    expect(e.message).toMatch(/newer than this keyward \(5\): upgrade keyward$/)
    await pool.end()
  })

  it('returns bigint columns as numbers up to the largest safe integer', async () => {
    const schema = uniqueName('kw_bigint')
    dropLater(schema)
    const { store } = schemaStore(schema)
    await store.migrate()
    const big = Number.MAX_SAFE_INTEGER
    const key = makeKey({ createdAt: big, expiresAt: big - 1, usageCount: big - 2 })
    const secret = makeSecret(key.id, { createdAt: big, expiresAt: big })
    await store.insertKey(key, secret)
    await expect(store.findByHash(secret.hash)).resolves.toEqual(foundKey(key, secret))
  })

  it('an unknown database is store_unavailable saying so', async () => {
    const bad = new URL(url)
    bad.pathname = `/${uniqueName('no_such_db')}`
    const store = createPostgresStore({ pool: new pg.Pool({ connectionString: bad.toString() }) })
    cleanups.push(() => store.close())
    const e = await caught(store.migrate())
    expect(e.code).toBe('store_unavailable')
    expect(e.message).toMatch(/^the database named in the URL does not exist on PostgreSQL at /)
  })

  it('ends the pool on close unless told not to, and keeps an idle-error listener', async () => {
    const a = new pg.Pool({ connectionString: url })
    await createPostgresStore({ pool: a }).close()
    expect(a.ended).toBe(true)
    const b = new pg.Pool({ connectionString: url })
    const store = createPostgresStore({ pool: b, closePool: false })
    expect(b.listenerCount('error')).toBe(1)
    await store.close()
    expect(b.ended).toBe(false)
    await b.end()
  })
})
