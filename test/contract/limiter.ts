import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KeywardError } from '../../src/core/errors.js'
import type { LimitDecision, Limiter, LimitRequest } from '../../src/limits/types.js'
import { uniqueName } from '../helpers/services.js'

// Time is passed as `nowMs` on every call, so both backends are judged at the same instants
// without sleeping; only the concurrency test uses the backend's own clock, with windows far
// longer than the test.
const T0 = 1_700_000_000_000

/**
 * The suite every limiter backend must pass: GCRA semantics, all-or-nothing charging across
 * rules and the quota, quotas, costs, idempotency, exact admission under concurrency, validation.
 */
export function describeLimiter(name: string, make: () => Limiter | Promise<Limiter>): void {
  describe(`limiter contract: ${name}`, () => {
    let limiter: Limiter
    beforeAll(async () => {
      limiter = await make()
    })
    afterAll(async () => {
      await limiter?.close()
    })

    const part = (): string => uniqueName('key')
    const at = (
      partition: string,
      offsetMs: number,
      rest: Omit<LimitRequest, 'partition' | 'nowMs'>,
    ): Promise<LimitDecision> => limiter.consume({ partition, nowMs: T0 + offsetMs, ...rest })

    it('admits up to the limit at once, then refuses with rate_limited and an exact wait', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 10, windowMs: 1000 }]
      for (let i = 0; i < 10; i++) {
        const d = await at(p, 0, { rules })
        expect(d).toEqual({
          allowed: true,
          policies: [
            {
              kind: 'rate',
              name: 'default',
              limit: 10,
              windowMs: 1000,
              remaining: 9 - i,
              resetMs: (i + 1) * 100,
            },
          ],
        })
      }
      const refused = await at(p, 0, { rules })
      expect(refused).toEqual({
        allowed: false,
        code: 'rate_limited',
        retryAfterMs: 100,
        policies: [
          { kind: 'rate', name: 'default', limit: 10, windowMs: 1000, remaining: 0, resetMs: 1000 },
        ],
      })
      // One emission interval (100 ms) earns exactly one more request, not a whole new window.
      expect((await at(p, 99, { rules })).allowed).toBe(false)
      expect((await at(p, 100, { rules })).allowed).toBe(true)
      expect((await at(p, 100, { rules })).allowed).toBe(false)
    })

    it('refills continuously: half a window later, half the limit is back', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 10, windowMs: 1000 }]
      for (let i = 0; i < 10; i++) await at(p, 0, { rules })
      const peek = await at(p, 500, { rules, cost: 0 })
      expect(peek.allowed).toBe(true)
      expect(peek.policies[0]).toMatchObject({ remaining: 5, resetMs: 500 })
      for (let i = 0; i < 5; i++) expect((await at(p, 500, { rules })).allowed).toBe(true)
      expect((await at(p, 500, { rules })).allowed).toBe(false)
      // A full window after the last charge, the whole limit is available again.
      const later = await at(p, 1500, { rules, cost: 0 })
      expect(later.policies[0]).toMatchObject({ remaining: 10, resetMs: 0 })
    })

    it('rounds a limit that does not divide its window up to whole microseconds', async () => {
      const p = part()
      const rules = [{ name: 'odd', limit: 3, windowMs: 1000 }]
      // T = ceil(1e6 / 3) = 333 334 µs: a burst of 3, then one request every 333.334 ms.
      const admitted: number[] = []
      for (let t = 0; t < 3000; t += 10) {
        if ((await at(p, t, { rules })).allowed) admitted.push(t)
      }
      expect(admitted).toEqual([0, 10, 20, 340, 670, 1010, 1340, 1670, 2010, 2340, 2670])
    })

    it('checks every rule before charging any: a request refused by one charges none', async () => {
      const p = part()
      const rules = [
        { name: 'burst', limit: 2, windowMs: 1000 },
        { name: 'hour', limit: 5, windowMs: 3_600_000 },
      ]
      expect((await at(p, 0, { rules })).allowed).toBe(true)
      expect((await at(p, 0, { rules })).allowed).toBe(true)
      const refused = await at(p, 0, { rules })
      expect(refused.allowed).toBe(false)
      expect(refused.code).toBe('rate_limited')
      expect(refused.policies.map((x) => [x.name, x.remaining])).toEqual([
        ['burst', 0],
        ['hour', 3],
      ])
      // The refusal charged nothing to "hour": three more fit once "burst" has refilled.
      for (let i = 0; i < 3; i++)
        expect((await at(p, 1000 + i * 500, { rules })).allowed).toBe(true)
      const hour = await at(p, 10_000, { rules })
      expect(hour.allowed).toBe(false)
      expect(hour.policies[1]).toMatchObject({ name: 'hour', remaining: 0 })
      expect(hour.policies[0]).toMatchObject({ name: 'burst', remaining: 2 })
      // Five charges put "hour" 5 x 12 min ahead; a sixth fits once 12 min have passed.
      expect(hour.retryAfterMs).toBe(720_000 - 10_000)
    })

    it('keeps a quota of credits for a fixed period starting at first use', async () => {
      const p = part()
      const quota = { limit: 3, periodMs: 60_000 }
      const first = await at(p, 100, { rules: [], quota })
      expect(first).toEqual({
        allowed: true,
        policies: [
          {
            kind: 'quota',
            name: 'quota',
            limit: 3,
            windowMs: 60_000,
            remaining: 2,
            resetMs: 60_000,
          },
        ],
      })
      expect((await at(p, 200, { rules: [], quota })).policies[0]!.remaining).toBe(1)
      expect((await at(p, 300, { rules: [], quota })).policies[0]!.remaining).toBe(0)
      const refused = await at(p, 10_100, { rules: [], quota })
      expect(refused).toEqual({
        allowed: false,
        code: 'quota_exhausted',
        retryAfterMs: 50_000,
        policies: [
          {
            kind: 'quota',
            name: 'quota',
            limit: 3,
            windowMs: 60_000,
            remaining: 0,
            resetMs: 50_000,
          },
        ],
      })
      expect((await at(p, 60_099, { rules: [], quota })).allowed).toBe(false)
      // The period ended at 60 100; the next request starts a new one.
      const next = await at(p, 70_000, { rules: [], quota })
      expect(next.allowed).toBe(true)
      expect(next.policies[0]).toMatchObject({ remaining: 2, resetMs: 60_000 })
    })

    it('charges rules and quota together or not at all', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 5, windowMs: 1000 }]
      const quota = { limit: 2, periodMs: 3_600_000 }
      await at(p, 0, { rules, quota })
      await at(p, 0, { rules, quota })
      const byQuota = await at(p, 0, { rules, quota })
      expect(byQuota.code).toBe('quota_exhausted')
      expect(byQuota.retryAfterMs).toBe(3_600_000)
      // The quota refusal did not charge the rate limit.
      expect(byQuota.policies[0]).toMatchObject({ name: 'default', remaining: 3 })
      expect(byQuota.policies[1]).toMatchObject({ kind: 'quota', remaining: 0 })

      const q = part()
      const tight = [{ name: 'default', limit: 1, windowMs: 1000 }]
      await at(q, 0, { rules: tight, quota })
      const byRule = await at(q, 0, { rules: tight, quota })
      expect(byRule.code).toBe('rate_limited')
      expect(byRule.policies[1]).toMatchObject({ kind: 'quota', remaining: 1 })
    })

    it('names rate_limited when both refuse, with the longest wait as retryAfterMs', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 1, windowMs: 1000 }]
      const quota = { limit: 1, periodMs: 60_000 }
      await at(p, 0, { rules, quota })
      const refused = await at(p, 0, { rules, quota })
      expect(refused.code).toBe('rate_limited')
      expect(refused.retryAfterMs).toBe(60_000)
    })

    it('gives the longest wait of the rules that refuse, whatever their order', async () => {
      const p = part()
      const rules = [
        { name: 'hour', limit: 1, windowMs: 3_600_000 },
        { name: 'burst', limit: 1, windowMs: 1000 },
      ]
      await at(p, 0, { rules })
      const refused = await at(p, 0, { rules })
      expect(refused).toMatchObject({ code: 'rate_limited', retryAfterMs: 3_600_000 })
    })

    it('keeps a partition as long as its longest rule or quota needs it', async () => {
      // the rule or quota listed last ends first: the state must outlive it
      const p = part()
      const rules = [
        { name: 'hour', limit: 2, windowMs: 3_600_000 },
        { name: 'burst', limit: 10, windowMs: 1000 },
      ]
      await at(p, 0, { rules })
      await at(p, 0, { rules })
      expect((await at(p, 5000, { rules })).code).toBe('rate_limited')
      const q = part()
      const hourly = [{ name: 'hour', limit: 1, windowMs: 3_600_000 }]
      const quota = { limit: 100, periodMs: 60_000 }
      await at(q, 0, { rules: hourly, quota })
      expect((await at(q, 120_000, { rules: hourly, quota })).code).toBe('rate_limited')
    })

    it('charges a cost to every rule and the quota; cost 0 only reads', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 10, windowMs: 1000 }]
      const quota = { limit: 100, periodMs: 60_000 }
      const d = await at(p, 0, { rules, quota, cost: 4 })
      expect(d.policies.map((x) => x.remaining)).toEqual([6, 96])
      expect(d.policies[0]!.resetMs).toBe(400)
      const peek = await at(p, 0, { rules, quota, cost: 0 })
      expect(peek.allowed).toBe(true)
      expect(peek.policies.map((x) => x.remaining)).toEqual([6, 96])
      const tooBig = await at(p, 0, { rules, quota, cost: 7 })
      expect(tooBig).toMatchObject({ allowed: false, code: 'rate_limited', retryAfterMs: 100 })
      expect((await at(p, 0, { rules, quota, cost: 6 })).allowed).toBe(true)
    })

    it('never admits a cost above a limit, and says the window is the wait', async () => {
      const p = part()
      const d = await at(p, 0, { rules: [{ name: 'default', limit: 5, windowMs: 1000 }], cost: 6 })
      expect(d).toMatchObject({ allowed: false, code: 'rate_limited', retryAfterMs: 1000 })
      const q = await at(p, 0, { rules: [], quota: { limit: 5, periodMs: 1000 }, cost: 6 })
      expect(q).toMatchObject({ allowed: false, code: 'quota_exhausted', retryAfterMs: 1000 })
    })

    // Idempotency (docs/limits.md#idempotency-key): a replay pays the rate limits, not the
    // quota; the same key on another operation is refused and charges nothing.
    const idem = (key: string, operation: string) => ({ idempotencyKey: key, operation })

    it('charges a replay of the same operation to the rate limits, not to the quota', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 10, windowMs: 60_000 }]
      const quota = { limit: 5, periodMs: 60_000 }
      const order = idem('order-123', 'POST /orders')
      const first = await at(p, 0, { rules, quota, cost: 2, ...order })
      expect(first.allowed).toBe(true)
      expect(first.replayed).toBeUndefined()
      expect(first.policies.map((x) => x.remaining)).toEqual([8, 3])
      const again = await at(p, 0, { rules, quota, cost: 2, ...order })
      expect(again).toEqual({
        allowed: true,
        replayed: true,
        policies: [
          {
            kind: 'rate',
            name: 'default',
            limit: 10,
            windowMs: 60_000,
            remaining: 6,
            resetMs: 24_000,
          },
          {
            kind: 'quota',
            name: 'quota',
            limit: 5,
            windowMs: 60_000,
            remaining: 3,
            resetMs: 60_000,
          },
        ],
      })
      const other = await at(p, 0, { rules, quota, cost: 1 })
      expect(other.policies.map((x) => x.remaining)).toEqual([5, 2])
      // The same idempotency key in another partition is another request.
      const elsewhere = await at(part(), 0, { rules, quota, ...order })
      expect(elsewhere.replayed).toBeUndefined()
      expect(elsewhere.policies[1]!.remaining).toBe(4)
    })

    it('admits a replay once the quota is used up: its operation has paid already', async () => {
      const p = part()
      const quota = { limit: 1, periodMs: 60_000 }
      const order = idem('order-1', 'POST /orders')
      expect((await at(p, 0, { rules: [], quota, ...order })).allowed).toBe(true)
      expect((await at(p, 1, { rules: [], quota })).code).toBe('quota_exhausted')
      const replay = await at(p, 2, { rules: [], quota, ...order })
      expect(replay).toMatchObject({ allowed: true, replayed: true })
      expect(replay.policies[0]).toMatchObject({ remaining: 0, resetMs: 59_998 })
    })

    it('refuses a replay over a rate limit like any request, charging nothing', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 1, windowMs: 1000 }]
      const quota = { limit: 10, periodMs: 60_000 }
      const order = idem('order-2', 'POST /orders')
      await at(p, 0, { rules, quota, ...order })
      const refused = await at(p, 500, { rules, quota, ...order })
      expect(refused).toEqual({
        allowed: false,
        code: 'rate_limited',
        retryAfterMs: 500,
        policies: [
          { kind: 'rate', name: 'default', limit: 1, windowMs: 1000, remaining: 0, resetMs: 500 },
          {
            kind: 'quota',
            name: 'quota',
            limit: 10,
            windowMs: 60_000,
            remaining: 9,
            resetMs: 59_500,
          },
        ],
      })
      const later = await at(p, 1000, { rules, quota, ...order })
      expect(later).toMatchObject({ allowed: true, replayed: true })
      expect(later.policies.map((x) => x.remaining)).toEqual([0, 9])
    })

    it('refuses a used key on another operation with idempotency_key_reused, charging nothing', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 2, windowMs: 60_000 }]
      const quota = { limit: 3, periodMs: 86_400_000 }
      await at(p, 0, { rules, quota, ...idem('k', 'POST /orders') })
      const reused = await at(p, 0, { rules, quota, ...idem('k', 'POST /invoices') })
      expect(reused).toEqual({
        allowed: false,
        code: 'idempotency_key_reused',
        policies: [
          {
            kind: 'rate',
            name: 'default',
            limit: 2,
            windowMs: 60_000,
            remaining: 1,
            resetMs: 30_000,
          },
          {
            kind: 'quota',
            name: 'quota',
            limit: 3,
            windowMs: 86_400_000,
            remaining: 2,
            resetMs: 86_400_000,
          },
        ],
      })
      // refused before the limits: a reuse is a client bug that no wait cures
      await at(p, 0, { rules, quota })
      const overLimit = await at(p, 0, { rules, quota, ...idem('k', 'PATCH /orders') })
      expect(overLimit.code).toBe('idempotency_key_reused')
      // nothing was charged by either refusal, and the first operation still replays
      const peek = await at(p, 30_000, { rules, quota, cost: 0 })
      expect(peek.policies.map((x) => x.remaining)).toEqual([1, 1])
      const replay = await at(p, 30_000, { rules, quota, ...idem('k', 'POST /orders') })
      expect(replay).toMatchObject({ allowed: true, replayed: true })
    })

    it('leaves no record for a refused first request: its retry is judged afresh', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 1, windowMs: 1000 }]
      await at(p, 0, { rules })
      const refused = await at(p, 0, { rules, ...idem('retry-me', 'POST /a') })
      expect(refused.allowed).toBe(false)
      // no record: another operation may take the key
      const retried = await at(p, 1000, { rules, ...idem('retry-me', 'POST /b') })
      expect(retried.allowed).toBe(true)
      expect(retried.replayed).toBeUndefined()
      const replayed = await at(p, 2000, { rules, ...idem('retry-me', 'POST /b') })
      expect(replayed.replayed).toBe(true)
      expect((await at(p, 3000, { rules, ...idem('retry-me', 'POST /a') })).code).toBe(
        'idempotency_key_reused',
      )
    })

    it('forgets a record idempotencyTtlMs (24 h by default) after the first request', async () => {
      const p = part()
      const quota = { limit: 10, periodMs: 7 * 86_400_000 }
      const day = 86_400_000
      await at(p, 0, { rules: [], quota, ...idem('daily', 'POST /a') })
      const last = await at(p, day - 1, { rules: [], quota, ...idem('daily', 'POST /a') })
      expect(last).toMatchObject({ allowed: true, replayed: true, policies: [{ remaining: 9 }] })
      // expired: a new first request, charged, whose operation now owns the key
      const fresh = await at(p, day, { rules: [], quota, ...idem('daily', 'POST /b') })
      expect(fresh.replayed).toBeUndefined()
      expect(fresh).toMatchObject({ allowed: true, policies: [{ remaining: 8 }] })
      expect((await at(p, day + 1, { rules: [], quota, ...idem('daily', 'POST /a') })).code).toBe(
        'idempotency_key_reused',
      )
    })

    it('lets exactly one of concurrent first requests with one key be charged to the quota', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 100, windowMs: 3_600_000 }]
      const quota = { limit: 100, periodMs: 3_600_000 }
      const same = await Promise.all(
        Array.from({ length: 20 }, () =>
          limiter.consume({ partition: p, rules, quota, ...idem('dup', 'POST /orders') }),
        ),
      )
      expect(same.every((d) => d.allowed)).toBe(true)
      expect(same.filter((d) => d.replayed === undefined)).toHaveLength(1)
      const q = part()
      const mixed = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          limiter.consume({ partition: q, rules, quota, ...idem('dup', `POST /orders/${i}`) }),
        ),
      )
      expect(mixed.filter((d) => d.allowed)).toHaveLength(1)
      expect(mixed.filter((d) => d.code === 'idempotency_key_reused')).toHaveLength(9)
      const peek = await limiter.consume({ partition: p, rules, quota, cost: 0 })
      expect(peek.policies.map((x) => x.remaining)).toEqual([80, 99])
      const peekQ = await limiter.consume({ partition: q, rules, quota, cost: 0 })
      expect(peekQ.policies.map((x) => x.remaining)).toEqual([99, 99])
    })

    it('starts a rule afresh when its stored state cannot come from its current window', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 10, windowMs: 1000 }]
      await at(p, 0, { rules: [{ name: 'default', limit: 1, windowMs: 3_600_000 }] })
      const changed = await at(p, 1, { rules })
      expect(changed.allowed).toBe(true)
      expect(changed.policies[0]).toMatchObject({ remaining: 9, resetMs: 100 })
    })

    it('keeps the state of every rule set sharing a partition (limits shared by an owner)', async () => {
      const p = part()
      const a = [{ name: 'minute', limit: 2, windowMs: 60_000 }]
      const b = [
        { name: 'burst', limit: 5, windowMs: 1000 },
        { name: 'minute', limit: 2, windowMs: 60_000 },
      ]
      expect((await at(p, 0, { rules: a })).allowed).toBe(true)
      expect((await at(p, 0, { rules: b })).allowed).toBe(true)
      expect((await at(p, 0, { rules: a })).allowed).toBe(false)
      const peek = await at(p, 0, { rules: b, cost: 0 })
      expect(peek.policies.map((x) => x.remaining)).toEqual([4, 0])
    })

    it('keeps partitions apart and forgets one on reset()', async () => {
      const a = part()
      const b = part()
      const rules = [{ name: 'default', limit: 1, windowMs: 60_000 }]
      expect((await at(a, 0, { rules })).allowed).toBe(true)
      expect((await at(b, 0, { rules })).allowed).toBe(true)
      expect((await at(a, 0, { rules })).allowed).toBe(false)
      await limiter.reset(a)
      expect((await at(a, 0, { rules })).allowed).toBe(true)
      expect((await at(b, 0, { rules })).allowed).toBe(false)
    })

    it('admits everything when there is nothing to limit', async () => {
      await expect(limiter.consume({ partition: part(), rules: [] })).resolves.toEqual({
        allowed: true,
        policies: [],
      })
    })

    it('keeps no idempotency record when there is nothing to limit: no quota to spare', async () => {
      const p = part()
      for (const operation of ['POST /orders', 'POST /refunds'])
        await expect(
          limiter.consume({ partition: p, rules: [], ...idem('k', operation) }),
        ).resolves.toEqual({ allowed: true, policies: [] })
    })

    it('admits exactly limit of 100 parallel requests on its own clock', async () => {
      const p = part()
      const rules = [{ name: 'default', limit: 10, windowMs: 3_600_000 }]
      const quota = { limit: 1000, periodMs: 3_600_000 }
      const results = await Promise.all(
        Array.from({ length: 100 }, () => limiter.consume({ partition: p, rules, quota })),
      )
      expect(results.filter((d) => d.allowed)).toHaveLength(10)
      const refused = results.find((d) => !d.allowed)!
      expect(refused.code).toBe('rate_limited')
      expect(refused.retryAfterMs).toBeGreaterThan(0)
      expect(refused.retryAfterMs).toBeLessThanOrEqual(360_000)
      const peek = await limiter.consume({ partition: p, rules, quota, cost: 0 })
      expect(peek.policies[1]!.remaining).toBe(990)
    })

    it('admits exactly the quota of 100 parallel requests', async () => {
      const p = part()
      const quota = { limit: 10, periodMs: 3_600_000 }
      const results = await Promise.all(
        Array.from({ length: 100 }, () => limiter.consume({ partition: p, rules: [], quota })),
      )
      expect(results.filter((d) => d.allowed)).toHaveLength(10)
      expect(results.filter((d) => d.code === 'quota_exhausted')).toHaveLength(90)
    })

    const invalid: [string, Partial<LimitRequest>, string][] = [
      ['an empty partition', { partition: '' }, '"partition" must be 1-256 characters'],
      ['a partition with a newline', { partition: 'a\nb' }, '"partition" must be 1-256'],
      [
        'an API key as partition',
        { partition: `kw_live_${'A'.repeat(49)}` },
        '"partition" looks like an API key',
      ],
      ['a negative cost', { cost: -1 }, '"cost" must be an integer from 0'],
      ['a fractional cost', { cost: 1.5 }, '"cost" must be an integer from 0'],
      [
        'a bad rule name',
        { rules: [{ name: 'Bad Name', limit: 1, windowMs: 1 }] },
        'rate limit name "Bad Name" is not valid',
      ],
      [
        'a zero limit',
        { rules: [{ name: 'default', limit: 0, windowMs: 1000 }] },
        'rate limit "default": "limit" must be a positive integer',
      ],
      [
        'a negative window',
        { rules: [{ name: 'default', limit: 1, windowMs: -5 }] },
        'rate limit "default": "windowMs" must be a positive integer up to 10 years, got -5',
      ],
      [
        'a duplicate rule',
        {
          rules: [
            { name: 'a', limit: 1, windowMs: 1 },
            { name: 'a', limit: 2, windowMs: 1 },
          ],
        },
        'rate limit "a" is given twice',
      ],
      ['a zero quota', { quota: { limit: 0, periodMs: 1000 } }, 'quota "limit" must be a positive'],
      [
        'an idempotency key with spaces',
        { idempotencyKey: 'a b', operation: 'POST /' },
        '"idempotencyKey" must be',
      ],
      [
        'an idempotency key without operation',
        { idempotencyKey: 'order-1' },
        '"idempotencyKey" needs "operation"',
      ],
      [
        'an empty operation',
        { idempotencyKey: 'order-1', operation: '' },
        '"idempotencyKey" needs "operation"',
      ],
    ]
    for (const [what, patch, message] of invalid) {
      it(`rejects ${what} with invalid_argument`, async () => {
        const request = { partition: part(), rules: [], ...patch } as LimitRequest
        const promise = limiter.consume(request)
        await expect(promise).rejects.toBeInstanceOf(KeywardError)
        await expect(promise).rejects.toMatchObject({ code: 'invalid_argument' })
        await expect(promise).rejects.toThrow(message)
      })
    }
  })
}
