import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { describeStore, makeKey, makeSecret } from '../../../test/contract/store.js'
import { hashSlot, SQLITE_MIGRATIONS, slotSql } from './schema.js'
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
      'kw2_audit_chain',
      'kw2_changes',
      'kw2_keys',
      'kw2_lookup',
      'kw2_meta',
      'kw2_migrations',
      'kw2_policies',
      'kw2_roles',
      'kw2_secrets',
      'kw2_signing_keys',
      'kw2_usage',
      // SQLite's own, for the change table's AUTOINCREMENT
      'sqlite_sequence',
    ])
    expect(db.prepare('SELECT version FROM kw2_migrations').pluck().all()).toEqual(
      SQLITE_MIGRATIONS.map((m) => m.version),
    )
    await store.close()
    expect(db.open).toBe(true)
    db.close()
  })

  it('lists by state, prefix and expiry through indexes, newest first without a sort', async () => {
    const db = new Database(':memory:')
    const store = createSqliteStore({ db, closeDatabase: false })
    await store.migrate()
    const plan = (where: string) =>
      (
        db
          .prepare(
            `EXPLAIN QUERY PLAN SELECT * FROM keyward_keys WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT 10`,
          )
          .all() as { detail: string }[]
      )
        .map((r) => r.detail)
        .join('; ')
    expect(plan("state = 'revoked'")).toMatch(/USING INDEX keyward_keys_state_created/)
    expect(plan("state = 'revoked'")).not.toMatch(/TEMP B-TREE/)
    expect(plan("prefix = 'kw_test'")).toMatch(/USING INDEX keyward_keys_prefix_created/)
    expect(plan('expires_at > 1 AND expires_at < 2')).toMatch(/USING INDEX keyward_keys_expires/)
    await store.close()
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

describe('a lookup in a snapshot an earlier lookup began', () => {
  it('finds a key another process created after the snapshot began, in the same turn', async () => {
    const { makeKey, makeSecret } = await import('../../../test/contract/store.js')
    const dir = mkdtempSync(join(tmpdir(), 'keyward-sqlite-'))
    const path = join(dir, 'keyward.db')
    const a = createSqliteStore({ db: new Database(path) })
    await a.migrate()
    const b = createSqliteStore({ db: new Database(path) })
    const before = makeKey()
    const beforeSecret = makeSecret(before.id)
    await a.insertKey(before, beforeSecret)
    const created = makeKey()
    const createdSecret = makeSecret(created.id)
    // no await between the calls: all three run in this turn, the first lookup begins b's snapshot
    const first = b.findByHash(beforeSecret.hash)
    const insert = a.insertKey(created, createdSecret)
    const second = b.findByHash(createdSecret.hash)
    await insert
    expect((await first)?.key.id).toBe(before.id)
    expect((await second)?.key.id).toBe(created.id)
    await a.close()
    await b.close()
    rmSync(dir, { recursive: true, force: true })
  })
})

describe('the lookup table (cold verification reads one integer-keyed row)', () => {
  /** A hash that shares its first 11 characters (its slot) with `base`. */
  const sameSlot = (base: string, i: number) =>
    base.slice(0, 11) + randomBytes(32).toString('base64url').slice(11, 42) + 'ABCDEFGH'[i]

  it('computes the same slot in TypeScript and in SQL, for any string', () => {
    const db = new Database(':memory:')
    const sql = db.prepare(`SELECT ${slotSql('h.v')} FROM (SELECT ? AS v) h`).pluck()
    const samples = [
      ...Array.from({ length: 200 }, () => randomBytes(32).toString('base64url')),
      '',
      'a',
      '__________________',
      '-----------',
      'AAAAAAAAAAA',
      'hash with spaces and ünïcödé',
      '!!!!!!!!!!!!!!!!!!',
      'short',
    ]
    for (const hash of samples) expect(sql.get(hash), hash).toBe(hashSlot(hash))
    // the slot is the hash's first 52 bits: 13 hex digits of the decoded bytes
    for (const hash of samples.slice(0, 200))
      expect(hashSlot(hash)).toBe(
        Number.parseInt(Buffer.from(hash, 'base64url').toString('hex').slice(0, 13), 16),
      )
    db.close()
  })

  it('finds every secret when several share a slot, and refuses a fifth with a clear conflict', async () => {
    const store = createSqliteStore({ db: new Database(':memory:') })
    await store.migrate()
    const base = randomBytes(32).toString('base64url')
    const keys = Array.from({ length: 4 }, (_, i) => {
      const key = makeKey({ name: `k${i}` })
      return { key, secret: makeSecret(key.id, { hash: sameSlot(base, i) }) }
    })
    for (const { key, secret } of keys) await store.insertKey(key, secret)
    for (const { key, secret } of keys)
      expect((await store.findByHash(secret.hash))?.key.name).toBe(key.name)
    expect(await store.findByHash(sameSlot(base, 5))).toBeNull()

    const fifth = makeKey()
    await expect(
      store.insertKey(fifth, makeSecret(fifth.id, { hash: sameSlot(base, 6) })),
    ).rejects.toMatchObject({
      code: 'store_conflict',
      message: expect.stringMatching(
        /^4 stored secrets share the first 52 bits .*use another secret/,
      ),
    })
    // nothing of the refused key was kept
    expect(await store.getKey(fifth.id)).toBeNull()
    await store.close()
  })

  it('fills itself from the keys of a version 1 database, colliding slots included', async () => {
    const db = new Database(':memory:')
    const p = 'keyward_'
    db.exec(
      `CREATE TABLE ${p}migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
    )
    db.exec(SQLITE_MIGRATIONS[0]!.sql(p))
    db.prepare(`INSERT INTO ${p}migrations VALUES (1, 'v1', 0)`).run()
    const base = randomBytes(32).toString('base64url')
    const rows = [
      ...Array.from({ length: 3 }, (_, i) => sameSlot(base, i)),
      randomBytes(32).toString('base64url'),
    ].map((hash, i) => {
      const key = makeKey({
        name: `old-${i}`,
        scopes: ['orders:read'],
        state: i === 3 ? 'revoked' : 'active',
      })
      return { key, secret: makeSecret(key.id, { hash, expiresAt: i === 2 ? 5000 : null }) }
    })
    // what a version 1 keyward wrote: keys and secrets only
    for (const { key, secret } of rows) {
      db.prepare(
        `INSERT INTO ${p}keys (id, name, owner_id, prefix, hint, scopes, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        key.id,
        key.name,
        key.ownerId,
        key.prefix,
        key.hint,
        JSON.stringify(key.scopes),
        key.state,
        1,
        1,
      )
      db.prepare(
        `INSERT INTO ${p}secrets (hash, key_id, pepper_version, hint, created_at, expires_at) VALUES (?, ?, 1, ?, 1, ?)`,
      ).run(secret.hash, key.id, secret.hint, secret.expiresAt)
    }
    const store = createSqliteStore({ db })
    await store.migrate()
    for (const [i, { key, secret }] of rows.entries()) {
      const found = await store.findByHash(secret.hash)
      expect(found?.key).toMatchObject({
        id: key.id,
        name: `old-${i}`,
        scopes: ['orders:read'],
        state: key.state,
      })
      expect(found?.secret.expiresAt).toBe(i === 2 ? 5000 : null)
    }
    await store.close()
  })

  it('follows every change of a key or a secret, and forgets deleted rows', async () => {
    const db = new Database(':memory:')
    const store = createSqliteStore({ db, closeDatabase: false })
    await store.migrate()
    const key = makeKey({ scopes: ['a:read'] })
    const first = makeSecret(key.id)
    await store.insertKey(key, first)
    const changed = {
      name: 'renamed',
      ownerId: 'svc:new',
      scopes: ['b:write'],
      roles: ['reader'],
      rateLimits: [{ name: 'default', limit: 5, windowMs: 60_000 }],
      quota: { limit: 100, periodMs: 86_400_000 },
      metadata: { team: 'x' },
      ipAllowlist: ['10.0.0.0/8'],
      state: 'disabled' as const,
      expiresAt: 9000,
    }
    await store.updateKey(key.id, { ...changed, updatedAt: 2 })
    const second = makeSecret(key.id)
    await store.rotateSecret({
      secret: second,
      previousExpireAt: 7000,
      expectHint: key.hint,
      now: 3,
      audit: () => [],
    })
    const found = await store.findByHash(first.hash)
    expect(found?.key).toEqual({ id: key.id, prefix: key.prefix, ...changed })
    expect(found?.secret.expiresAt).toBe(7000)
    expect((await store.findByHash(second.hash))?.key.name).toBe('renamed')

    // rows deleted by hand (or by a cascade from keys) leave no lookup behind
    db.prepare('DELETE FROM keyward_keys WHERE id = ?').run(key.id)
    expect(await store.findByHash(first.hash)).toBeNull()
    expect(await store.findByHash(second.hash)).toBeNull()
    expect(db.prepare('SELECT count(*) FROM keyward_lookup').pluck().get()).toBe(0)
    await store.close()
    db.close()
  })
})
