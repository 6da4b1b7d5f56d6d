// The change feed of nodes sharing one PostgreSQL database: NOTIFY through the pool, LISTEN on
// one dedicated connection (a pooled one would be handed to other queries and lose it).
import { createHash } from 'node:crypto'
import pg from 'pg'
import {
  type ChangeFeed,
  ChangeListeners,
  checkChange,
  encodeChange,
  reconnectDelayMs,
} from '../../core/changes.js'
import { KeywardError } from '../../core/errors.js'
import { rejectUnknownOptions } from '../../core/options.js'
import { describePoolTarget, toPostgresKeywardError } from './errors.js'
import { checkPool, checkSchemaName } from './options.js'

/** Options of `createPostgresChangeFeed`. */
export interface PostgresChangeFeedOptions {
  /** The store's pool: NOTIFY goes through it; the listening connection copies its settings. */
  pool: pg.Pool
  /** The store's schema; the channel is per schema. Default `keyward`. */
  schema?: string
  /**
   * Makes the dedicated listening connection (not yet connected). Default
   * `new pg.Client(pool.options)`: the pool's settings, outside the pool.
   */
  listenClient?: () => pg.Client
}

const OPTION_NAMES = new Set(['pool', 'schema', 'listenClient'])

/**
 * The NOTIFY channel of a schema: `keyward_changes_<schema>`, or a hash of the schema when that
 * would pass PostgreSQL's 63-byte identifier limit (where LISTEN would silently truncate).
 */
export function changeChannel(schema: string): string {
  const channel = `keyward_changes_${schema}`
  return channel.length <= 63
    ? channel
    : `keyward_changes_${createHash('sha256').update(schema).digest('hex').slice(0, 40)}`
}

/**
 * A change feed over PostgreSQL `LISTEN/NOTIFY`: no other service needed. A change is sent
 * with `pg_notify` through the pool; a dedicated connection listens, reconnects by itself
 * (100 ms, doubling up to 5 s) and, once it listens again, tells the subscriber to drop its
 * cache (notifications sent while it was away are lost). Not through PgBouncer in transaction
 * mode, which cannot keep a LISTEN: use the Redis feed there.
 *
 * @example
 * const pool = new pg.Pool({ connectionString: process.env.KEYWARD_DATABASE_URL })
 * const changes = createPostgresChangeFeed({ pool, schema: 'keyward' })
 * const keyward = await createKeyward({ store: createPostgresStore({ pool }), peppers, changes })
 * @throws KeywardError `invalid_options` for bad options
 */
export function createPostgresChangeFeed(options: PostgresChangeFeedOptions): ChangeFeed {
  if (options === null || typeof options !== 'object')
    throw new KeywardError('invalid_options', 'createPostgresChangeFeed needs { pool }')
  rejectUnknownOptions(options, OPTION_NAMES, 'createPostgresChangeFeed')
  const pool = checkPool(options.pool)
  if (options.listenClient !== undefined && typeof options.listenClient !== 'function')
    throw new KeywardError(
      'invalid_options',
      '"listenClient" must be a function returning a pg.Client',
    )
  const channel = changeChannel(checkSchemaName(options.schema))
  const makeClient = options.listenClient ?? (() => new pg.Client(pool.options))
  const target = describePoolTarget(pool.options ?? {})
  const fail = (e: unknown) => toPostgresKeywardError(e, target)

  const listeners = new ChangeListeners()
  let closed = false
  let started = false
  let client: pg.Client | null = null
  let attempt = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  /** Reported once per outage. */
  let reported = false

  function report(error: unknown): void {
    if (reported) return
    reported = true
    listeners.error(fail(error))
  }

  function retry(): void {
    if (closed || timer !== undefined) return
    timer = setTimeout(() => {
      timer = undefined
      void listen()
    }, reconnectDelayMs(attempt++))
    timer.unref()
  }

  async function listen(): Promise<void> {
    const c = makeClient()
    let lost = false
    const onLost = (error?: unknown) => {
      if (lost) return
      lost = true
      if (client === c) client = null
      c.end().catch(() => {})
      if (closed) return
      report(error ?? new Error('Connection terminated'))
      retry()
    }
    // a dead connection emits 'error' (and 'end'); without a listener 'error' would crash
    c.on('error', onLost)
    c.on('end', () => onLost())
    c.on('notification', (n: pg.Notification) => {
      if (n.channel === channel && n.payload !== undefined) listeners.received(n.payload)
    })
    try {
      await c.connect()
      await c.query(`LISTEN "${channel}"`)
    } catch (error) {
      onLost(error)
      return
    }
    if (lost) return
    if (closed) {
      await c.end().catch(() => {})
      return
    }
    client = c
    attempt = 0
    reported = false
    // notifications sent before this LISTEN never arrive: drop what may be stale
    listeners.reset()
  }

  return {
    async publish(change) {
      checkChange(change)
      if (closed) throw new KeywardError('store_unavailable', 'the change feed is closed')
      try {
        await pool.query('SELECT pg_notify($1, $2)', [
          channel,
          encodeChange(listeners.origin, change),
        ])
      } catch (e) {
        throw fail(e)
      }
    },
    subscribe(listener) {
      const stop = listeners.add(listener)
      if (!started && !closed) {
        started = true
        void listen()
      }
      return stop
    },
    async close() {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      const c = client
      client = null
      if (c !== null) await c.end().catch(() => {})
    },
  }
}
