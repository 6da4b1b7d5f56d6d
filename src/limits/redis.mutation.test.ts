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

  it('reads no decision from a reply that does not start with Redis clock', async () => {
    const logger = recorder()
    const limiter = createRedisLimiter({
      client: client(() => ['clock', 0, 6_000_000]),
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
    // a partition made only of escaped characters is escaped too
    await limiter.reset('{%}')
    expect(c.deleted[1]).toEqual(['keyward:l:{%7B%25%7D}'])
    await limiter.close()
  })

  it('answers by its failure policy within retryIntervalMs, then lets one request probe', async () => {
    let answer: () => unknown = down
    const c = client(() => answer())
    const limiter = createRedisLimiter({
      client: c,
      failurePolicy: 'fail-closed',
      retryIntervalMs: 60_000,
      logger: recorder(),
    })
    const consume = () => limiter.consume({ partition: 'key:w', rules })
    expect(await consume()).toEqual(UNAVAILABLE)
    answer = admitted
    // Redis is not asked again before the interval has passed
    expect(await consume()).toEqual(UNAVAILABLE)
    expect(c.runs).toBe(1)

    const soon = createRedisLimiter({
      client: client(() => answer()),
      failurePolicy: 'fail-closed',
      retryIntervalMs: 1,
      logger: recorder(),
    })
    answer = down
    expect(await soon.consume({ partition: 'key:w', rules })).toEqual(UNAVAILABLE)
    await new Promise((r) => setTimeout(r, 10))
    answer = admitted
    // two requests at once: one probes, the other gets the failure policy without waiting
    const [probe, other] = await Promise.all([
      soon.consume({ partition: 'key:w', rules }),
      soon.consume({ partition: 'key:w', rules }),
    ])
    expect(probe).toMatchObject({ allowed: true, policies: [{ remaining: 9 }] })
    expect(other).toEqual(UNAVAILABLE)
  })

  it('retries with EVAL only when Redis lost the script (NOSCRIPT)', async () => {
    const logger = recorder()
    const evals: string[] = []
    const make = (error: string, evalResult: () => unknown) =>
      createRedisLimiter({
        client: {
          status: 'ready',
          evalsha: async () => {
            throw new Error(error)
          },
          eval: async () => {
            evals.push(error)
            return evalResult()
          },
          del: async () => 0,
        },
        failurePolicy: 'fail-closed',
        logger,
      })
    const request = { partition: 'key:n', rules }
    expect(await make('NOSCRIPT No matching script', admitted).consume(request)).toMatchObject({
      allowed: true,
    })
    expect(await make('ERR down', admitted).consume(request)).toEqual(UNAVAILABLE)
    expect(await make('NOSCRIPT again', down).consume(request)).toEqual(UNAVAILABLE)
    expect(evals).toEqual(['NOSCRIPT No matching script', 'NOSCRIPT again'])
    expect(logger.messages.map((m) => m.match(/\((.*)\)/)![1])).toEqual(['ERR down', 'down'])
  })

  it('ignores a reply that comes after it gave up on the batch', async () => {
    const logger = recorder()
    let reply: (value: unknown) => void = () => {}
    const limiter = createRedisLimiter({
      client: {
        status: 'ready',
        evalsha: () => new Promise((resolve) => (reply = resolve)),
        eval: async () => [],
        del: async () => 0,
      },
      failurePolicy: 'fail-closed',
      timeoutMs: 1,
      logger,
    })
    expect(await limiter.consume({ partition: 'key:t', rules })).toEqual(UNAVAILABLE)
    reply(admitted())
    await new Promise((r) => setImmediate(r))
    expect(limiter.isAvailable).toBe(false)
    expect(logger.messages).toEqual([
      'keyward: Redis rate limiter unavailable (Redis did not answer within 1 ms); refusing requests with 503 until it returns',
    ])
  })

  it('takes a late reply as a timeout, and Redis clock from it', async () => {
    const logger = recorder()
    // Redis' clock jumps an hour ahead after the first reply
    let ahead = 0
    const c = client(() => [Date.now() * 1000 + ahead, 0, 6_000_000])
    const evalsha = c.evalsha
    c.evalsha = async (sha, numKeys, ...args) => {
      const deadline = Number(args[numKeys + 2])
      const clock = Date.now() * 1000 + ahead
      if (args[numKeys + 2] !== '' && clock > deadline) return ['late', clock]
      return evalsha(sha, numKeys, ...args)
    }
    const limiter = createRedisLimiter({
      client: c,
      failurePolicy: 'fail-closed',
      retryIntervalMs: 1,
      logger,
    })
    const consume = () => limiter.consume({ partition: 'key:l', rules })
    expect((await consume()).allowed).toBe(true)
    ahead = 3_600_000_000
    expect(await consume()).toEqual(UNAVAILABLE)
    expect(logger.messages[0]).toMatch(/did not answer within 500 ms/)
    await new Promise((r) => setTimeout(r, 10))
    // the late reply taught it the new offset: the next batch runs in time
    expect((await consume()).allowed).toBe(true)
    // another jump: the deadline of the batch after it follows Redis' clock, so a batch that
    // reaches Redis a second after it was sent is late there
    ahead = 7_200_000_000
    expect(await consume()).toEqual(UNAVAILABLE)
    await new Promise((r) => setTimeout(r, 10))
    ahead += 1_000_000
    expect(await consume()).toEqual(UNAVAILABLE)
    // the deadline is the client's timeout less a fifth (400 ms): half a second is too late
    await new Promise((r) => setTimeout(r, 10))
    ahead += 500_000
    expect(await consume()).toEqual(UNAVAILABLE)
  })

  it('probes again after a probe that failed', async () => {
    let answer: () => unknown = down
    const c = client(() => answer())
    const limiter = createRedisLimiter({
      client: c,
      failurePolicy: 'fail-closed',
      retryIntervalMs: 1,
      logger: recorder(),
    })
    const consume = () => limiter.consume({ partition: 'key:f', rules })
    expect(await consume()).toEqual(UNAVAILABLE)
    await new Promise((r) => setTimeout(r, 10))
    expect(await consume()).toEqual(UNAVAILABLE)
    await new Promise((r) => setTimeout(r, 10))
    answer = admitted
    expect((await consume()).allowed).toBe(true)
    expect(c.runs).toBe(3)
  })
})

describe('redis limiter: Redis Cluster', () => {
  it('sends each decision in its own script run (one slot per run)', async () => {
    const c = { ...client(admitted), isCluster: true }
    let runs = 0
    c.evalsha = async () => {
      runs++
      return admitted()
    }
    const limiter = createRedisLimiter({ client: c })
    const decisions = await Promise.all(
      ['key:a', 'key:b', 'key:c', 'key:d'].map((partition) => limiter.consume({ partition, rules })),
    )
    for (const d of decisions) expect(d.allowed).toBe(true)
    expect(runs).toBe(4)
  })
})

describe('createRedisLimiter: options', () => {
  it('names itself redis, and refuses options that are not an object or a prefix that is not a string', () => {
    const c = client(admitted)
    expect(createRedisLimiter({ client: c }).kind).toBe('redis')
    expect(() => createRedisLimiter(5 as never)).toThrow('createRedisLimiter takes { client')
    expect(() => createRedisLimiter({ client: c, keyPrefix: ['abc'] as never })).toThrow(
      '"keyPrefix" must match',
    )
  })
})
