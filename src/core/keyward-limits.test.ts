import { describe, expect, it } from 'vitest'
import { createMemoryLimiter } from '../limits/memory.js'
import { createMemoryStore } from '../stores/memory/index.js'
import { createKeyward } from './keyward.js'

const peppers = [{ version: 1, secret: 'keyward-test-pepper-0123456789abcdefgh' }]

function setup(
  limits: {
    shareBy?: 'key' | 'owner'
    defaultRateLimits?: { name: string; limit: number; windowMs: number }[]
  } = {},
) {
  let now = Date.UTC(2026, 0, 1)
  const clock = { now: () => now }
  const limiter = createMemoryLimiter({ clock })
  return {
    advance: (ms: number) => {
      now += ms
    },
    keyward: createKeyward({
      store: createMemoryStore(),
      peppers,
      clock,
      limits: { limiter, ...limits },
    }),
  }
}

describe('verify step 6: rate limits and quotas', () => {
  it('admits up to the limit, then answers rate_limited with a retry time and the decision', async () => {
    const { keyward: k } = setup()
    const keyward = await k
    const { key } = await keyward.createKey({
      name: 'x',
      rateLimits: [{ name: 'default', limit: 2, windowMs: 60_000 }],
    })
    const first = await keyward.verify(key)
    expect(first.ok && first.rateLimit?.policies[0]).toMatchObject({
      name: 'default',
      limit: 2,
      remaining: 1,
    })
    expect((await keyward.verify(key)).ok).toBe(true)
    const third = await keyward.verify(key)
    expect(third).toMatchObject({ ok: false, code: 'rate_limited', retryAfterSeconds: 30 })
    expect(!third.ok && third.rateLimit?.policies[0]?.remaining).toBe(0)
  })

  it('charges nothing for requests refused earlier in the pipeline', async () => {
    const keyward = await setup().keyward
    const { key } = await keyward.createKey({
      name: 'x',
      scopes: ['a:read'],
      rateLimits: [{ name: 'default', limit: 1, windowMs: 60_000 }],
    })
    for (let i = 0; i < 5; i++)
      expect(await keyward.verify(key, { scopes: ['a:write'] })).toMatchObject({
        code: 'insufficient_scope',
      })
    expect((await keyward.verify(key, { scopes: ['a:read'] })).ok).toBe(true)
  })

  it('spends the quota, says quota_exhausted, and refills after the period', async () => {
    const { keyward: k, advance } = setup()
    const keyward = await k
    const { key } = await keyward.createKey({
      name: 'x',
      quota: { limit: 3, periodMs: 86_400_000 },
    })
    expect((await keyward.verify(key, { cost: 2 })).ok).toBe(true)
    expect(await keyward.verify(key, { cost: 2 })).toMatchObject({ code: 'quota_exhausted' })
    expect((await keyward.verify(key)).ok).toBe(true)
    advance(86_400_000)
    expect((await keyward.verify(key, { cost: 3 })).ok).toBe(true)
  })

  it('charges a retried request with the same Idempotency-Key once', async () => {
    const keyward = await setup().keyward
    const { key } = await keyward.createKey({ name: 'x', quota: { limit: 1, periodMs: 60_000 } })
    expect((await keyward.verify(key, { idempotencyKey: 'order-1' })).ok).toBe(true)
    expect((await keyward.verify(key, { idempotencyKey: 'order-1' })).ok).toBe(true)
    expect(await keyward.verify(key, { idempotencyKey: 'order-2' })).toMatchObject({
      code: 'quota_exhausted',
    })
  })

  it('shares one allowance across the keys of an owner, and applies defaults', async () => {
    const keyward = await setup({
      shareBy: 'owner',
      defaultRateLimits: [{ name: 'default', limit: 2, windowMs: 60_000 }],
    }).keyward
    const a = await keyward.createKey({ name: 'a', ownerId: 'acme' })
    const b = await keyward.createKey({ name: 'b', ownerId: 'acme' })
    const c = await keyward.createKey({ name: 'c', ownerId: 'other' })
    expect((await keyward.verify(a.key)).ok).toBe(true)
    expect((await keyward.verify(b.key)).ok).toBe(true)
    expect(await keyward.verify(a.key)).toMatchObject({ code: 'rate_limited' })
    expect((await keyward.verify(c.key)).ok).toBe(true)
  })

  it('refuses bad limit options by name', async () => {
    await expect(
      createKeyward({
        store: createMemoryStore(),
        peppers,
        limits: { limiter: createMemoryLimiter(), shareBy: 'team' as 'key' },
      }),
    ).rejects.toThrow('"limits.shareBy" must be "key" or "owner", got "team"')
  })
})

describe('verifyCached with limits', () => {
  it('decides synchronously with an in-process limiter, charging once', async () => {
    const keyward = await setup().keyward
    const { key } = await keyward.createKey({
      name: 'x',
      rateLimits: [{ name: 'default', limit: 2, windowMs: 60_000 }],
    })
    expect(keyward.verifyCached(key)).toBeUndefined() // not cached yet: nothing charged
    const first = await keyward.verify(key)
    expect(first.ok && first.rateLimit?.policies[0]?.remaining).toBe(1)
    const second = keyward.verifyCached(key)
    expect(second?.ok && second.rateLimit?.policies[0]?.remaining).toBe(0)
    expect(keyward.verifyCached(key)).toMatchObject({ ok: false, code: 'rate_limited' })
  })

  it('leaves keys with limits to verify() when the limiter is out of process', async () => {
    const limiter = createMemoryLimiter()
    const remote = { consume: (r: Parameters<typeof limiter.consume>[0]) => limiter.consume(r) }
    const keyward = await createKeyward({
      store: createMemoryStore(),
      peppers,
      limits: { limiter: remote },
    })
    const { key } = await keyward.createKey({
      name: 'x',
      rateLimits: [{ name: 'default', limit: 2, windowMs: 60_000 }],
    })
    await keyward.verify(key)
    expect(keyward.verifyCached(key)).toBeUndefined()
    const second = await keyward.verify(key)
    expect(second.ok && second.rateLimit?.policies[0]?.remaining).toBe(0)
  })
})
