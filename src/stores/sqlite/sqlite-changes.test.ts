import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { expectFeedsHearEachOther, recorder, until } from '../../../test/helpers/changes.js'
import type { ChangeFeed } from '../../core/changes.js'
import { createKeyward } from '../../core/keyward.js'
import { createSqliteChangeFeed } from './sqlite-changes.js'
import { createSqliteStore } from './sqlite-store.js'

const peppers = [{ version: 1, secret: 'sqlite-changes-pepper-0123456789abcdefghi' }]
const KEY = 'key_0123456789abcdef'

describe('SQLite change feed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyward-sqlite-changes-'))
  let n = 0
  const feeds: ChangeFeed[] = []
  afterEach(async () => {
    for (const f of feeds.splice(0)) await f.close()
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  async function migrated(): Promise<string> {
    const file = join(dir, `k${n++}.db`)
    const store = createSqliteStore({ db: new Database(file) })
    await store.migrate()
    await store.close()
    return file
  }
  const feed = (file: string, extra: { retentionMs?: number } = {}) => {
    const f = createSqliteChangeFeed({ file, pollIntervalMs: 5, ...extra })
    feeds.push(f)
    return f
  }
  const rows = (file: string) => {
    const db = new Database(file)
    const count = db.prepare('SELECT count(*) FROM keyward_changes').pluck().get()
    db.close()
    return count
  }

  it('tells the other feeds on the file, not itself, nor feeds of another file', async () => {
    const file = await migrated()
    await expectFeedsHearEachOther(feed(file), feed(file), feed(await migrated()))
  })

  it('takes rows written before it listened for history', async () => {
    const file = await migrated()
    const [a, b] = [feed(file), feed(file)]
    await a.publish({ kind: 'roles' })
    const rb = recorder()
    b.subscribe(rb.listener)
    await a.publish({ kind: 'key', keyId: KEY })
    await until(() => rb.changes().length === 1, 'b to hear the second')
    expect(rb.heard).toEqual(['reset', { kind: 'key', keyId: KEY }])
  })

  it('drops the cache when rows were pruned before it read them', async () => {
    const file = await migrated()
    const [a, b] = [feed(file), feed(file)]
    const rb = recorder()
    b.subscribe(rb.listener)
    // publishing is synchronous: b cannot poll between these lines
    await a.publish({ kind: 'key', keyId: KEY })
    await a.publish({ kind: 'key', keyId: KEY })
    const db = new Database(file)
    db.prepare('DELETE FROM keyward_changes').run()
    db.close()
    await a.publish({ kind: 'roles' })
    await until(() => rb.changes().length === 1, 'b to read the last row')
    expect(rb.heard).toEqual(['reset', 'reset', { kind: 'roles' }])
  })

  it('prunes rows older than retentionMs when publishing', async () => {
    const file = await migrated()
    await feed(file).publish({ kind: 'roles' })
    await feed(file).publish({ kind: 'roles' })
    expect(rows(file)).toBe(2)
    await new Promise((resolve) => setTimeout(resolve, 5))
    await feed(file, { retentionMs: 1 }).publish({ kind: 'roles' })
    expect(rows(file)).toBe(1)
  })

  it('carries a revocation between two Keywards on the file within the poll interval', async () => {
    const file = await migrated()
    const [sa, sb] = [
      createSqliteStore({ db: new Database(file) }),
      createSqliteStore({ db: new Database(file) }),
    ]
    const a = await createKeyward({ store: sa, peppers, changes: feed(file) })
    const b = await createKeyward({
      store: sb,
      peppers,
      cache: { ttlMs: 3_600_000 },
      changes: feed(file),
    })
    const { key, record } = await a.createKey({ name: 'x' })
    expect((await b.verify(key)).ok).toBe(true)
    await a.revokeKey(record.id)
    await until(async () => !(await b.verify(key)).ok, 'b to refuse')
    expect(await b.verify(key)).toMatchObject({ code: 'key_revoked' })
    await Promise.all([a.close(), b.close()])
    await Promise.all([sa.close(), sb.close()])
  })

  it('says to migrate when the file has no change table, and reports it to the listener', async () => {
    const file = join(dir, 'bare.db')
    new Database(file).close()
    const f = feed(file)
    await expect(f.publish({ kind: 'roles' })).rejects.toMatchObject({
      code: 'store_unavailable',
      message: `${file} has no keyward_changes table yet: migrate the store first (keyward migrate, or store.migrate())`,
    })
    const r = recorder()
    f.subscribe(r.listener)
    expect(r.errors).toHaveLength(1)
    expect(r.heard).toEqual([])
  })

  it('refuses bad options, naming them', () => {
    expect(() => createSqliteChangeFeed({ file: ':memory:' })).toThrow(
      /"file" must be the path of the store's database file \(an in-memory database has no other processes to tell\)/,
    )
    expect(() => createSqliteChangeFeed({ file: 'x.db', tablePrefix: 'a-b' })).toThrow(
      /"tablePrefix" must match/,
    )
    expect(() => createSqliteChangeFeed({ file: 'x.db', pollIntervalMs: 0 })).toThrow(
      /"pollIntervalMs" must be a whole number of ms >= 1, got 0/,
    )
  })
})
