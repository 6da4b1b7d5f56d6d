// Upgrading a database that already holds audit events (written before the hash chain): they
// stay listed, the chain starts after them (its anchor), and `audit verify` passes; new events
// chain on. SQLite from schema version 6, PostgreSQL from version 3.
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { verifyAuditChain } from '../../src/core/audit-chain.js'
import type { Store } from '../../src/core/types.js'
import { createPostgresStore } from '../../src/stores/postgres/index.js'
import { POSTGRES_MIGRATIONS } from '../../src/stores/postgres/schema.js'
import { SQLITE_MIGRATIONS } from '../../src/stores/sqlite/schema.js'
import { createSqliteStore } from '../../src/stores/sqlite/index.js'
import { describeWithService, uniqueName } from '../helpers/services.js'

const OLD_EVENTS = [
  ['evt_old0000000000001', 1_700_000_000_000, 'key.created', 'key_AAAAAAAAAAAAAAAA', 'cli', '{"name":"a"}'],
  ['evt_old0000000000002', 1_700_000_000_001, 'key.revoked', 'key_AAAAAAAAAAAAAAAA', 'cli', '{}'],
] as const

async function expectUpgraded(store: Store): Promise<void> {
  await store.migrate()
  const listed = await store.listAudit({ limit: 10 })
  expect(listed.map((e) => [e.id, e.seq, e.count, e.ip])).toEqual([
    ['evt_old0000000000002', 2, 1, null],
    ['evt_old0000000000001', 1, 1, null],
  ])
  expect(listed[1]?.details).toEqual({ name: 'a' })
  await expect(store.auditChainState()).resolves.toMatchObject({
    anchor: { seq: 2 },
    head: { seq: 2 },
  })
  await expect(verifyAuditChain(store)).resolves.toMatchObject({ ok: true, checked: 0 })
  await store.appendAudit([
    { id: 'evt_new0000000000001', at: Date.now(), action: 'key.created', keyId: null, actor: 'cli:x', details: {} },
  ])
  await expect(verifyAuditChain(store)).resolves.toMatchObject({ ok: true, checked: 1 })
  // the old events have no hashes: the chain is what follows the anchor
  const chain = await store.readAuditChain(2, 10)
  expect(chain.map((e) => [e.seq, e.prevHash])).toEqual([[3, '0'.repeat(64)]])
}

describe('upgrading an SQLite file with audit events', () => {
  it('keeps them listed, outside the chain, and chains new ones', async () => {
    const db = new Database(':memory:')
    const p = 'keyward_'
    db.exec(
      `CREATE TABLE ${p}migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
    )
    for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= 6)) {
      db.exec(m.sql(p))
      db.prepare(`INSERT INTO ${p}migrations VALUES (?, ?, 0)`).run(m.version, m.name)
    }
    const insert = db.prepare(
      `INSERT INTO ${p}audit (id, at, action, key_id, actor, details) VALUES (?, ?, ?, ?, ?, ?)`,
    )
    for (const e of OLD_EVENTS) insert.run(...e)
    await expectUpgraded(createSqliteStore({ db }))
  })
})

describeWithService('postgres', 'upgrading a PostgreSQL schema with audit events', (url) => {
  const schema = uniqueName('kw_upgrade')
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await admin.end()
  })

  it('keeps them listed, outside the chain, and chains new ones', async () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    const s = `"${schema}"`
    await pool.query(`CREATE SCHEMA ${s}`)
    await pool.query(
      `CREATE TABLE ${s}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`,
    )
    for (const m of POSTGRES_MIGRATIONS.filter((m) => m.version <= 3)) {
      await pool.query(m.sql(s))
      await pool.query(`INSERT INTO ${s}.migrations VALUES ($1, $2, 0)`, [m.version, m.name])
    }
    for (const e of OLD_EVENTS)
      await pool.query(
        `INSERT INTO ${s}.audit (id, at, action, key_id, actor, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
        [...e],
      )
    const store = createPostgresStore({ pool, schema })
    await expectUpgraded(store)
    await store.close()
  })
})
