import { basename } from 'node:path'
import { KeywardError } from '../../core/errors.js'
import { NOT_MIGRATED } from '../messages.js'

function describeFile(file: string): string {
  return file === ':memory:' || file === '' ? 'the in-memory SQLite database' : file
}

/**
 * Turns a better-sqlite3 (or file system) error into a `KeywardError` with one clear line
 * and the driver error as `cause`. `conflict` is the message for a unique violation, which
 * only the caller can phrase (key id or secret).
 *
 * @example
 * try { new Database(path) } catch (e) { throw toSqliteKeywardError(e, path) }
 */
export function toSqliteKeywardError(
  error: unknown,
  file: string,
  conflict = 'this record already exists',
): KeywardError {
  if (error instanceof KeywardError) return error
  const code = String((error as { code?: unknown } | null)?.code ?? '')
  const message = error instanceof Error ? error.message : String(error)
  const where = describeFile(file)
  const base = basename(file)
  const fail = (c: 'store_unavailable' | 'store_conflict' | 'store_corrupt', text: string) =>
    new KeywardError(c, text, { cause: error })

  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    return fail(
      'store_unavailable',
      `the database file ${where} is locked by another process: try again, or stop the process holding a long transaction on it`,
    )
  if (code.startsWith('SQLITE_READONLY'))
    return fail(
      'store_unavailable',
      `the database file ${where} is read-only: make it and its directory writable by this user (SQLite also writes ${base}-wal and ${base}-shm beside it)`,
    )
  if (
    code.startsWith('SQLITE_CANTOPEN') ||
    code === 'SQLITE_PERM' ||
    code === 'SQLITE_AUTH' ||
    code === 'EACCES' ||
    code === 'EPERM' ||
    /directory does not exist|unable to open database/i.test(message)
  )
    return fail(
      'store_unavailable',
      `cannot open the database file ${where}: check that its directory exists and that this user may read and write it`,
    )
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'))
    return fail(
      'store_corrupt',
      `${where} is not a keyward SQLite database or is corrupt: restore it from a backup`,
    )
  if (
    code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY') ||
    code.startsWith('SQLITE_CONSTRAINT_UNIQUE')
  )
    return fail('store_conflict', conflict)
  // raised by keyward's own triggers, already phrased for the user
  if (code === 'SQLITE_CONSTRAINT_TRIGGER' && message.startsWith('keyward: '))
    return fail('store_conflict', message.slice('keyward: '.length))
  if (code === 'SQLITE_FULL')
    return fail(
      'store_unavailable',
      `the disk holding ${where} is full: free some space and try again`,
    )
  if (code.startsWith('SQLITE_IOERR'))
    return fail(
      'store_unavailable',
      `reading or writing ${where} failed (${code}): check the disk and the file system`,
    )
  if (/no such table/i.test(message)) return fail('store_unavailable', NOT_MIGRATED)
  if (/database connection is not open/i.test(message))
    return fail('store_unavailable', `the SQLite database ${where} is closed`)
  return fail(
    'store_unavailable',
    `SQLite failed on ${where}: ${message}${code && !message.includes(code) ? ` (${code})` : ''}`,
  )
}
