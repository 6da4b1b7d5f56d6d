import { describe, expect, it } from 'vitest'
import { createRedisLimiter, type RedisLimiterClient } from './redis.js'

// The Redis limiter's own logic around the script, with a stand-in client whose replies the
// test chooses: health and probing, failed and unreadable replies, reset while degraded.

const rules = [{ name: 'default', limit: 10, windowMs: 60_000 }]
const UNAVAILABLE = { allowed: false, code: 'store_unavailable', policies: [], retryAfterMs: 1000 }

/** A client answering every script run with `reply()`, or failing when it throws. */
function client(reply: () => unknown, status = 'ready') {
  const deleted: string[][] = []
  const c: RedisLimiterClient & { runs: number; deleted: string[][] } = {
    status,
    runs: 0,
    deleted,
    evalsha: async () => {
      c.runs++
      return reply()
    },
    eval: async () => reply(),
    del: async (...keys: string[]) => {
      deleted.push(keys)
      return keys.length
    },
  }
  return c
}

/** A reply admitting one decision of `rules`: Redis' clock, status 0, the rule's lead (T). */
const admitted = () => [Date.now() * 1000, 0, 6_000_000]
const down = () => {
  throw new Error('down')
}

function recorder() {
  const messages: string[] = []
  return { messages, warn: (m: string) => messages.push(m) }
}

describe('redis limiter: replies', () => {
  it('logs the message of a decision that failed in Redis, without its "!"', async () => {
    const logger = recorder()
    const limiter = createRedisLimiter({
      client: client(() => [Date.now() * 1000, '!boom']),
      failurePolicy: 'fail-closed',
      logger,
    })
    expect(await limiter.consume({ partition: 'key:a', rules })).toEqual(UNAVAILABLE)
    expect(logger.messages).toEqual([
      'keyward: Redis rate limiter unavailable (boom); refusing requests with 503 until it returns',
    ])
  })

  it('takes a string without "!" for an unreadable reply, not for a failed decision', async () => {
    const logger = recorder()
    const limiter = createRedisLimiter({
      client: client(() => [Date.now() * 1000, 'oops']),
      failurePolicy: 'fail-closed',
      logger,
    })
    expect(await limiter.consume({ partition: 'key:a', rules })).toEqual(UNAVAILABLE)
    expect(logger.messages).toEqual([expect.stringContaining('(unexpected reply')])
  })

  it('admits a request with neither rules nor quota without asking Redis, even when it is down', async () => {
    const logger = recorder()
    const c = client(down, 'end')
    const limiter = createRedisLimiter({ client: c, failurePolicy: 'fail-closed', logger })
    expect(await limiter.consume({ partition: 'key:free', rules: [] })).toEqual({
      allowed: true,
      policies: [],
    })
    expect(c.runs).toBe(0)
    expect(logger.messages).toEqual([])
    expect(limiter.isAvailable).toBe(true)
  })
})

describe('redis limiter: health', () => {
  it('probes Redis again after every outage, not only the first', async () => {
    let answer: () => unknown = down
    const c = client(() => answer())
    const logger = recorder()
    const limiter = createRedisLimiter({
      client: c,
      failurePolicy: 'fail-closed',
      retryIntervalMs: 1,
      logger,
    })
    const consume = () => limiter.consume({ partition: 'key:p', rules })
    const pastRetryInterval = () => new Promise((r) => setTimeout(r, 10))
    for (let outage = 1; outage <= 2; outage++) {
      answer = down
      expect(await consume()).toEqual(UNAVAILABLE)
      expect(limiter.isAvailable).toBe(false)
      await pastRetryInterval()
      answer = admitted
      // one request probes Redis, finds it back, and is decided by it
      expect(await consume()).toMatchObject({ allowed: true, policies: [{ remaining: 9 }] })
      expect(limiter.isAvailable).toBe(true)
    }
    expect(c.runs).toBe(4)
    expect(logger.messages.map((m) => m.replace(/ \(.*\)/, ''))).toEqual([
      'keyward: Redis rate limiter unavailable; refusing requests with 503 until it returns',
      'keyward: Redis rate limiter is reachable again; limits are shared again',
      'keyward: Redis rate limiter unavailable; refusing requests with 503 until it returns',
      'keyward: Redis rate limiter is reachable again; limits are shared again',
    ])
  })

  it('resets a partition in Redis and in the local limits it used while Redis was away', async () => {
    const c = client(down)
    const limiter = createRedisLimiter({ client: c, logger: recorder() })
    const consume = () => limiter.consume({ partition: 'key:{r}', rules })
    expect(await consume()).toMatchObject({ degraded: true, policies: [{ remaining: 9 }] })
    expect(await consume()).toMatchObject({ degraded: true, policies: [{ remaining: 8 }] })
    await limiter.reset('key:{r}')
    expect(c.deleted).toEqual([['keyward:l:{key:%7Br%7D}']])
    expect(await consume()).toMatchObject({ degraded: true, policies: [{ remaining: 9 }] })
    await limiter.close()
  })
})
