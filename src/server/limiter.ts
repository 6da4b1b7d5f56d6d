// The service's rate limit backend: in memory, or Redis (ioredis, an optional peer dependency)
// when a Redis URL is set, with the limiter's failure policy while Redis is away.
import type { FastifyBaseLogger } from 'fastify'
import { KeywardError } from '../core/errors.js'
import { createMemoryLimiter } from '../limits/memory.js'
import { createRedisLimiter, type RedisFailurePolicy } from '../limits/redis.js'
import type { Limiter } from '../limits/types.js'
import type { RedisChangeClient } from '../stores/redis/index.js'
import { redactDatabaseUrl } from '../open/database-url.js'
import type { ReadinessCheck } from './routes/health.js'

/** How long start-up waits for Redis before starting without it. */
const REDIS_CONNECT_WAIT_MS = 2_000

/** An opened limiter, what `/readyz` checks for it, and how to close it. */
export interface ServiceLimiter {
  limiter: Limiter
  readiness: ReadinessCheck[]
  /** For the start-up line: `in memory`, `on Redis at redis://host:6379`. */
  description: string
  /** False when Redis is configured and did not answer at start. */
  reachable: boolean
  /** The Redis client, when the limits are on Redis: the change feed shares it. */
  redis: RedisChangeClient | null
  close(): Promise<void>
}

export interface LimiterSettings {
  redis: string | null
  redisPrefix: string
  redisFailurePolicy: RedisFailurePolicy
}

/**
 * Opens the limiter the settings ask for. Redis that does not answer within 2 s does not stop
 * the start: the limiter applies its failure policy, ioredis keeps reconnecting, and `/readyz`
 * answers 503 naming redis until it is back.
 *
 * @throws KeywardError `invalid_options` when Redis is configured but ioredis is not installed
 */
export async function openServiceLimiter(
  settings: LimiterSettings,
  log: FastifyBaseLogger,
): Promise<ServiceLimiter> {
  if (settings.redis === null) {
    const limiter = createMemoryLimiter()
    return {
      limiter,
      readiness: [],
      description: 'in memory',
      reachable: true,
      redis: null,
      close: () => limiter.close(),
    }
  }
  let Redis: typeof import('ioredis').Redis
  try {
    Redis = (await import('ioredis')).Redis
  } catch (error) {
    throw new KeywardError(
      'invalid_options',
      'redis is set but the "ioredis" driver cannot be loaded: install it (npm install ioredis) or unset --redis / KEYWARD_REDIS_URL',
      { cause: error },
    )
  }
  const shown = redactDatabaseUrl(settings.redis)
  const client = new Redis(settings.redis, {
    // a command waits for one reconnection at most; the limiter's own timeout bounds it anyway
    maxRetriesPerRequest: 1,
    connectTimeout: REDIS_CONNECT_WAIT_MS,
    // disconnect() leaves a timer this long when the last connection attempt failed; it would
    // hold the process open after a drain (ioredis 5 and 6, default 2 s)
    disconnectTimeout: 100,
  })
  let lastError = ''
  // ioredis reconnects by itself; without a listener an outage would crash the process
  client.on('error', (error: Error & { code?: string }) => {
    lastError = error.code ?? error.message
  })
  const reachable = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), REDIS_CONNECT_WAIT_MS)
    client.once('ready', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
  const limiter = createRedisLimiter({
    client,
    keyPrefix: settings.redisPrefix,
    failurePolicy: settings.redisFailurePolicy,
    logger: { warn: (message: string) => log.warn({ redis: shown }, message) },
  })
  const readiness: ReadinessCheck = {
    name: 'redis',
    async check() {
      // a command would only wait in the offline queue while ioredis reconnects
      if (client.status !== 'ready') throw new Error(`redis is ${client.status}`)
      await client.ping()
    },
  }
  return {
    limiter,
    readiness: [readiness],
    description: reachable
      ? `on Redis at ${shown}`
      : `on Redis at ${shown}, which is unreachable${lastError === '' ? '' : ` (${lastError})`}`,
    reachable,
    redis: client as unknown as RedisChangeClient,
    async close() {
      await limiter.close()
      client.disconnect()
    },
  }
}
