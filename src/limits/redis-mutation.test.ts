import { once } from 'node:events'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type OwnRedis, ownRedis } from '../../test/fixtures/redis-server.js'
import { startTcpProxy, type TcpProxy } from '../../test/fixtures/tcp-proxy.js'
import { uniqueName } from '../../test/helpers/services.js'
import { createRedisLimiter, type RedisLimiterOptions } from './redis.js'
import type { LimitDecision, LimitRequest } from './types.js'

// How the Redis limiter behaves when Redis misbehaves: a script decision failing, an EVALSHA
// refused, replies late or lost, an outage after another. A redis-server child of this file's
// own (ACL changes and SCRIPT FLUSH would disturb other tests on the shared one), reached
// through a TCP proxy that can hold or delay what goes each way; the clients are real ioredis.

const USER = 'kwmut'
const PASSWORD = 'kwmut-password'
// a day: a request's charge stays visible in remaining for the whole test
const rules = [{ name: 'default', limit: 100, windowMs: 86_400_000 }]
const keyPrefix = uniqueName('kwmut')
const stateKey = (partition: string) => `${keyPrefix}:l:{${partition}}`
const unavailable = {
  allowed: false,
  code: 'store_unavailable',
  policies: [],
  retryAfterMs: 1000,
}

function recorder(): { warn(message: string): void; messages: string[] } {
  const messages: string[] = []
  return { messages, warn: (m) => messages.push(m) }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Longer than a retryIntervalMs of 1, so the next request probes Redis again. */
const pastRetry = () => sleep(5)

let redis: OwnRedis
let admin: Redis
let proxy: TcpProxy
const clients: Redis[] = []

beforeAll(async () => {
  redis = await ownRedis()
  await redis.start()
  admin = new Redis(redis.url)
  await admin.call('ACL', 'SETUSER', USER, 'on', `>${PASSWORD}`, '~*', '&*', '+@all')
  proxy = await startTcpProxy({ host: '127.0.0.1', port: redis.port })
})

afterEach(async () => {
  proxy.requests.release()
  proxy.replies.release()
  proxy.requests.delay(0)
  proxy.replies.delay(0)
  for (const c of clients.splice(0)) c.disconnect()
  await admin.call('ACL', 'SETUSER', USER, '+@all')
  await admin.call('ACL', 'LOG', 'RESET')
  const keys = await admin.keys(`${keyPrefix}:*`)
  if (keys.length > 0) await admin.del(...keys)
})

afterAll(async () => {
  await proxy?.close()
  admin?.disconnect()
  await redis?.stop()
})

/** A real ioredis client of the limited user, through the proxy, ready. */
async function connect({ stringNumbers = false } = {}): Promise<Redis> {
  const client = new Redis({
    host: '127.0.0.1',
    port: proxy.port,
    username: USER,
    password: PASSWORD,
    stringNumbers,
  })
  client.on('error', () => {})
  clients.push(client)
  await once(client, 'ready')
  return client
}

async function limiterOn(client: Redis, options: Partial<RedisLimiterOptions> = {}) {
  const logger = recorder()
  const limiter = createRedisLimiter({
    client,
    keyPrefix,
    logger,
    failurePolicy: 'fail-closed',
    timeoutMs: 10_000,
    retryIntervalMs: 1,
    ...options,
  })
  return { limiter, messages: logger.messages }
}

/** A partition whose state key holds a string: the script's HMGET fails there (WRONGTYPE). */
async function wrongType(partition: string): Promise<LimitRequest> {
  await admin.set(stateKey(partition), 'not a hash')
  return { partition, rules }
}

const acl = (...rules: string[]) => admin.call('ACL', 'SETUSER', USER, ...rules)
const WENT = /^keyward: Redis rate limiter unavailable \(/
const BACK = 'keyward: Redis rate limiter is reachable again; limits are shared again'

describe('a decision that fails inside the script', () => {
  it('logs its Redis error and answers the next requests of the retry interval without Redis', async () => {
    const { limiter, messages } = await limiterOn(await connect(), { retryIntervalMs: 60_000 })
    expect(await limiter.consume(await wrongType('key:wrong'))).toEqual(unavailable)
    expect(messages).toEqual([
      expect.stringMatching(
        /^keyward: Redis rate limiter unavailable \(WRONGTYPE [^)]*\); refusing requests with 503 until it returns$/,
      ),
    ])
    expect(limiter.isAvailable).toBe(false)
    // Redis answers again at once, but the limiter waits for the retry interval
    expect(await limiter.consume({ partition: 'key:next', rules })).toEqual(unavailable)
    expect(await admin.exists(stateKey('key:next'))).toBe(0)
  })

  it('lets one request of a turn probe Redis after the retry interval, then recovers again after another outage', async () => {
    const { limiter, messages } = await limiterOn(await connect())
    const wrong = await wrongType('key:wrong')
    for (let outage = 0; outage < 2; outage++) {
      expect(await limiter.consume(wrong)).toEqual(unavailable)
      expect(limiter.isAvailable).toBe(false)
      await pastRetry()
      // the first request probes Redis; the one started with it does not wait for the probe
      const [probe, other] = await Promise.all([
        limiter.consume({ partition: 'key:probe', rules }),
        limiter.consume({ partition: 'key:other', rules }),
      ])
      expect(probe).toMatchObject({ allowed: true, policies: [{ remaining: 99 - outage }] })
      expect(other).toEqual(unavailable)
      expect(limiter.isAvailable).toBe(true)
    }
    expect(messages).toEqual([expect.stringMatching(WENT), BACK, expect.stringMatching(WENT), BACK])
    expect(await admin.exists(stateKey('key:other'))).toBe(0)
  })
})

describe('a probe', () => {
  it('that fails lets the next request probe again after the retry interval', async () => {
    const { limiter, messages } = await limiterOn(await connect())
    expect(await limiter.consume(await wrongType('key:wrong'))).toEqual(unavailable)
    await acl('-evalsha')
    await pastRetry()
    expect(await limiter.consume({ partition: 'key:a', rules })).toEqual(unavailable)
    // the request above did reach Redis, as the probe, and was refused
    expect(await admin.call('ACL', 'LOG')).toHaveLength(1)
    await acl('+evalsha')
    await pastRetry()
    expect(await limiter.consume({ partition: 'key:a', rules })).toMatchObject({ allowed: true })
    expect(limiter.isAvailable).toBe(true)
    expect(messages).toEqual([expect.stringMatching(WENT), BACK])
  })

  it.each([
    ['one of its decisions fails in the script', 'script'],
    ['Redis refuses it', 'refused'],
  ])('stays the only one while a batch sent before the outage settles (%s)', async (_, how) => {
    const { limiter } = await limiterOn(await connect())
    const wrong = await wrongType('key:wrong')
    const early = how === 'script' ? await wrongType('key:wrong2') : { partition: 'key:b', rules }
    proxy.requests.hold()
    // two batches in flight while Redis is up: the first will take it down
    const first = limiter.consume(wrong)
    await proxy.requests.whenHeld(1)
    const second = limiter.consume(early)
    await proxy.requests.whenHeld(2)
    proxy.requests.release(1)
    expect(await first).toEqual(unavailable)
    await pastRetry()
    const probe = limiter.consume({ partition: 'key:probe', rules })
    await proxy.requests.whenHeld(2)
    // the second batch settles (as a failure) while the probe is in flight
    if (how === 'refused') await acl('-evalsha')
    proxy.requests.release(1)
    expect(await second).toEqual(unavailable)
    await acl('+evalsha')
    await pastRetry()
    // the probe is still in flight: no second one
    const third = limiter.consume({ partition: 'key:third', rules })
    proxy.requests.release()
    expect(await probe).toMatchObject({ allowed: true })
    expect(await third).toEqual(unavailable)
    expect(await admin.exists(stateKey('key:third'))).toBe(0)
  })
})

describe('replies after the timeout', () => {
  it('ignores a reply that arrives after the batch timed out', async () => {
    const client = await connect()
    const { limiter, messages } = await limiterOn(client, { timeoutMs: 100 })
    proxy.replies.hold()
    expect(await limiter.consume({ partition: 'key:a', rules })).toEqual(unavailable)
    proxy.replies.release()
    // replies come in order: once PING's is in, the held one has been read
    await client.ping()
    expect(limiter.isAvailable).toBe(false)
    expect(messages).toEqual([expect.stringMatching(/did not answer within 100 ms/)])
  })

  it('answers a batch that timed out and then failed with the failure policy once', async () => {
    const client = await connect()
    const { limiter } = await limiterOn(client, {
      failurePolicy: 'degrade',
      timeoutMs: 100,
      retryIntervalMs: 60_000,
    })
    const request = { partition: 'key:a', rules }
    proxy.requests.hold()
    expect(await limiter.consume(request)).toMatchObject({
      degraded: true,
      policies: [{ remaining: 99 }],
    })
    // the stuck EVALSHA reaches Redis now, and is refused
    await acl('-evalsha')
    proxy.requests.release()
    await client.ping()
    expect(await admin.call('ACL', 'LOG')).toHaveLength(1)
    // the local limiter counted the first request once
    expect(await limiter.consume(request)).toMatchObject({
      degraded: true,
      policies: [{ remaining: 98 }],
    })
    await limiter.close()
  })
})

describe('a batch that Redis runs after its deadline', () => {
  // The deadline is 80% of timeoutMs after sending, in Redis time, through the clock offset
  // learned from the last reply. Delaying a reply by the proxy makes Redis' clock look behind
  // by as much; holding a request makes Redis run it later. Every delay below is at least
  // 330 ms away from the edge it must stay on the right side of, so that a loaded machine's
  // late timers cannot move a batch across it.
  const timeoutMs = 1500

  it('charges nothing, counts as a timeout, and keeps the batches after it to their deadline', async () => {
    const { limiter, messages } = await limiterOn(await connect(), { timeoutMs })
    const request = { partition: 'key:late', rules }
    // Redis' clock looks 750 ms behind
    proxy.replies.delay(750)
    expect(await limiter.consume(request)).toMatchObject({ policies: [{ remaining: 99 }] })
    // run 790 ms after sending: past the deadline (1200 - 750), long before the timeout
    proxy.requests.delay(790)
    // its 'late' reply makes Redis' clock look 375 ms behind
    proxy.replies.delay(375)
    expect(await limiter.consume(request)).toEqual(unavailable)
    expect(messages).toEqual([expect.stringMatching(/did not answer within 1500 ms/)])
    proxy.replies.delay(0)
    await pastRetry()
    // the next probe, run 1160 ms after sending, is past its deadline (1200 - 375) too
    proxy.requests.delay(1160)
    expect(await limiter.consume(request)).toEqual(unavailable)
    proxy.requests.delay(0)
    await pastRetry()
    // neither late batch was charged
    expect(await limiter.consume(request)).toMatchObject({
      allowed: true,
      policies: [{ remaining: 98 }],
    })
    expect(messages).toEqual([expect.stringMatching(WENT), BACK])
  })

  it("takes Redis' clock from the 'late' reply", async () => {
    const { limiter } = await limiterOn(await connect(), { timeoutMs })
    const request = { partition: 'key:late', rules }
    proxy.replies.delay(750)
    expect(await limiter.consume(request)).toMatchObject({ policies: [{ remaining: 99 }] })
    proxy.replies.delay(0)
    proxy.requests.delay(790)
    expect(await limiter.consume(request)).toEqual(unavailable)
    await pastRetry()
    // 825 ms after sending is within the deadline on the clock the 'late' reply gave
    // (1200 ms), not on the one the first reply gave (450 ms)
    proxy.requests.delay(825)
    expect(await limiter.consume(request)).toMatchObject({
      allowed: true,
      policies: [{ remaining: 98 }],
    })
  })
})

describe('the script cache and permissions', () => {
  it('runs the script with EVAL when Redis lost it', async () => {
    const { limiter, messages } = await limiterOn(await connect())
    await admin.script('FLUSH')
    expect(await limiter.consume({ partition: 'key:a', rules })).toMatchObject({ allowed: true })
    expect(messages).toEqual([])
  })

  it('does not retry with EVAL when EVALSHA fails otherwise', async () => {
    await acl('-evalsha')
    const { limiter, messages } = await limiterOn(await connect())
    expect(await limiter.consume({ partition: 'key:a', rules })).toEqual(unavailable)
    expect(messages).toEqual([expect.stringMatching(/^[^(]*\(NOPERM [^)]*'evalsha'/)])
    expect(await admin.exists(stateKey('key:a'))).toBe(0)
  })

  it('applies the failure policy at once when EVAL fails after NOSCRIPT', async () => {
    await acl('-eval')
    await admin.script('FLUSH')
    const { limiter, messages } = await limiterOn(await connect())
    expect(await limiter.consume({ partition: 'key:a', rules })).toEqual(unavailable)
    expect(messages).toEqual([expect.stringMatching(/^[^(]*\(NOPERM [^)]*'eval'/)])
  })
})

describe('a burst', () => {
  it('whose last decision fails leaves the limiter down, whatever its size', async () => {
    const client = await connect()
    const wrong = await wrongType('key:wrong')
    // the burst leaves as batches of at most 64: sizes around 64 and 128 in the last batch
    for (const size of [64, 65, 66, 67, 68, 69, 70, 128, 132]) {
      const { limiter, messages } = await limiterOn(client, { retryIntervalMs: 60_000 })
      const requests = Array.from({ length: size - 1 }, (_, i) => ({
        partition: `key:burst${i}`,
        rules,
      }))
      const decisions = await Promise.all([...requests, wrong].map((r) => limiter.consume(r)))
      expect(decisions.filter((d) => d.allowed)).toHaveLength(size - 1)
      expect(decisions.at(-1)).toEqual(unavailable)
      await client.ping()
      expect([size, limiter.isAvailable, messages.length]).toEqual([size, false, 1])
    }
  })
})

describe('a request without rules or quota', () => {
  it('is admitted without asking Redis, even while Redis is unavailable', async () => {
    const client = await connect()
    client.disconnect()
    await once(client, 'end')
    for (const failurePolicy of ['fail-closed', 'degrade'] as const) {
      const { limiter } = await limiterOn(client, { failurePolicy })
      const decision: LimitDecision = await limiter.consume({ partition: 'key:none', rules: [] })
      expect(decision).toEqual({ allowed: true, policies: [] })
      await limiter.close()
    }
  })
})

describe('partitions', () => {
  it('escapes a partition made only of {, } and %', async () => {
    const { limiter } = await limiterOn(await connect())
    for (const partition of ['%', '{', '}', '{}%']) await limiter.consume({ partition, rules })
    expect((await admin.keys(`${keyPrefix}:*`)).sort()).toEqual(
      [stateKey('%25'), stateKey('%7B'), stateKey('%7D'), stateKey('%7B%7D%25')].sort(),
    )
    for (const partition of ['%', '{', '}', '{}%']) await limiter.reset(partition)
    expect(await admin.keys(`${keyPrefix}:*`)).toEqual([])
  })
})

describe('a reply this client cannot read', () => {
  // ioredis' stringNumbers option turns the script's integers into strings
  it('gives no decision, even when every decision in it failed', async () => {
    const client = await connect({ stringNumbers: true })
    for (const request of [{ partition: 'key:a', rules }, await wrongType('key:wrong')]) {
      const { limiter, messages } = await limiterOn(client)
      expect(await limiter.consume(request)).toEqual(unavailable)
      expect(messages).toEqual([expect.stringMatching(/unexpected reply from the Redis limiter/)])
    }
  })

  // Redis' real reply, changed on its way back as a script of another shape would answer
  it.each([
    ['one element too many', (reply: unknown[]) => [...reply, 0]],
    ['a decision that is a string but not a failure', (reply: unknown[]) => [reply[0], 'x']],
  ])('gives no decision for a reply with %s', async (_, change) => {
    const client = await connect()
    const altered = Object.assign(Object.create(client) as Redis, {
      evalsha: async (...args: Parameters<Redis['evalsha']>) =>
        change((await client.evalsha(...args)) as unknown[]),
    })
    const { limiter, messages } = await limiterOn(altered)
    expect(await limiter.consume({ partition: 'key:a', rules })).toEqual(unavailable)
    expect(messages).toEqual([expect.stringMatching(/unexpected reply from the Redis limiter/)])
    expect(limiter.isAvailable).toBe(false)
  })
})
