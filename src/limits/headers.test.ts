import { describe, expect, it } from 'vitest'
import { decimal, rateLimitHeaders, retryAfterSeconds } from './headers.js'
import { createMemoryLimiter } from './memory.js'
import type { LimitDecision } from './types.js'

describe('rateLimitHeaders', () => {
  it('lists every rule and the quota in the IETF syntax', async () => {
    const limiter = createMemoryLimiter()
    const rules = [{ name: 'default', limit: 100, windowMs: 60_000 }]
    const quota = { limit: 10_000, periodMs: 30 * 86_400_000 }
    const d = await limiter.consume({ partition: 'key:h', rules, quota, nowMs: 0 })
    expect(rateLimitHeaders(d)).toEqual({
      'ratelimit-policy': '"default";q=100;w=60, "quota";q=10000;w=2592000',
      ratelimit: '"default";r=99;t=1, "quota";r=9999;t=2592000',
    })
    expect(retryAfterSeconds(d)).toBeUndefined()
    await limiter.close()
  })

  it('gives Retry-After in whole seconds for a refusal, and nothing for no policies', async () => {
    const limiter = createMemoryLimiter()
    const rules = [{ name: 'default', limit: 1, windowMs: 60_000 }]
    await limiter.consume({ partition: 'key:r', rules, nowMs: 0 })
    const refused = await limiter.consume({ partition: 'key:r', rules, nowMs: 43_000 })
    expect(retryAfterSeconds(refused)).toBe(17)
    expect(rateLimitHeaders(refused).ratelimit).toBe('"default";r=0;t=17')
    expect(rateLimitHeaders({ allowed: true, policies: [] })).toEqual({})
    await limiter.close()
  })
})

describe('decimal', () => {
  it('writes integers like String() does', () => {
    const cases = [0, 7, 999, 1000, 1001, 10_010, 999_999, 1_000_000, 1_002_003_004, 2 ** 53 - 1]
    for (const n of cases) expect(decimal(n)).toBe(String(n))
    for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60])
      expect(decimal(n)).toBe(String(n))
  })
})

describe('rateLimitHeaders and retryAfterSeconds: rounding', () => {
  it('rounds windows and resets up to whole seconds, never down', () => {
    const d: LimitDecision = {
      allowed: true,
      policies: [
        { kind: 'rate', name: 'burst', limit: 3, windowMs: 1500, remaining: 2, resetMs: 1 },
        { kind: 'quota', name: 'quota', limit: 7, windowMs: 999, remaining: 7, resetMs: 0 },
      ],
    }
    expect(rateLimitHeaders(d)).toEqual({
      'ratelimit-policy': '"burst";q=3;w=2, "quota";q=7;w=1',
      ratelimit: '"burst";r=2;t=1, "quota";r=7;t=0',
    })
  })

  it('gives Retry-After for every refusal with a wait, at least 1 s, rounded up', () => {
    const refused = (retryAfterMs: number): LimitDecision => ({
      allowed: false,
      code: 'store_unavailable',
      policies: [],
      retryAfterMs,
    })
    expect(retryAfterSeconds(refused(1))).toBe(1)
    expect(retryAfterSeconds(refused(0))).toBe(1)
    expect(retryAfterSeconds(refused(1000))).toBe(1)
    expect(retryAfterSeconds(refused(1001))).toBe(2)
    expect(
      retryAfterSeconds({ allowed: false, code: 'idempotency_key_reused', policies: [] }),
    ).toBe(undefined)
  })
})
