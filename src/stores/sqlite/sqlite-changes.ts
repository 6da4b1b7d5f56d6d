// The change feed of processes sharing one SQLite file: publishing appends a row to the
// `changes` table (migration 3); every process polls `PRAGMA data_version` on its own
// connection (a read of shared memory, no I/O, changes only when another connection commits)
// and reads the rows past the last one it saw when it moved.
import Database from 'better-sqlite3'
import { type ChangeFeed, ChangeListeners, checkChange, keyChange } from '../../core/changes.js'
import { KeywardError } from '../../core/errors.js'
import { msOption, rejectUnknownOptions } from '../../core/options.js'
import { toSqliteKeywardError } from './errors.js'
import { checkTablePrefix } from './options.js'

/** Options of `createSqliteChangeFeed`. */
export interface SqliteChangeFeedOptions {
  /** The database file of the store (a path; an in-memory database has no other processes). */
  file: string
  /** The store's `tablePrefix`. Default `keyward_`. */
  tablePrefix?: string
  /** How often to look for other processes' changes. Default 100 ms. */
  pollIntervalMs?: number
  /**
   * How long change rows are kept (publishers delete older ones). A process that did not poll
   * for longer (suspended) finds rows missing and drops its whole cache. Default 10 minutes.
   */
  retentionMs?: number
  /** How long a write waits for another process's lock. Default 5000. */
  busyTimeoutMs?: number
}

const OPTION_NAMES = new Set([
  'file',
  'tablePrefix',
  'pollIntervalMs',
  'retentionMs',
  'busyTimeoutMs',
])
/** Rows read per statement while catching up. */
const PAGE = 1000
/** Publishers prune old rows at most this often. */
const PRUNE_EVERY_MS = 60_000

type Row = [seq: number, origin: string, keyId: string | null, revoked: number]

/**
 * A change feed through the SQLite file itself, so that `keyward keys revoke` (or any process
 * on the file) reaches a running server within about `pollIntervalMs`. Opens its own
 * connection to `file` on first use; `close()` closes it.
 *
 * @example
 * const store = createSqliteStore({ db: new Database('keyward.db') })
 * await store.migrate()
 * const changes = createSqliteChangeFeed({ file: 'keyward.db' })
 * const keyward = await createKeyward({ store, peppers, changes })
 * @throws KeywardError `invalid_options` for bad options
 */
export function createSqliteChangeFeed(options: SqliteChangeFeedOptions): ChangeFeed {
  if (options === null || typeof options !== 'object')
    throw new KeywardError('invalid_options', 'createSqliteChangeFeed needs { file }')
  rejectUnknownOptions(options, OPTION_NAMES, 'createSqliteChangeFeed')
  const { file } = options
  if (typeof file !== 'string' || file === '' || file === ':memory:')
    throw new KeywardError(
      'invalid_options',
      `"file" must be the path of the store's database file (an in-memory database has no other processes to tell), got ${JSON.stringify(file)}`,
    )
  const p = checkTablePrefix(options.tablePrefix)
  const pollIntervalMs = msOption(options.pollIntervalMs, 'pollIntervalMs', 100)
  const retentionMs = msOption(options.retentionMs, 'retentionMs', 600_000)
  const busyTimeoutMs = msOption(options.busyTimeoutMs, 'busyTimeoutMs', 5000, 0)

  const listeners = new ChangeListeners()
  let conn: ReturnType<typeof connect> | null = null
  let closed = false
  let timer: ReturnType<typeof setTimeout> | undefined
  /** The last row seen; rows after it are other processes' news. */
  let lastSeq = 0
  let lastVersion = -1
  let failing = false
  let polling = false
  let prunedAt = 0

  function connect() {
    const db = new Database(file, { fileMustExist: true })
    try {
      db.pragma(`busy_timeout = ${busyTimeoutMs}`)
      return {
        db,
        dataVersion: db.prepare('PRAGMA data_version').pluck(),
        // the sequence survives pruning, so it is the true last seq even of an empty table
        lastSeq: db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = '${p}changes'`).pluck(),
        after: db
          .prepare(
            `SELECT seq, origin, key_id, revoked FROM ${p}changes WHERE seq > ? ORDER BY seq LIMIT ${PAGE}`,
          )
          .raw(true),
        insert: db.prepare(
          `INSERT INTO ${p}changes (origin, key_id, revoked, at) VALUES (?, ?, ?, ?)`,
        ),
        prune: db.prepare(`DELETE FROM ${p}changes WHERE at < ?`),
      }
    } catch (e) {
      db.close()
      if (/no such table/.test((e as Error).message))
        throw new KeywardError(
          'store_unavailable',
          `${file} has no ${p}changes table yet: migrate the store first (keyward migrate, or store.migrate())`,
          { cause: e },
        )
      throw e
    }
  }

  function open(): NonNullable<typeof conn> {
    if (conn === null) conn = connect()
    return conn
  }

  function disconnect(): void {
    if (conn?.db.open) conn.db.close()
    conn = null
  }

  /** Reads rows past `lastSeq`; a hole before them means rows were pruned unread. */
  function catchUp(c: NonNullable<typeof conn>): void {
    for (;;) {
      const rows = c.after.all(lastSeq) as Row[]
      for (const [seq, origin, keyId, revoked] of rows) {
        if (seq !== lastSeq + 1) listeners.reset()
        lastSeq = seq
        if (origin === listeners.origin) continue
        const change =
          keyId === null ? ({ kind: 'roles' } as const) : keyChange(keyId, revoked === 1)
        if (change === null) listeners.reset()
        else listeners.deliver(change)
      }
      if (rows.length < PAGE) return
    }
  }

  function poll(): void {
    timer = undefined
    if (closed) return
    try {
      const fresh = conn === null
      const c = open()
      const version = c.dataVersion.get() as number
      if (lastVersion === -1) {
        // the first look: rows already there were written before this process listened, but
        // its cache may have filled while an earlier look failed
        lastSeq = (c.lastSeq.get() as number | undefined) ?? 0
        listeners.reset()
      } else if (version !== lastVersion || fresh) {
        // (a new connection's data_version is not comparable with the old one's)
        catchUp(c)
      }
      lastVersion = version
      failing = false
    } catch (e) {
      // report once per outage; reopen on the next poll, and catch up: the rows wait in the table
      if (!failing) listeners.error(toSqliteKeywardError(e, file))
      failing = true
      disconnect()
    }
    timer = setTimeout(poll, pollIntervalMs)
    timer.unref()
  }

  return {
    async publish(change) {
      checkChange(change)
      if (closed) throw new KeywardError('store_unavailable', 'the change feed is closed')
      try {
        const c = open()
        const now = Date.now()
        const isKey = change.kind === 'key'
        c.insert.run(
          listeners.origin,
          isKey ? change.keyId : null,
          isKey && change.revoked === true ? 1 : 0,
          now,
        )
        if (now - prunedAt >= PRUNE_EVERY_MS) {
          prunedAt = now
          c.prune.run(now - retentionMs)
        }
      } catch (e) {
        disconnect()
        throw toSqliteKeywardError(e, file)
      }
    },
    subscribe(listener) {
      const stop = listeners.add(listener)
      if (!closed && !polling) {
        polling = true
        poll()
      }
      return stop
    },
    async close() {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      disconnect()
    },
  }
}
