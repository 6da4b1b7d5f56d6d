// Rotation is one transaction: two processes rotating one key at the same time leave exactly one
// live secret per successful rotation chain, the loser gets store_conflict, and the audit chain
// stays one valid line. On SQLite (two processes on one file) and PostgreSQL (two processes,
// each with its own connections). Also: edits, deletions and reorderings of the stored chain
// are caught by `audit verify`, even after pruning.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { verifyAuditChain } from '../../src/core/audit-chain.js'
import { createKeyward } from '../../src/core/keyward.js'
import type { Store } from '../../src/core/types.js'
import { createPostgresStore } from '../../src/stores/postgres/index.js'
import { createSqliteStore } from '../../src/stores/sqlite/index.js'
import { spawnTsx } from '../fixtures/spawn-tsx.js'
import { describeWithService, uniqueName } from '../helpers/services.js'

const peppers = [{ version: 1, secret: 'rotation-race-test-pepper-0123456789abcdef' }]
const ROUNDS = 25

interface Report {
  first: string
  rounds: string[]
}

/** Creates a key, races two processes rotating it, and checks what is stored afterwards. */
async function race(store: Store, target: string, schema: string): Promise<void> {
  await store.migrate()
  const keyward = await createKeyward({ store, peppers, cache: false })
  const { record } = await keyward.createKey({ name: 'raced' })
  const children = ['racer:a', 'racer:b'].map((actor) =>
    spawnTsx('./rotation-racer.ts', [target, schema, record.id, record.hint, String(ROUNDS), actor]),
  )
  await Promise.all(children.map((c) => c.line((l) => l === 'ready')))
  for (const c of children) c.process.stdin.end('go\n')
  const reports = await Promise.all(
    children.map(async (c) => {
      const line = await c.line((l) => l.startsWith('{'))
      expect(await c.exited, c.stderr()).toBe(0)
      return JSON.parse(line) as Report
    }),
  )
  // from the same hint, exactly one wins and the other is told it lost
  expect(reports.map((r) => r.first).sort()).toEqual(['ok', 'store_conflict'])
  const outcomes = reports.flatMap((r) => [r.first, ...r.rounds])
  expect(outcomes.every((o) => o === 'ok' || o === 'store_conflict'), outcomes.join()).toBe(true)
  const successes = outcomes.filter((o) => o === 'ok').length
  const secrets = await store.listSecrets(record.id)
  // one secret per successful rotation, plus the first; exactly one without an end
  expect(secrets).toHaveLength(1 + successes)
  expect(secrets.filter((s) => s.expiresAt === null)).toHaveLength(1)
  const key = await store.getKey(record.id)
  expect(key?.hint).toBe(secrets.find((s) => s.expiresAt === null)?.hint)
  const rotated = await keyward.audit.page({ keyId: record.id, type: 'key.rotated', limit: 1000 })
  expect(rotated.items).toHaveLength(successes)
  await expect(verifyAuditChain(store)).resolves.toMatchObject({ ok: true })
  await keyward.close()
}

/** Breaks the stored chain with raw SQL in four ways; `audit verify` names each. */
async function tamper(
  store: Store,
  sql: (text: string, params?: unknown[]) => Promise<void>,
  table: string,
): Promise<void> {
  await store.migrate()
  const keyward = await createKeyward({ store, peppers, cache: false })
  for (let i = 0; i < 6; i++) await keyward.createKey({ name: `k${i}`, actor: 'cli:test' })
  await expect(keyward.audit.verify()).resolves.toMatchObject({ ok: true, checked: 6 })

  // edit: a field of event 3
  await sql(`UPDATE ${table} SET actor = 'cli:someone-else' WHERE seq = 3`)
  let report = await keyward.audit.verify()
  expect(report.break).toMatchObject({ kind: 'edited', seq: 3 })
  expect(report.break?.message).toMatch(/^event seq 3 \(evt_\w+\) was edited/)
  await sql(`UPDATE ${table} SET actor = 'cli:test' WHERE seq = 3`)
  await expect(keyward.audit.verify()).resolves.toMatchObject({ ok: true })

  // reorder: events 4 and 5 swap places
  await sql(`UPDATE ${table} SET seq = -4 WHERE seq = 4`)
  await sql(`UPDATE ${table} SET seq = 4 WHERE seq = 5`)
  await sql(`UPDATE ${table} SET seq = 5 WHERE seq = -4`)
  report = await keyward.audit.verify()
  expect(report.break).toMatchObject({ kind: 'moved', seq: 4 })
  await sql(`UPDATE ${table} SET seq = -4 WHERE seq = 4`)
  await sql(`UPDATE ${table} SET seq = 4 WHERE seq = 5`)
  await sql(`UPDATE ${table} SET seq = 5 WHERE seq = -4`)
  await expect(keyward.audit.verify()).resolves.toMatchObject({ ok: true })

  // prune the two oldest: still verifiable from the anchor
  await expect(store.pruneAudit(Date.now() + 1, 2)).resolves.toBe(2)
  await expect(keyward.audit.verify()).resolves.toMatchObject({ ok: true, checked: 4 })

  // delete: event 4 in the middle
  await sql(`DELETE FROM ${table} WHERE seq = 4`)
  report = await keyward.audit.verify()
  expect(report.break).toMatchObject({ kind: 'deleted', seq: 4 })
  expect(report.break?.message).toContain('seq 4 is missing')

  // delete: the newest one too (the head remembers it)
  await sql(`DELETE FROM ${table} WHERE seq > 3`)
  report = await keyward.audit.verify()
  expect(report.break).toMatchObject({ kind: 'deleted', seq: 4 })
  expect(report.break?.message).toContain('the newest events were deleted')
  await keyward.close()
}

describe('rotation race and chain tampering on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-rotation-race-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('two processes rotating one key: one live secret, conflicts for the losers', async () => {
    const file = join(dir, 'race.db')
    await race(createSqliteStore({ db: new Database(file) }), file, '-')
  })

  it('names the first deleted, edited or reordered event', async () => {
    const db = new Database(join(dir, 'tamper.db'))
    const store = createSqliteStore({ db, closeDatabase: false })
    await tamper(store, async (text) => void db.prepare(text).run(), 'keyward_audit')
    await store.close()
    db.close()
  })
})

describeWithService('postgres', 'rotation race and chain tampering on PostgreSQL', (url) => {
  const schemas: string[] = []
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
    await admin.end()
  })
  const open = () => {
    const schema = uniqueName('kw_race')
    schemas.push(schema)
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    return { schema, pool, store: createPostgresStore({ pool, schema }) }
  }

  it('two processes rotating one key: one live secret, conflicts for the losers', async () => {
    const { schema, store } = open()
    await race(store, url, schema)
    await store.close()
  })

  it('names the first deleted, edited or reordered event', async () => {
    const { schema, pool, store } = open()
    await tamper(store, async (text) => void (await pool.query(text)), `"${schema}".audit`)
    await store.close()
  })
})
