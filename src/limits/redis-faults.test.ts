import { once } from 'node:events'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePort, type OwnRedis, ownRedis } from '../../test/fixtures/redis-server.js'
import { createRedisLimiter, type RedisLimiterOptions } from './redis.js'
import type { LimitDecision } from './types.js'

// These tests run their own redis-server child (free port) and never touch the shared one.

const rules = [{ name: 'default', limit: 100, windowMs: 60_000 }]
const request = { partition: 'key:faults', rules }

function recorder(): { warn(message: string): void; messages: string[] } {
  const messages: string[] = []
  return { messages, warn: (m) => messages.push(m) }
}

/** Consumes until `until` holds (Redis reconnecting is an event, not a delay). */
async function consumeUntil(
  consume: () => Promise<LimitDecision>,
  until: (d: LimitDecision) => boolean,
): Promise<LimitDecision> {
  for (let i = 0; i < 500; i++) {
    const d = await consume()
    if (until(d)) return d
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('condition never held')
}

const clients: Redis[] = []
function connect(url: string): Redis {
  // Fast reconnects keep the recovery tests short; no per-request retries beyond the limiter's.
  const client = new Redis(url, { retryStrategy: () => 50, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  clients.push(client)
  return client
}

afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect()
})

describe('redis limiter: Redis unreachable at start (dead port)', () => {
  let deadUrl: string
  beforeAll(async () => {
    deadUrl = `redis://127.0.0.1:${await freePort()}`
  })

  it('degrades to local limits by default, logging once', async () => {
    const logger = recorder()
    const limiter = createRedisLimiter({ client: connect(deadUrl), logger, timeoutMs: 200 })
    const results: LimitDecision[] = []
    for (let i = 0; i < 5; i++) results.push(await limiter.consume(request))
    for (const d of results) expect(d).toMatchObject({ allowed: true, degraded: true })
    // The local limiter counts: remaining goes down across the degraded decisions.
    expect(results.map((d) => d.policies[0]!.remaining)).toEqual([99, 98, 97, 96, 95])
    expect(logger.messages).toHaveLength(1)
    expect(logger.messages[0]).toMatch(/Redis rate limiter unavailable .*local in-memory limits/)
    expect(limiter.isAvailable).toBe(false)
    await limiter.close()
  })

  it('refuses with store_unavailable under fail-closed', async () => {
    const logger = recorder()
    const limiter = createRedisLimiter({
      client: connect(deadUrl),
      logger,
      failurePolicy: 'fail-closed',
      timeoutMs: 200,
      unavailableRetryAfterMs: 2000,
    })
    for (let i = 0; i < 3; i++) {
      await expect(limiter.consume(request)).resolves.toEqual({
        allowed: false,
        code: 'store_unavailable',
        policies: [],
        retryAfterMs: 2000,
      })
    }
    expect(logger.messages).toHaveLength(1)
    expect(logger.messages[0]).toMatch(/refusing requests with 503/)
  })
})

describe('redis limiter: Redis lost mid-run and back', () => {
  let redis: OwnRedis
  beforeAll(async () => {
    redis = await ownRedis()
    await redis.start()
  })
  afterAll(async () => {
    await redis.stop()
  })

  async function lifecycle(options: Partial<RedisLimiterOptions>): Promise<{
    before: LimitDecision
    during: LimitDecision
    after: LimitDecision
    messages: string[]
  }> {
    const logger = recorder()
    const client = connect(redis.url)
    await once(client, 'ready')
    const limiter = createRedisLimiter({ client, logger, timeoutMs: 500, ...options })
    const before = await limiter.consume(request)
    await redis.stop()
    const during = await consumeUntil(
      () => limiter.consume(request),
      (d) => d.degraded === true || d.code === 'store_unavailable',
    )
    await limiter.consume(request)
    await redis.start()
    // A restarted Redis has an empty script cache: this also proves the NOSCRIPT fallback.
    const after = await consumeUntil(
      () => limiter.consume(request),
      (d) => d.degraded === undefined && d.code === undefined,
    )
    await limiter.close()
    return { before, during, after, messages: logger.messages }
  }

  it('degrades while Redis is down and shares limits again when it returns', async () => {
    const { before, during, after, messages } = await lifecycle({})
    expect(before).toMatchObject({ allowed: true })
    expect(before.degraded).toBeUndefined()
    expect(during).toMatchObject({ allowed: true, degraded: true })
    expect(after).toMatchObject({ allowed: true })
    expect(messages).toHaveLength(2)
    expect(messages[0]).toMatch(/unavailable/)
    expect(messages[1]).toMatch(/reachable again/)
  })

  it('answers 503-style refusals while Redis is down under fail-closed, then recovers', async () => {
    const { during, after, messages } = await lifecycle({ failurePolicy: 'fail-closed' })
    expect(during).toMatchObject({ allowed: false, code: 'store_unavailable' })
    expect(after.allowed).toBe(true)
    expect(messages).toHaveLength(2)
  })

  it('bounds the wait for a Redis that stops answering, then probes and recovers', async () => {
    const logger = recorder()
    const client = connect(redis.url)
    await once(client, 'ready')
    const limiter = createRedisLimiter({ client, logger, timeoutMs: 200, retryIntervalMs: 50 })
    expect((await limiter.consume(request)).degraded).toBeUndefined()
    redis.freeze()
    try {
      // The connection stays open but nothing answers: only the limiter's timeout ends the wait.
      const frozen = await limiter.consume(request)
      expect(frozen).toMatchObject({ allowed: true, degraded: true })
      expect(logger.messages[0]).toMatch(/did not answer within 200 ms/)
      // Within the retry interval, requests do not wait for Redis at all.
      expect((await limiter.consume(request)).degraded).toBe(true)
    } finally {
      redis.thaw()
    }
    const back = await consumeUntil(
      () => limiter.consume(request),
      (d) => d.degraded === undefined,
    )
    expect(back.allowed).toBe(true)
    expect(logger.messages).toHaveLength(2)
    expect(limiter.isAvailable).toBe(true)
  })
  it('never charges a request it gave up on when Redis runs it late', async () => {
    const client = connect(redis.url)
    await once(client, 'ready')
    const limiter = createRedisLimiter({
      client,
      logger: recorder(),
      timeoutMs: 200,
      retryIntervalMs: 50,
    })
    const late = { partition: 'key:late-charge', rules }
    // the first reply tells the limiter Redis' clock
    expect((await limiter.consume(late)).policies[0]!.remaining).toBe(99)
    redis.freeze()
    try {
      // written to the socket, unanswered: answered locally after 200 ms
      const stuck = { ...late, idempotencyKey: 'late-1', operation: 'POST /a' }
      expect(await limiter.consume(stuck)).toMatchObject({ allowed: true, degraded: true })
      await new Promise((r) => setTimeout(r, 100))
    } finally {
      // Redis now reads the stuck script run, past its deadline
      redis.thaw()
    }
    const back = await consumeUntil(
      () => limiter.consume(late),
      (d) => d.degraded === undefined,
    )
    // charged twice in Redis (before the freeze and now): the stuck one counted nothing
    expect(back.policies[0]!.remaining).toBe(98)
    // …and left no idempotency record: the key is free for another operation
    expect(await client.exists('keyward:i:{key:late-charge}:late-1')).toBe(0)
    const other = await limiter.consume({ ...late, idempotencyKey: 'late-1', operation: 'POST /b' })
    expect(other).toMatchObject({ allowed: true, policies: [{ remaining: 97 }] })
    expect(other.replayed).toBeUndefined()
  })
})
