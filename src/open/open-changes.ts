// Which change feeds `openKeyward` sets up: the database's own channel, plus Redis pub/sub
// when Redis is configured.
import { type ChangeFeed, combineChangeFeeds } from '../core/changes.js'
import { KeywardError } from '../core/errors.js'
import type { RedisChangeClient } from '../stores/redis/index.js'
import { redactDatabaseUrl } from './database-url.js'
import type { OpenedStore } from './open-store.js'

/** How other processes hear of changes made here, and this one of theirs. */
export interface OpenChangesOptions {
  /**
   * Also carry changes over Redis pub/sub: an ioredis client (yours to close) or a
   * `redis://` URL (connected on first use, closed by `close()`). Default: `KEYWARD_REDIS_URL`
   * of `env`, when set.
   */
  redis?: RedisChangeClient | string
  /** The Redis channel is `<redisKeyPrefix>:changes`. Default `keyward`. */
  redisKeyPrefix?: string
  /**
   * Carry changes over the database itself (SQLite: a change table the processes on the file
   * poll; PostgreSQL: LISTEN/NOTIFY). Default true; turn it off where the database cannot
   * (PostgreSQL behind PgBouncer in transaction mode) and use Redis.
   */
  database?: boolean
}

export interface OpenedChanges {
  feed: ChangeFeed | undefined
  close(): Promise<void>
}

async function redisFromUrl(url: string): Promise<{ client: RedisChangeClient; close(): void }> {
  let Redis: typeof import('ioredis').Redis
  try {
    Redis = (await import('ioredis')).Redis
  } catch (error) {
    throw new KeywardError(
      'invalid_options',
      'Redis change notifications need the "ioredis" driver, which cannot be loaded: install ioredis (npm install ioredis)',
      { cause: error },
    )
  }
  let client: InstanceType<typeof Redis>
  try {
    // lazyConnect: a process that never publishes (nor subscribes) never connects
    client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  } catch (error) {
    throw new KeywardError(
      'invalid_options',
      `the Redis URL ${redactDatabaseUrl(url)} cannot be used: ${(error as Error).message}`,
      { cause: error },
    )
  }
  // ioredis reconnects by itself; publish failures are reported where they happen
  client.on('error', () => {})
  return { client: client as unknown as RedisChangeClient, close: () => client.disconnect() }
}

/** The feeds `openKeyward` wires; `false` for none. */
export async function openChanges(
  store: OpenedStore,
  options: false | OpenChangesOptions | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Promise<OpenedChanges> {
  if (options === false) return { feed: undefined, async close() {} }
  const feeds: ChangeFeed[] = []
  const closers: (() => Promise<void> | void)[] = []
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c()
  }
  try {
    if (options?.database ?? true) {
      const feed = store.openChangeFeed()
      if (feed !== null) {
        feeds.push(feed)
        closers.push(() => feed.close())
      }
    }
    const redis = options?.redis ?? (env.KEYWARD_REDIS_URL || undefined)
    if (redis !== undefined) {
      let client: RedisChangeClient
      if (typeof redis === 'string') {
        const opened = await redisFromUrl(redis)
        closers.push(opened.close)
        client = opened.client
      } else client = redis
      const { createRedisChangeFeed } = await import('../stores/redis/index.js')
      const feed = createRedisChangeFeed(
        options?.redisKeyPrefix === undefined
          ? { client }
          : { client, keyPrefix: options.redisKeyPrefix },
      )
      feeds.push(feed)
      closers.push(() => feed.close())
    }
  } catch (error) {
    await close()
    throw error
  }
  return { feed: feeds.length === 0 ? undefined : combineChangeFeeds(feeds), close }
}
