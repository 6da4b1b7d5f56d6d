import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
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
