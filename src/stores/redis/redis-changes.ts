// The change feed over Redis pub/sub: PUBLISH through the caller's client, SUBSCRIBE on a
// duplicate of it (a subscribed connection can do nothing else).
import { type ChangeFeed, ChangeListeners, checkChange, encodeChange } from '../../core/changes.js'
import { KeywardError } from '../../core/errors.js'
import { msOption, rejectUnknownOptions } from '../../core/options.js'

/** What the subscriber connection (an ioredis `duplicate()`) must do. */
export interface RedisChangeSubscriber {
  readonly status: string
  on(event: 'ready' | 'close', listener: () => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'message', listener: (channel: string, message: string) => void): unknown
  subscribe(channel: string): Promise<unknown>
  disconnect(): void
}

/**
 * What the Redis change feed needs from a client: an ioredis `Redis` fits. The caller owns it
 * (creates, connects and closes it); the feed owns the subscriber it duplicates from it.
 */
export interface RedisChangeClient {
  publish(channel: string, message: string): Promise<unknown>
  duplicate(override?: {
    connectionName?: string
    autoResubscribe?: boolean
    lazyConnect?: boolean
  }): RedisChangeSubscriber
}

/** Options of `createRedisChangeFeed`. */
export interface RedisChangeFeedOptions {
  /** A connected ioredis client (`new Redis(url)`); shared, never closed by the feed. */
  client: RedisChangeClient
  /**
   * The channel is `<keyPrefix>:changes` (the subscriber connection is named so, for `CLIENT
   * LIST`). Every process of one keyward database must use the same. Default `keyward`.
   */
  keyPrefix?: string
  /** Longest wait for Redis to take a change before `publish` rejects. Default 1000 ms. */
  timeoutMs?: number
}

const OPTION_NAMES = new Set(['client', 'keyPrefix', 'timeoutMs'])
const PREFIX_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

/**
 * A change feed over Redis pub/sub, for nodes that share a Redis (or whose database channel
 * cannot be used, such as PostgreSQL behind PgBouncer in transaction mode). The subscriber
 * reconnects with ioredis; once it is subscribed again, the subscriber of the feed drops its
 * cache (messages published meanwhile are lost).
 *
 * @example
 * const client = new Redis(process.env.KEYWARD_REDIS_URL)
 * const changes = createRedisChangeFeed({ client })
 * const keyward = await createKeyward({ store, peppers, changes })
 * @throws KeywardError `invalid_options` for bad options
 */
export function createRedisChangeFeed(options: RedisChangeFeedOptions): ChangeFeed {
  if (options === null || typeof options !== 'object')
    throw new KeywardError('invalid_options', 'createRedisChangeFeed needs { client }')
  rejectUnknownOptions(options, OPTION_NAMES, 'createRedisChangeFeed')
  const { client } = options
  if (
    typeof client?.publish !== 'function' ||
    typeof (client as { duplicate?: unknown }).duplicate !== 'function'
  )
    throw new KeywardError(
      'invalid_options',
      '"client" must be an ioredis client, e.g. new Redis(process.env.KEYWARD_REDIS_URL)',
    )
  const keyPrefix = options.keyPrefix ?? 'keyward'
  if (typeof keyPrefix !== 'string' || !PREFIX_RE.test(keyPrefix))
    throw new KeywardError(
      'invalid_options',
      `"keyPrefix" must match /^[A-Za-z_][A-Za-z0-9_]{0,63}$/, got ${JSON.stringify(keyPrefix)}`,
    )
  const timeoutMs = msOption(options.timeoutMs, 'timeoutMs', 1000)
  const channel = `${keyPrefix}:changes`

  const listeners = new ChangeListeners()
  let subscriber: RedisChangeSubscriber | null = null
  let closed = false
  /** Reported once per outage. */
  let reported = false

  function report(error: unknown): void {
    if (reported || closed) return
    reported = true
    listeners.error(
      new KeywardError(
        'store_unavailable',
        `the Redis change feed lost its connection (${(error as Error)?.message ?? String(error)}): reconnecting; until then the cache TTL bounds staleness`,
        { cause: error },
      ),
    )
  }

  function start(): void {
    // our own resubscription, so that the reset comes after SUBSCRIBE is confirmed: a reset
    // before it would let a change published in between go unheard
    // connected at once (the caller's client may be lazy), so that it is listening before a change
    const sub = client.duplicate({
      connectionName: channel,
      autoResubscribe: false,
      lazyConnect: false,
    })
    subscriber = sub
    sub.on('error', report)
    sub.on('close', () => report(new Error('connection closed')))
    sub.on('message', (ch, message) => {
      if (ch === channel) listeners.received(message)
    })
    sub.on('ready', () => {
      sub.subscribe(channel).then(
        () => {
          if (closed) return
          reported = false
          listeners.reset()
        },
        // lost again while subscribing: 'ready' comes again after the reconnect
        report,
      )
    })
  }

  return {
    async publish(change) {
      checkChange(change)
      if (closed) throw new KeywardError('store_unavailable', 'the change feed is closed')
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Redis did not take the change within ${timeoutMs} ms`)),
          timeoutMs,
        )
      })
      try {
        await Promise.race([
          client.publish(channel, encodeChange(listeners.origin, change)),
          timeout,
        ])
      } catch (e) {
        throw new KeywardError(
          'store_unavailable',
          `cannot publish on Redis: ${(e as Error)?.message ?? String(e)}`,
          { cause: e },
        )
      } finally {
        clearTimeout(timer)
      }
    },
    subscribe(listener) {
      const stop = listeners.add(listener)
      if (subscriber === null && !closed) start()
      return stop
    },
    async close() {
      closed = true
      subscriber?.disconnect()
      subscriber = null
    },
  }
}
