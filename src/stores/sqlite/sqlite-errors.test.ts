import {
  closeSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { makeKey, makeSecret } from '../../../test/contract/store.js'
import { spawnTsx } from '../../../test/fixtures/spawn-tsx.js'
import { KeywardError } from '../../core/errors.js'
import { createSqliteStore, openSqliteStore } from './sqlite-store.js'

async function caught(p: Promise<unknown> | (() => unknown)): Promise<KeywardError> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (e) {
    expect(e).toBeInstanceOf(KeywardError)
    return e as KeywardError
  }
  throw new Error('expected a KeywardError, but the call succeeded')
}

function expectOneLine(e: KeywardError): void {
  expect(e.message).not.toContain('\n')
  expect(e.message).not.toMatch(/ at .*\.(ts|js):\d+/)
  expect(e.cause).toBeDefined()
}

describe('SQLite store failures on real files', () => {
  let dir: string
  let file: string

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-sqlite-errors-'))
    file = join(dir, 'keyward.db')
    const store = createSqliteStore({ db: new Database(file) })
    await store.migrate()
    const key = makeKey()
    await store.insertKey(key, makeSecret(key.id))
    await store.close()
  })
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  it('a database opened read-only still reads, and writes say it is read-only', async () => {
    // root ignores chmod 0444, so the read-only case is the driver's own read-only mode
    const store = createSqliteStore({ db: new Database(file, { readonly: true }) })
    await store.migrate()
    const page = await store.listKeys({ now: 0, limit: 10 })
    expect(page.items).toHaveLength(1)
    const e = await caught(store.setRole('ops', ['orders:read']))
    expect(e.code).toBe('store_unavailable')
    expect(e.message).toContain(file)
    expect(e.message).toMatch(/is read-only: make it and its directory writable/)
    expectOneLine(e)
    await store.close()
  })

  it('a file of garbage is store_corrupt at creation, naming the file', async () => {
    const garbage = join(dir, 'garbage.db')
    writeFileSync(garbage, Buffer.alloc(8192, 'not a database, just text. '))
    for (const readonly of [false, true]) {
      const db = new Database(garbage, { readonly })
      const e = await caught(() => createSqliteStore({ db }))
      db.close()
      expect(e.code).toBe('store_corrupt')
      expect(e.message).toBe(
        `${garbage} is not a keyward SQLite database or is corrupt: restore it from a backup`,
      )
      expectOneLine(e)
    }
  })

  it('a database with damaged pages is store_corrupt when read', async () => {
    // keep the header and schema page, overwrite everything after it
    const size = statSync(file).size
    const fd = openSync(file, 'r+')
    writeSync(fd, Buffer.alloc(size - 4096, 0xa5), 0, size - 4096, 4096)
    closeSync(fd)
    const e = await caught(async () => {
      const store = createSqliteStore({ db: new Database(file) })
      try {
        await store.listKeys({ now: 0, limit: 10 })
      } finally {
        await store.close()
      }
    })
    expect(e.code).toBe('store_corrupt')
    expect(e.message).toMatch(
      /is not a keyward SQLite database or is corrupt: restore it from a backup$/,
    )
  })

  it('a database never migrated says to run keyward migrate', async () => {
    const store = createSqliteStore({ db: new Database(join(dir, 'empty.db')) })
    const e = await caught(store.getKey('key_AAAAAAAAAAAAAAAA'))
    expect(e.code).toBe('store_unavailable')
    expect(e.message).toBe('the database has no keyward tables: run keyward migrate')
    await store.migrate()
    await expect(store.getKey('key_AAAAAAAAAAAAAAAA')).resolves.toBeNull()
    await store.close()
  })

  it('a file locked by another process is store_unavailable saying so, and reads go on', async () => {
    const holder = spawnTsx('./sqlite-lock-holder.ts', [file])
    try {
      await holder.line((l) => l === 'locked')
      // a short busy timeout keeps the test quick; the default waits 5 s before giving up
      const store = createSqliteStore({ db: new Database(file), busyTimeoutMs: 50 })
      const key = makeKey()
      const e = await caught(store.insertKey(key, makeSecret(key.id)))
      expect(e.code).toBe('store_unavailable')
      expect(e.message).toMatch(/^the database file .*keyward\.db is locked by another process/)
      expectOneLine(e)
      // WAL: readers are not blocked by the writer
      expect((await store.listKeys({ now: 0, limit: 10 })).items).toHaveLength(1)
      holder.process.stdin.end()
      await holder.exited
      await store.insertKey(key, makeSecret(key.id))
      await expect(store.getKey(key.id)).resolves.toEqual(key)
      await store.close()
    } finally {
      holder.process.stdin.end()
      await holder.exited
    }
  })

  it('a file in a directory that does not exist cannot be opened, and says what to check', async () => {
    const e = await caught(() => openSqliteStore(join(dir, 'missing', 'keyward.db')))
    expect(e.code).toBe('store_unavailable')
    expect(e.message).toMatch(/^cannot open the database file .*: check that its directory exists/)
  })

  it('a schema newer than this keyward is refused by migrate', async () => {
    const db = new Database(file)
    db.prepare('INSERT INTO keyward_migrations (version, name, applied_at) VALUES (999, ?, 0)').run(
      'future',
    )
    const store = createSqliteStore({ db })
    const e = await caught(store.migrate())
    expect(e.code).toBe('store_unavailable')
    expect(e.message).toMatch(/newer than this keyward .*: upgrade keyward$/)
    await store.close()
  })
})
