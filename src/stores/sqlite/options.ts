import type Database from 'better-sqlite3'
import { KeywardError } from '../../core/errors.js'
import { msOption, rejectUnknownOptions } from '../../core/options.js'

/** Options of `createSqliteStore`. */
export interface SqliteStoreOptions {
  /** A better-sqlite3 database the caller opened (a file path, or `:memory:` for tests). */
  db: Database.Database
  /** Prefix of every table name; must match `/^[A-Za-z_][A-Za-z0-9_]*$/`. Default `keyward_`. */
  tablePrefix?: string
  /** How long a write waits for another process's lock before failing. Default 5000. */
  busyTimeoutMs?: number
  /**
   * Bytes of the file SQLite reads through memory mapping instead of read() calls; cold
   * lookups in a large file get faster. Default 1 GiB (address space, not memory); 0 turns it off.
   */
  mmapSizeBytes?: number
  /** Close `db` when the store is closed. Default true: the store owns what it was given. */
  closeDatabase?: boolean
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
const OPTION_NAMES = new Set([
  'db',
  'tablePrefix',
  'busyTimeoutMs',
  'mmapSizeBytes',
  'closeDatabase',
])

/** The `tablePrefix` option (default `keyward_`), checked: it reaches SQL text. */
export function checkTablePrefix(value: string | undefined): string {
  const tablePrefix = value ?? 'keyward_'
  if (typeof tablePrefix !== 'string' || !IDENTIFIER.test(tablePrefix))
    throw new KeywardError(
      'invalid_options',
      `"tablePrefix" must match /^[A-Za-z_][A-Za-z0-9_]*$/, got ${JSON.stringify(tablePrefix)}`,
    )
  return tablePrefix
}

/** `createSqliteStore`'s options, checked, with their defaults. */
export function resolveOptions(options: SqliteStoreOptions): Required<SqliteStoreOptions> {
  if (options === null || typeof options !== 'object')
    throw new KeywardError('invalid_options', 'createSqliteStore needs { db }')
  rejectUnknownOptions(options, OPTION_NAMES, 'createSqliteStore')
  const { db } = options
  if (!db || typeof (db as { prepare?: unknown }).prepare !== 'function')
    throw new KeywardError(
      'invalid_options',
      '"db" must be a better-sqlite3 Database, e.g. new Database("keyward.db")',
    )
  const tablePrefix = checkTablePrefix(options.tablePrefix)
  const busyTimeoutMs = msOption(options.busyTimeoutMs, 'busyTimeoutMs', 5000, 0)
  const mmapSizeBytes = options.mmapSizeBytes ?? 1024 * 1024 * 1024
  if (!Number.isSafeInteger(mmapSizeBytes) || mmapSizeBytes < 0)
    throw new KeywardError(
      'invalid_options',
      `"mmapSizeBytes" must be a whole number >= 0, got ${mmapSizeBytes}`,
    )
  return {
    db,
    tablePrefix,
    busyTimeoutMs,
    mmapSizeBytes,
    closeDatabase: options.closeDatabase ?? true,
  }
}
