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

  it('charges the quota once for a retried operation, the rate limits every time', async () => {
    const keyward = await setup().keyward
    const { key } = await keyward.createKey({
      name: 'x',
      rateLimits: [{ name: 'default', limit: 2, windowMs: 60_000 }],
      quota: { limit: 1, periodMs: 86_400_000 },
    })
    const order = { idempotencyKey: 'order-1', operation: 'POST /orders' }
    const first = await keyward.verify(key, order)
    expect(first.ok && first.rateLimit?.replayed).toBeUndefined()
    const retry = await keyward.verify(key, order)
    expect(retry).toMatchObject({ ok: true, rateLimit: { replayed: true } })
    expect(retry.ok && retry.rateLimit?.policies.map((p) => p.remaining)).toEqual([0, 0])
    expect(await keyward.verify(key, order)).toMatchObject({ ok: false, code: 'rate_limited' })
    const reused = await keyward.verify(key, { idempotencyKey: 'order-1', operation: 'POST /refunds' })
    expect(reused).toMatchObject({ ok: false, code: 'idempotency_key_reused' })
    // refused for good: no Retry-After to wait for
    expect(reused.ok === false && 'retryAfterSeconds' in reused).toBe(false)
    // verifyCached (the in-process limiter's synchronous path) decides the same
    expect(
      keyward.verifyCached(key, { idempotencyKey: 'order-1', operation: 'DELETE /orders' }),
    ).toMatchObject({ ok: false, code: 'idempotency_key_reused' })
  })

  it('throws invalid_argument for an idempotencyKey without operation (a caller bug)', async () => {
    const keyward = await setup().keyward
    const { key } = await keyward.createKey({ name: 'x', quota: { limit: 5, periodMs: 60_000 } })
    const bug = { idempotencyKey: 'order-1' }
    const refused = expect.objectContaining({
      code: 'invalid_argument',
      message: expect.stringContaining('"idempotencyKey" needs "operation"'),
    })
    await expect(keyward.verify(key, bug)).rejects.toThrow(refused)
    expect(() => keyward.verifyCached(key, bug)).toThrow(refused)
    // nothing was charged by the refused calls
    const peek = await keyward.verify(key, { cost: 0 })
    expect(peek.ok && peek.rateLimit?.policies[0]?.remaining).toBe(5)
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
