import { once } from 'node:events'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeLimiter } from '../../test/contract/limiter.js'
import { describeWithService, uniqueName } from '../../test/helpers/services.js'
import { createMemoryLimiter } from './memory.js'
import { createRedisLimiter } from './redis.js'
import type { LimitRequest } from './types.js'

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
      expect(limiter.kind).toBe('redis')
      const rules = [
        { name: 'burst', limit: 5, windowMs: 1000 },
        { name: 'hour', limit: 100, windowMs: 3_600_000 },
      ]
      const quota = { limit: 1000, periodMs: 86_400_000 }
      await limiter.consume({
        partition: 'owner:acme{eu}',
        rules,
        quota,
        idempotencyKey: 'req-1',
        operation: 'POST /orders',
      })
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

  describe('batches', () => {
    it('decides a batch exactly as the same requests one by one, in arrival order', async () => {
      // Requests started together go to Redis as batched script runs (64 at most); the memory
      // limiter decides them one at a time. Same inputs, same clock: same decisions.
      const T0 = 1_700_000_000_000
      const burst = [{ name: 'burst', limit: 3, windowMs: 1000 }]
      const both = [
        { name: 'burst', limit: 3, windowMs: 1000 },
        { name: 'hour', limit: 7, windowMs: 3_600_000 },
      ]
      const quota = { limit: 5, periodMs: 60_000 }
      const requests: LimitRequest[] = []
      for (let i = 0; i < 150; i++) {
        const partition = `key:batch${i % 4}`
        const nowMs = T0 + i * 37
        const shape = i % 6
        if (shape === 0) requests.push({ partition, rules: burst, nowMs })
        else if (shape === 1) requests.push({ partition, rules: both, quota, nowMs })
        else if (shape === 2) requests.push({ partition, rules: both, nowMs, cost: 2 })
        else if (shape === 3) requests.push({ partition, rules: [], quota, nowMs, cost: 0 })
        else if (shape === 4) {
          requests.push({
            partition,
            rules: burst,
            quota,
            nowMs,
            idempotencyKey: `req-${i % 24}`,
            operation: `POST /orders/${i % 5}`,
          })
        } else requests.push({ partition, rules: both, quota, nowMs, cost: 9 })
      }
      const redis = createRedisLimiter({ client, keyPrefix: uniqueName('kwbatch') })
      const memory = createMemoryLimiter()
      const together = await Promise.all(requests.map((r) => redis.consume(r)))
      const oneByOne = []
      for (const r of requests) oneByOne.push(await memory.consume(r))
      expect(together).toEqual(oneByOne)
      expect(together.filter((d) => d.allowed).length).toBeGreaterThan(10)
      expect(together.some((d) => d.replayed)).toBe(true)
      expect(together.some((d) => d.code === 'idempotency_key_reused')).toBe(true)
      expect(together.some((d) => d.code === 'quota_exhausted')).toBe(true)
      await memory.close()
      for (let i = 0; i < 4; i++) await redis.reset(`key:batch${i}`)
    })

    it('reports waits and resets far beyond 32 bits of milliseconds exactly', async () => {
      const limiter = createRedisLimiter({ client, keyPrefix: uniqueName('kwlong') })
      const year = 365 * 86_400_000
      const request = {
        partition: 'key:long',
        rules: [{ name: 'yearly', limit: 1, windowMs: 5 * year }],
        quota: { limit: 1, periodMs: 6 * year },
        nowMs: 1_700_000_000_000,
      }
      expect((await limiter.consume(request)).allowed).toBe(true)
      expect(await limiter.consume(request)).toEqual({
        allowed: false,
        code: 'rate_limited',
        retryAfterMs: 6 * year,
        policies: [
          {
            kind: 'rate',
            name: 'yearly',
            limit: 1,
            windowMs: 5 * year,
            remaining: 0,
            resetMs: 5 * year,
          },
          {
            kind: 'quota',
            name: 'quota',
            limit: 1,
            windowMs: 6 * year,
            remaining: 0,
            resetMs: 6 * year,
          },
        ],
      })
      await limiter.reset('key:long')
    })

    it('applies the failure policy to a decision that fails in Redis, not to its batch', async () => {
      const keyPrefix = uniqueName('kwbroken')
      const messages: string[] = []
      const limiter = createRedisLimiter({
        client,
        keyPrefix,
        failurePolicy: 'fail-closed',
        logger: { warn: (m) => messages.push(m) },
      })
      // Not a hash: HMGET fails with WRONGTYPE for this partition only.
      await client.set(`${keyPrefix}:l:{key:broken}`, 'x', 'PX', 60_000)
      const rules = [{ name: 'default', limit: 10, windowMs: 60_000 }]
      const [before, broken, after] = await Promise.all([
        limiter.consume({ partition: 'key:ok1', rules }),
        limiter.consume({ partition: 'key:broken', rules }),
        limiter.consume({ partition: 'key:ok2', rules }),
      ])
      expect(before).toMatchObject({ allowed: true, policies: [{ remaining: 9 }] })
      expect(after).toMatchObject({ allowed: true, policies: [{ remaining: 9 }] })
      expect(broken).toEqual({
        allowed: false,
        code: 'store_unavailable',
        policies: [],
        retryAfterMs: 1000,
      })
      expect(messages).toHaveLength(1)
      expect(messages[0]).toMatch(/WRONGTYPE/)
      await client.del(
        `${keyPrefix}:l:{key:broken}`,
        `${keyPrefix}:l:{key:ok1}`,
        `${keyPrefix}:l:{key:ok2}`,
      )
    })
  })

  describe('partitions and records', () => {
    it('keeps partitions apart that differ only in {, } or % and their escapes', async () => {
      const keyPrefix = uniqueName('kwesc')
      const limiter = createRedisLimiter({ client, keyPrefix })
      const rules = [{ name: 'default', limit: 5, windowMs: 60_000 }]
      const partitions = ['owner:a{b}', 'owner:a%7Bb%7D', 'owner:a%b', 'owner:a%25b']
      for (const [i, partition] of partitions.entries()) {
        for (let j = 0; j <= i; j++) await limiter.consume({ partition, rules })
      }
      for (const [i, partition] of partitions.entries()) {
        const peek = await limiter.consume({ partition, rules, cost: 0 })
        expect([partition, peek.policies[0]!.remaining]).toEqual([partition, 4 - i])
      }
      const keys = (await client.keys(`${keyPrefix}:*`)).sort()
      expect(keys).toEqual(
        [
          `${keyPrefix}:l:{owner:a%7Bb%7D}`,
          `${keyPrefix}:l:{owner:a%257Bb%257D}`,
          `${keyPrefix}:l:{owner:a%25b}`,
          `${keyPrefix}:l:{owner:a%2525b}`,
        ].sort(),
      )
      for (const partition of partitions) await limiter.reset(partition)
      expect(await client.keys(`${keyPrefix}:*`)).toEqual([])
    })

    it('forgets an idempotency record after idempotencyTtlMs', async () => {
      const limiter = createRedisLimiter({
        client,
        keyPrefix: uniqueName('kwidem'),
        idempotencyTtlMs: 1000,
      })
      const quota = { limit: 10, periodMs: 60_000 }
      const at = (nowMs: number, operation: string) =>
        limiter.consume({
          partition: 'key:i',
          rules: [],
          quota,
          nowMs: 1_700_000_000_000 + nowMs,
          idempotencyKey: 'once',
          operation,
        })
      expect((await at(0, 'POST /a')).replayed).toBeUndefined()
      expect(await at(999, 'POST /a')).toMatchObject({
        replayed: true,
        policies: [{ remaining: 9 }],
      })
      expect((await at(999, 'POST /b')).code).toBe('idempotency_key_reused')
      const fresh = await at(1000, 'POST /b')
      expect(fresh).toMatchObject({ allowed: true, policies: [{ remaining: 8 }] })
      expect(fresh.replayed).toBeUndefined()
      await limiter.reset('key:i')
    })
  })

  describe('a client whose connection has ended', () => {
    const rules = [{ name: 'default', limit: 2, windowMs: 60_000 }]

    async function ended(): Promise<Redis> {
      const gone = new Redis(url, { lazyConnect: true })
      await gone.connect()
      const closed = once(gone, 'end')
      await gone.quit()
      await closed
      expect(gone.status).toBe('end')
      return gone
    }

    it('refuses at once with store_unavailable under fail-closed, logging the state once', async () => {
      const messages: string[] = []
      const limiter = createRedisLimiter({
        client: await ended(),
        failurePolicy: 'fail-closed',
        unavailableRetryAfterMs: 2500,
        logger: { warn: (m) => messages.push(m) },
      })
      for (let i = 0; i < 2; i++) {
        expect(await limiter.consume({ partition: 'key:e', rules })).toEqual({
          allowed: false,
          code: 'store_unavailable',
          policies: [],
          retryAfterMs: 2500,
        })
      }
      expect(limiter.isAvailable).toBe(false)
      expect(messages).toEqual([
        'keyward: Redis rate limiter unavailable (connection end); refusing requests with 503 until it returns',
      ])
    })

    it('decides with the fallback it was given, keeping its idempotency TTL, and never closes it', async () => {
      const messages: string[] = []
      const fallback = createMemoryLimiter({ idempotencyTtlMs: 1000 })
      const limiter = createRedisLimiter({
        client: await ended(),
        fallback,
        logger: { warn: (m) => messages.push(m) },
      })
      const first = await limiter.consume({ partition: 'key:f', rules, nowMs: 0 })
      expect(first).toEqual({
        allowed: true,
        degraded: true,
        policies: [
          {
            kind: 'rate',
            name: 'default',
            limit: 2,
            windowMs: 60_000,
            remaining: 1,
            resetMs: 30_000,
          },
        ],
      })
      expect(messages).toEqual([
        'keyward: Redis rate limiter unavailable (connection end); using local in-memory limits until it returns',
      ])
      await limiter.close()
      // the caller's fallback still holds the state
      const peek = await fallback.consume({ partition: 'key:f', rules, nowMs: 0, cost: 0 })
      expect(peek.policies[0]!.remaining).toBe(1)
      await fallback.close()
    })

    it('gives its own fallback the idempotency TTL', async () => {
      const limiter = createRedisLimiter({
        client: await ended(),
        idempotencyTtlMs: 1000,
        logger: { warn() {} },
      })
      const idem = (nowMs: number, operation: string) =>
        limiter.consume({ partition: 'key:g', rules, nowMs, idempotencyKey: 'k', operation })
      await idem(0, 'POST /a')
      expect((await idem(999, 'POST /b')).code).toBe('idempotency_key_reused')
      expect(await idem(1000, 'POST /b')).toMatchObject({ allowed: true, degraded: true })
      await limiter.close()
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
      [{ keyPrefix: `a${'b'.repeat(64)}` }, '"keyPrefix" must match'],
      [
        { keyPrefix: 5 },
        '"keyPrefix" must match /^[A-Za-z_][A-Za-z0-9_]{0,63}$/ (letters, digits, "_"), got 5',
      ],
      [{ keyPrefix: 'ab-c' }, '"keyPrefix" must match'],
      // its text would pass the pattern
      [
        { keyPrefix: ['myapp'] },
        '"keyPrefix" must match /^[A-Za-z_][A-Za-z0-9_]{0,63}$/ (letters, digits, "_"), got ["myapp"]',
      ],
      [
        { unavailableRetryAfterMs: 0 },
        '"unavailableRetryAfterMs" must be a positive integer, got 0',
      ],
      [{ idempotencyTtlMs: -1 }, '"idempotencyTtlMs" must be a positive integer, got -1'],
      [{ fallback: {} }, '"fallback" must be a Limiter (e.g. createMemoryLimiter())'],
      [{ timeout: 5 }, 'unknown option "timeout" for createRedisLimiter'],
    ])('rejects %j', (options, message) => {
      expect(() => createRedisLimiter({ client, ...(options as object) } as never)).toThrow(message)
    })

    it('rejects a missing client', () => {
      expect(() => createRedisLimiter({} as never)).toThrow(
        '"client" must be a connected ioredis client',
      )
    })

    it('rejects a client without eval or evalsha, and options that are not an object', () => {
      const { eval: _eval, ...noEval } = { status: 'ready', evalsha: () => {}, eval: () => {} }
      for (const bad of [null, noEval, { status: 'ready', eval: () => {} }]) {
        expect(() => createRedisLimiter({ client: bad } as never)).toThrow(
          '"client" must be a connected ioredis client (new Redis(url))',
        )
      }
      for (const bad of [null, 'redis://127.0.0.1:6379'])
        expect(() => createRedisLimiter(bad as never)).toThrow(
          'createRedisLimiter takes { client, keyPrefix?, failurePolicy?, … }',
        )
    })

    it('accepts a prefix of 64 characters, starting with "_"', async () => {
      const keyPrefix = `_${'x'.repeat(63)}`
      const limiter = createRedisLimiter({ client, keyPrefix })
      await limiter.consume({
        partition: 'key:p',
        rules: [{ name: 'a', limit: 1, windowMs: 1000 }],
      })
      expect(await client.exists(`${keyPrefix}:l:{key:p}`)).toBe(1)
      await limiter.reset('key:p')
    })
  })
})
