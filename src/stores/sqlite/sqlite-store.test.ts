import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { describeStore } from '../../../test/contract/store.js'
import { createSqliteStore } from './sqlite-store.js'

describeStore('sqlite :memory:', async () => {
  const store = createSqliteStore({ db: new Database(':memory:') })
  return { store, cleanup: () => store.close() }
})

describeStore('sqlite file (WAL)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-sqlite-'))
  const store = createSqliteStore({ db: new Database(join(dir, 'keyward.db')) })
  return {
    store,
    cleanup: async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

describe('createSqliteStore', () => {
  it('sets WAL, busy_timeout, synchronous=NORMAL and foreign keys on a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-sqlite-'))
    const db = new Database(join(dir, 'keyward.db'))
    createSqliteStore({ db, busyTimeoutMs: 1234 })
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('busy_timeout', { simple: true })).toBe(1234)
    expect(db.pragma('synchronous', { simple: true })).toBe(1)
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1)
    expect(db.pragma('mmap_size', { simple: true })).toBe(1024 * 1024 * 1024)
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('records each migration once, in a versions table, under the table prefix', async () => {
    const db = new Database(':memory:')
    const store = createSqliteStore({ db, tablePrefix: 'kw2_', closeDatabase: false })
    await store.migrate()
    await store.migrate()
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all()
    expect(tables).toEqual([
      'kw2_audit',
      'kw2_keys',
      'kw2_meta',
      'kw2_migrations',
      'kw2_roles',
      'kw2_secrets',
    ])
    expect(db.prepare('SELECT version FROM kw2_migrations').pluck().all()).toEqual([1])
    await store.close()
    expect(db.open).toBe(true)
    db.close()
  })

  it('closes the database it was given unless told not to', async () => {
    const db = new Database(':memory:')
    await createSqliteStore({ db }).close()
    expect(db.open).toBe(false)
  })

  it.each([
    [{ tablePrefix: 'bad-prefix' }, /"tablePrefix" must match/],
    [{ tablePrefix: 'x; DROP TABLE y' }, /"tablePrefix" must match/],
    [{ busyTimeoutMs: -1 }, /"busyTimeoutMs" must be a whole number/],
    [{ mmapSizeBytes: 1.5 }, /"mmapSizeBytes" must be a whole number/],
    [{ tablePrefx: 'x' }, /unknown option "tablePrefx"/],
  ])('refuses bad options %j', (extra, message) => {
    const db = new Database(':memory:')
    expect(() => createSqliteStore({ db, ...extra } as never)).toThrow(message)
    db.close()
  })

  it('refuses something that is not a better-sqlite3 database', () => {
    expect(() => createSqliteStore({ db: {} as never })).toThrow(
      /"db" must be a better-sqlite3 Database/,
    )
  })
})

describe('read snapshots of lookups by hash', () => {
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

  it('see another process’s revocation from the next event-loop turn, and own writes at once', async () => {
    const { makeKey, makeSecret } = await import('../../../test/contract/store.js')
    const dir = mkdtempSync(join(tmpdir(), 'keyward-sqlite-'))
    const path = join(dir, 'keyward.db')
    const a = createSqliteStore({ db: new Database(path) })
    await a.migrate()
    const b = createSqliteStore({ db: new Database(path) })
    const key = makeKey()
    const secret = makeSecret(key.id)
    await a.insertKey(key, secret)

    expect((await b.findByHash(secret.hash))?.key.state).toBe('active')
    await a.updateKey(key.id, { state: 'revoked', revokedAt: 1, updatedAt: 1 })
    await nextTurn()
    expect((await b.findByHash(secret.hash))?.key.state).toBe('revoked')

    // a write through the same store ends its snapshot first, so the next lookup sees it
    expect((await b.findByHash(secret.hash))?.key.state).toBe('revoked')
    await b.updateKey(key.id, { state: 'active', revokedAt: null, updatedAt: 2 })
    expect((await b.findByHash(secret.hash))?.key.state).toBe('active')
    // and a snapshot never blocks the other process's writes
    await a.updateKey(key.id, { name: 'renamed', updatedAt: 3 })
    await nextTurn()
    expect((await b.findByHash(secret.hash))?.key.name).toBe('renamed')
    await a.close()
    await b.close()
    rmSync(dir, { recursive: true, force: true })
  })
})
