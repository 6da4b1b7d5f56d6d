import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { createKeyward } from '../../src/index.js'
import { createSqliteStore } from '../../src/stores/sqlite/index.js'

// Two keyward instances on one SQLite file stand for two processes: one revokes, the other
// keeps its cached answer for at most the cache TTL (README "Revocation"), then refuses.
const peppers = [{ version: 1, secret: 'revocation-test-pepper-0123456789abcdef' }]
const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('how long a revoked key can still pass', () => {
  it('is immediate in the revoking process and at most cache.ttlMs in another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-revoke-'))
    dirs.push(dir)
    const path = join(dir, 'keyward.db')
    let now = Date.UTC(2026, 0, 1)
    const clock = { now: () => now }
    const storeA = createSqliteStore({ db: new Database(path) })
    await storeA.migrate()
    const storeB = createSqliteStore({ db: new Database(path) })
    const a = await createKeyward({ store: storeA, peppers, clock, cache: { ttlMs: 30_000 } })
    const b = await createKeyward({ store: storeB, peppers, clock, cache: { ttlMs: 30_000 } })
    const { key, record } = await a.createKey({ name: 'x' })
    expect((await a.verify(key)).ok).toBe(true)
    expect((await b.verify(key)).ok).toBe(true)

    await a.revokeKey(record.id)
    expect(await a.verify(key)).toMatchObject({ ok: false, code: 'key_revoked' })
    // the other process answers from its cache until the entry's TTL ends…
    now += 29_999
    expect((await b.verify(key)).ok).toBe(true)
    // …and not a millisecond longer (a real process reaches this point in a later event-loop
    // turn, which also ends the SQLite store's short read snapshot)
    now += 1
    await new Promise((resolve) => setImmediate(resolve))
    expect(await b.verify(key)).toMatchObject({ ok: false, code: 'key_revoked' })
    await Promise.all([a.close(), b.close()])
    await Promise.all([storeA.close(), storeB.close()])
  })
})
