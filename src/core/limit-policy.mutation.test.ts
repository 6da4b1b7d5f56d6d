// The `limits` option of createKeyward: which settings it accepts, the limiter request it builds
// for a key (whose counters, which rules and quota), and the per-request cost and idempotency.
import { describe, expect, it } from 'vitest'
import { KeywardError } from './errors.js'
import { keyLimitRequest, requestWith, resolveLimitPolicy } from './limit-policy.js'
import type { LimitDecision, LimitRequest, RateLimiter } from './types.js'

const decision = { allowed: true } as LimitDecision
const limiter: RateLimiter = { consume: async () => decision } as unknown as RateLimiter
const invalid = (message: string) => new KeywardError('invalid_options', message)
const burst = { name: 'burst', limit: 20, windowMs: 1000 }
const key = { id: 'key_0123456789abcdef', ownerId: 'acme', rateLimits: [], quota: null }

describe('resolveLimitPolicy', () => {
  it('is null without limits, and defaults to per-key counters without default limits', () => {
    expect(resolveLimitPolicy(undefined)).toBeNull()
    expect(resolveLimitPolicy({ limiter })).toEqual({
      limiter,
      consumeSync: null,
      shareBy: 'key',
      defaultRateLimits: [],
      defaultQuota: null,
    })
  })

  it('keeps the settings given, frozen, and the synchronous form of an in-process limiter', () => {
    const calls: unknown[] = []
    const local = {
      consume: async () => decision,
      consumeSync(this: unknown, request: LimitRequest) {
        calls.push([this, request])
        return decision
      },
    } as unknown as RateLimiter
    const policy = resolveLimitPolicy({
      limiter: local,
      shareBy: 'owner',
      defaultRateLimits: [burst],
      defaultQuota: { limit: 100, periodMs: 60_000 },
    })!
    expect(policy).toMatchObject({
      shareBy: 'owner',
      defaultRateLimits: [burst],
      defaultQuota: { limit: 100, periodMs: 60_000 },
    })
    expect(Object.isFrozen(policy)).toBe(true)
    expect(Object.isFrozen(policy.defaultRateLimits)).toBe(true)
    expect(Object.isFrozen(policy.defaultRateLimits[0])).toBe(true)
    expect(Object.isFrozen(policy.defaultQuota)).toBe(true)
    const request = { partition: 'key:x', rules: [] }
    expect(policy.consumeSync!(request)).toBe(decision)
    // called as the limiter's own method
    expect(calls).toEqual([[local, request]])
  })

  it('names a bad limiter, setting, sharing, default limit or quota', () => {
    const limiterMessage =
      '"limits.limiter" must be a limiter (createMemoryLimiter() or createRedisLimiter({ client }) from keyward/limits)'
    for (const bad of [null, [], { limiter: {} }, { limiter: { consume: 'x' } }, {}])
      expect(() => resolveLimitPolicy(bad as never)).toThrow(invalid(limiterMessage))
    expect(() => resolveLimitPolicy({ limiter, share: 'owner' } as never)).toThrow(
      invalid(
        'unknown option "limits.share" for createKeyward: expected one of limits.limiter, limits.shareBy, limits.defaultRateLimits, limits.defaultQuota',
      ),
    )
    expect(() => resolveLimitPolicy({ limiter, shareBy: 'team' as never })).toThrow(
      invalid('"limits.shareBy" must be "key" or "owner", got "team"'),
    )
    expect(() =>
      resolveLimitPolicy({ limiter, defaultRateLimits: [{ ...burst, limit: 0 }] }),
    ).toThrow(invalid('"limits": rate limit "burst" limit must be a positive whole number, got 0'))
    expect(() => resolveLimitPolicy({ limiter, defaultQuota: { limit: 0, periodMs: 1 } })).toThrow(
      invalid('"limits": quota limit must be a positive whole number, got 0'),
    )
    expect(() => resolveLimitPolicy({ limiter, defaultQuota: { limit: 1, periodMs: 0 } })).toThrow(
      invalid('"limits": quota period must be a positive whole number, got 0'),
    )
  })
})

describe('keyLimitRequest', () => {
  it("uses the key's own limits and quota, counted under the key", () => {
    const policy = resolveLimitPolicy({ limiter, defaultRateLimits: [burst] })!
    const quota = { limit: 5, periodMs: 60_000 }
    const own = { name: 'hour', limit: 1000, windowMs: 3_600_000 }
    const request = keyLimitRequest(policy, { ...key, rateLimits: [own], quota })
    expect(request).toEqual({ partition: 'key:key_0123456789abcdef', rules: [own], quota })
    expect(Object.isFrozen(request)).toBe(true)
  })

  it('falls back to the defaults, and is null when a key has no limits at all', () => {
    const defaults = resolveLimitPolicy({
      limiter,
      defaultRateLimits: [burst],
      defaultQuota: { limit: 9, periodMs: 1000 },
    })!
    expect(keyLimitRequest(defaults, key)).toEqual({
      partition: 'key:key_0123456789abcdef',
      rules: [burst],
      quota: { limit: 9, periodMs: 1000 },
    })
    const none = resolveLimitPolicy({ limiter })!
    expect(keyLimitRequest(none, key)).toBeNull()
    // a quota alone, or rules alone, is enough
    const quota = { limit: 5, periodMs: 60_000 }
    expect(keyLimitRequest(none, { ...key, quota })).toEqual({
      partition: 'key:key_0123456789abcdef',
      rules: [],
      quota,
    })
    expect(keyLimitRequest(none, { ...key, rateLimits: [burst] })).toMatchObject({
      rules: [burst],
      quota: null,
    })
  })

  it("shares an owner's counters across its keys; a key without owner keeps its own", () => {
    const policy = resolveLimitPolicy({ limiter, shareBy: 'owner', defaultRateLimits: [burst] })!
    expect(keyLimitRequest(policy, key)?.partition).toBe('owner:acme')
    expect(keyLimitRequest(policy, { ...key, ownerId: null })?.partition).toBe(
      'key:key_0123456789abcdef',
    )
  })
})

describe('requestWith', () => {
  const base: Readonly<LimitRequest> = Object.freeze({ partition: 'key:x', rules: [burst] })

  it('reuses the prebuilt request for a plain verification', () => {
    expect(requestWith(base, undefined)).toBe(base)
    expect(requestWith(base, { scopes: ['a'], operation: 'op' })).toBe(base)
  })

  it('adds the cost, and an idempotency key with its operation, to a copy', () => {
    expect(requestWith(base, { cost: 3 })).toEqual({ ...base, cost: 3 })
    expect(requestWith(base, { cost: 0 })).toEqual({ ...base, cost: 0 })
    expect(requestWith(base, { idempotencyKey: 'order-1', operation: 'pay' })).toEqual({
      ...base,
      idempotencyKey: 'order-1',
      operation: 'pay',
    })
    // without an operation the limiter refuses it: nothing is invented here
    expect(requestWith(base, { idempotencyKey: 'order-1' })).toEqual({
      ...base,
      idempotencyKey: 'order-1',
    })
    expect(requestWith(base, { cost: 2, operation: 'pay' })).toEqual({ ...base, cost: 2 })
    expect(base).toEqual({ partition: 'key:x', rules: [burst] })
  })
})
