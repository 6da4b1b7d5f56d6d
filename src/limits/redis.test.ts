import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeLimiter } from '../../test/contract/limiter.js'
import { describeWithService, uniqueName } from '../../test/helpers/services.js'
import { createRedisLimiter } from './redis.js'

describeWithService('redis', 'redis limiter', (url) => {
  let client: Redis
  beforeAll(() => {
    client = new Redis(url)
  })
  afterAll(async () => {
    await client.quit()
  })

  describeLimiter('redis', () => createRedisLimiter({ client, keyPrefix: uniqueName('kwtest') }))

  describe('keys in Redis', () => {
    it('gives every key it writes a TTL and never shows the partition outside its hash tag', async () => {
      const keyPrefix = uniqueName('kwttl')
      const limiter = createRedisLimiter({ client, keyPrefix })
      const rules = [
        { name: 'burst', limit: 5, windowMs: 1000 },
        { name: 'hour', limit: 100, windowMs: 3_600_000 },
      ]
      const quota = { limit: 1000, periodMs: 86_400_000 }
      await limiter.consume({ partition: 'owner:acme{eu}', rules, quota, idempotencyKey: 'req-1' })
      await limiter.consume({ partition: 'key:key_a', rules: rules.slice(0, 1) })
      const keys = (await client.keys(`${keyPrefix}:*`)).sort()
      expect(keys).toEqual([
        `${keyPrefix}:i:{owner:acme%7Beu%7D}:req-1`,
        `${keyPrefix}:l:{key:key_a}`,
        `${keyPrefix}:l:{owner:acme%7Beu%7D}`,
      ])
      const ttls = await Promise.all(keys.map((k) => client.pttl(k)))
      for (const ttl of ttls) expect(ttl).toBeGreaterThan(0)
      // The state lives as long as its longest-lived part (the quota period, 1 day) plus a
      // quarter of it as slack, so busy partitions rarely need their TTL extended.
      expect(ttls[2]).toBeGreaterThan(86_400_000)
      expect(ttls[2]).toBeLessThanOrEqual(86_400_000 * 1.25)
      // One "burst" request leaves T = 200 ms of state, plus 250 ms of slack.
      expect(ttls[1]).toBeLessThanOrEqual(450)
      await client.del(...keys)
    })

    it('never shortens the TTL of state another rule set of the same partition still needs', async () => {
      const keyPrefix = uniqueName('kwshared')
      const limiter = createRedisLimiter({ client, keyPrefix })
      const partition = 'owner:shared'
      await limiter.consume({
        partition,
        rules: [{ name: 'day', limit: 10, windowMs: 86_400_000 }],
      })
      await limiter.consume({ partition, rules: [{ name: 'burst', limit: 10, windowMs: 1000 }] })
      expect(await client.pttl(`${keyPrefix}:l:{${partition}}`)).toBeGreaterThan(8_000_000)
      await limiter.reset(partition)
      expect(await client.exists(`${keyPrefix}:l:{${partition}}`)).toBe(0)
    })

    it('uses Redis TIME when no nowMs is given, so resets are measured on the server clock', async () => {
      const limiter = createRedisLimiter({ client, keyPrefix: uniqueName('kwtime') })
      const rules = [{ name: 'default', limit: 2, windowMs: 60_000 }]
      const first = await limiter.consume({ partition: 'key:t', rules })
      expect(first.policies[0]).toMatchObject({ remaining: 1, resetMs: 30_000 })
      const second = await limiter.consume({ partition: 'key:t', rules })
      // A few ms may pass between the calls on Redis' clock, never more than the test's own.
      expect(second.policies[0]!.remaining).toBe(0)
      expect(second.policies[0]!.resetMs).toBeGreaterThan(59_000)
      expect(second.policies[0]!.resetMs).toBeLessThanOrEqual(60_000)
    })
  })

  describe('createRedisLimiter options', () => {
    it.each([
      [{ keyPrefix: 'bad prefix' }, '"keyPrefix" must match'],
      [{ keyPrefix: '1abc' }, '"keyPrefix" must match'],
      [{ failurePolicy: 'open' }, '"failurePolicy" must be "degrade" or "fail-closed", got "open"'],
      [{ timeoutMs: -5 }, '"timeoutMs" must be a positive integer, got -5'],
      [{ retryIntervalMs: 1.5 }, '"retryIntervalMs" must be a positive integer, got 1.5'],
      [{ logger: {} }, '"logger" must have a warn() method'],
      [{ timeout: 5 }, 'unknown option "timeout" for createRedisLimiter'],
    ])('rejects %j', (options, message) => {
      expect(() => createRedisLimiter({ client, ...(options as object) } as never)).toThrow(message)
    })

    it('rejects a missing client', () => {
      expect(() => createRedisLimiter({} as never)).toThrow(
        '"client" must be a connected ioredis client',
      )
    })
  })
})
