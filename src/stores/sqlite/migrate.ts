import type Database from 'better-sqlite3'
import { KeywardError } from '../../core/errors.js'
import { SQLITE_MIGRATIONS } from './schema.js'

const LATEST = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]!.version

/**
 * Applies the migrations `db` lacks, for tables prefixed `p`. A read-only file that is
 * already migrated is fine for verify-only use.
 *
 * @throws KeywardError `store_unavailable` when `file` has a newer schema than this keyward;
 * driver errors as they are (the store's guard maps them)
 */
export function migrateSqlite(db: Database.Database, p: string, file: string): void {
  try {
    migrateOnce(db, p, file)
  } catch (e) {
    if (db.readonly && String((e as { code?: unknown }).code).startsWith('SQLITE_READONLY')) {
      const current = db.prepare(`SELECT max(version) FROM ${p}migrations`).pluck().get()
      if (current === LATEST) return
    }
    throw e
  }
}

function migrateOnce(db: Database.Database, p: string, file: string): void {
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${p}migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
  )
  const current =
    (db.prepare(`SELECT max(version) FROM ${p}migrations`).pluck().get() as number | null) ?? 0
  if (current > LATEST)
    throw new KeywardError(
      'store_unavailable',
      `${file} has keyward schema version ${current}, newer than this keyward (${LATEST}): upgrade keyward`,
    )
  for (const m of SQLITE_MIGRATIONS) {
    // Each migration is its own immediate transaction: a second process migrating at the
    // same time waits, then sees the version recorded and skips it.
    db.transaction(() => {
      const done = db.prepare(`SELECT 1 FROM ${p}migrations WHERE version = ?`).get(m.version)
      if (done !== undefined) return
      db.exec(m.sql(p))
      db.prepare(`INSERT INTO ${p}migrations (version, name, applied_at) VALUES (?, ?, ?)`).run(
        m.version,
        m.name,
        Date.now(),
      )
    }).immediate()
  }
}
