import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { expectFeedsHearEachOther, recorder, until } from '../../../test/helpers/changes.js'
import { describeWithService, uniqueName } from '../../../test/helpers/services.js'
import { createKeyward } from '../../core/keyward.js'
import type { ChangeFeed } from '../../core/changes.js'
import type { Store } from '../../core/types.js'
import { changeChannel, createPostgresChangeFeed } from './postgres-changes.js'
import { createPostgresStore } from './postgres-store.js'

const peppers = [{ version: 1, secret: 'pg-changes-pepper-0123456789abcdefghijkl' }]

describe('changeChannel', () => {
  it('is per schema, and hashes names that would pass the 63-byte identifier limit', () => {
    expect(changeChannel('keyward')).toBe('keyward_changes_keyward')
    const long = (c: string) => `s${'x'.repeat(55)}${c}`
    expect(changeChannel(long('a')).length).toBeLessThanOrEqual(63)
    expect(changeChannel(long('a'))).not.toBe(changeChannel(long('b')))
  })
})

describeWithService('postgres', 'PostgreSQL change feed', (url) => {
  const schema = uniqueName('kw_feed')
  let pool: pg.Pool
  let store: Store
  const feeds: ChangeFeed[] = []
  const feed = (options: Partial<Parameters<typeof createPostgresChangeFeed>[0]> = {}) => {
    const f = createPostgresChangeFeed({ pool, schema, ...options })
    feeds.push(f)
    return f
  }
  /** The server process of the LISTEN connection of this schema's feeds. */
  const listenPids = async (s = schema): Promise<number[]> =>
    (
      await pool.query('SELECT pid FROM pg_stat_activity WHERE query = $1', [
        `LISTEN "${changeChannel(s)}"`,
      ])
    ).rows.map((r: { pid: number }) => r.pid)

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: url, max: 4 })
    store = createPostgresStore({ pool, schema, closePool: false })
    await store.migrate()
  })
  afterEach(async () => {
    for (const f of feeds.splice(0)) await f.close()
  })
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await pool.end()
  })

  it('tells the other feeds of the schema, not itself, nor feeds of another schema', async () => {
    await expectFeedsHearEachOther(feed(), feed(), feed({ schema: uniqueName('kw_other') }))
  })

  it('survives its LISTEN connection being terminated: while away the cache TTL bounds staleness, once back it drops the cache', async () => {
    let now = Date.UTC(2026, 0, 1)
    const clock = { now: () => now }
    const TTL = 60_000
    let away = false
    const refused = () => new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:1/x' })
    const aFeed = feed()
    const bFeed = feed({ listenClient: () => (away ? refused() : new pg.Client(pool.options)) })
    const a = await createKeyward({ store, peppers, clock, changes: aFeed })
    const rb = recorder()
    bFeed.subscribe(rb.listener)
    const b = await createKeyward({ store, peppers, clock, cache: { ttlMs: TTL }, changes: bFeed })
    await until(async () => (await listenPids()).length === 2 && rb.resets() >= 1, 'both listening')
    const pidsBefore = new Set(await listenPids())

    const one = await a.createKey({ name: 'one' })
    expect((await b.verify(one.key)).ok).toBe(true)
    // the channel is lost, and stays away: reconnecting is refused
    away = true
    await pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1', [
      `LISTEN "${changeChannel(schema)}"`,
    ])
    await until(() => rb.errors.length >= 1, 'the loss to be reported')
    expect(rb.errors[0]).toMatchObject({ code: 'store_unavailable' })

    // a's own LISTEN is gone too, but its NOTIFY works: nobody hears it
    await a.revokeKey(one.record.id)
    expect((await b.verify(one.key)).ok).toBe(true) // stale…
    now += TTL
    expect(await b.verify(one.key)).toMatchObject({ code: 'key_revoked' }) // …for at most the TTL

    const two = await a.createKey({ name: 'two' })
    expect((await b.verify(two.key)).ok).toBe(true)
    await a.revokeKey(two.record.id)
    const resetsBefore = rb.resets()
    away = false
    // b reconnects by itself (a new server process) and, having missed changes, drops its cache
    await until(() => rb.resets() > resetsBefore, 'b to listen again', 15_000)
    expect(await b.verify(two.key)).toMatchObject({ code: 'key_revoked' })
    const pidsAfter = await listenPids()
    expect(pidsAfter.some((pid) => !pidsBefore.has(pid))).toBe(true)

    // and hears changes again
    const three = await a.createKey({ name: 'three' })
    expect((await b.verify(three.key)).ok).toBe(true)
    await until(async () => (await listenPids()).length === 2, 'a to listen again', 15_000)
    await a.revokeKey(three.record.id)
    await until(
      () => rb.changes().some((c) => c.kind === 'key' && c.keyId === three.record.id),
      'b to hear the revocation',
    )
    expect(await b.verify(three.key)).toMatchObject({ code: 'key_revoked' })
    await Promise.all([a.close(), b.close()])
  }, 60_000)

  it('fails a publish with a clear error when PostgreSQL cannot be reached', async () => {
    const down = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/x' })
    down.on('error', () => {})
    const f = createPostgresChangeFeed({ pool: down, schema })
    await expect(f.publish({ kind: 'roles' })).rejects.toMatchObject({
      code: 'store_unavailable',
      message:
        'cannot reach PostgreSQL at 127.0.0.1:1: connection refused (is PostgreSQL running and listening there?)',
    })
    await f.close()
    await down.end()
  })

  it('refuses bad options, naming them', () => {
    expect(() => createPostgresChangeFeed({ pool: {} as never })).toThrow(
      /"pool" must be a pg Pool/,
    )
    expect(() => createPostgresChangeFeed({ pool, schema: 'a-b' })).toThrow(/"schema" must match/)
    expect(() => createPostgresChangeFeed({ pool, listenClient: 1 as never })).toThrow(
      /"listenClient" must be a function/,
    )
    expect(() => createPostgresChangeFeed({ pool, channel: 'x' } as never)).toThrow(
      /unknown option "channel"/,
    )
  })
})
