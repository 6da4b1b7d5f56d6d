// keyward.verifier.stats(): every decided verification is counted once, under its outcome, with
// the cache, limiter and store figures that explain it.
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryLimiter } from '../limits/memory.js'
import { createMemoryStore } from '../stores/memory/index.js'
import { generateKey } from './key-format.js'
import { createKeyward, type Keyward, type KeywardOptions } from './keyward.js'
import type { LimitDecision, RateLimiter, Store } from './types.js'

const peppers = [{ version: 1, secret: 'stats-test-pepper-0123456789abcdefghijklmn' }]
const opened: Keyward[] = []
afterEach(async () => {
  for (const k of opened.splice(0)) await k.close()
})

/** A memory store whose lookups (and usage writes) fail while `down` is true. */
function breakable(inner: Store = createMemoryStore()) {
  const state = { down: false }
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (prop !== 'findByHash' && prop !== 'recordUsage') return value
      return async (...args: unknown[]) => {
        if (state.down) throw new Error('connection refused')
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { store, state }
}

async function open(options: Partial<KeywardOptions> & { store: Store }): Promise<Keyward> {
  const keyward = await createKeyward({ peppers, ...options })
  opened.push(keyward)
  return keyward
}

const zeroOutcomes = {
  ok: 0,
  key_missing: 0,
  key_invalid: 0,
  key_revoked: 0,
  key_expired: 0,
  key_disabled: 0,
  ip_not_allowed: 0,
  insufficient_scope: 0,
  rate_limited: 0,
  quota_exhausted: 0,
  idempotency_key_reused: 0,
  store_unavailable: 0,
}

describe('verifier.stats()', () => {
  it('starts at zero', async () => {
    const keyward = await open({ store: createMemoryStore() })
    expect(keyward.verifier.stats()).toEqual({
      outcomes: zeroOutcomes,
      cache: { hits: 0, negativeHits: 0, misses: 0, entries: { found: 0, notFound: 0 } },
      limiter: {
        allowed: 0,
        rate_limited: 0,
        quota_exhausted: 0,
        idempotency_key_reused: 0,
        store_unavailable: 0,
        degraded: 0,
      },
      storeErrors: { lookup: 0, usageFlush: 0 },
      audit: { dropped: 0, failedFlushes: 0, pending: 0 },
      usage: { dropped: 0, tagsMerged: 0, pendingCells: 0 },
    })
  })

  it('counts each outcome of steps 1-5 once, with cache hits and misses', async () => {
    let now = Date.UTC(2026, 0, 1)
    const keyward = await open({ store: createMemoryStore(), clock: { now: () => now } })
    const good = (await keyward.createKey({ name: 'good', scopes: ['a:read'] })).key
    const revoked = await keyward.createKey({ name: 'revoked' })
    await keyward.revokeKey(revoked.record.id)
    const disabled = await keyward.createKey({ name: 'disabled' })
    await keyward.updateKey(disabled.record.id, { enabled: false })
    const expiring = (await keyward.createKey({ name: 'expiring', expiresInMs: 1000 })).key
    const walled = (await keyward.createKey({ name: 'walled', ipAllowlist: ['10.0.0.0/8'] })).key
    const unknown = generateKey()

    await keyward.verify(good, { scopes: ['a:read'] }) // miss, ok
    await keyward.verify(good) // hit, ok
    await keyward.verify(good, { scopes: ['a:write'] }) // hit, insufficient_scope
    await keyward.verify(unknown) // miss, key_invalid
    await keyward.verify(unknown) // negative hit, key_invalid
    await keyward.verify('not a key') // no cache: key_invalid
    await keyward.verify(`${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`) // checksum: miss
    await keyward.verify(undefined) // key_missing
    await keyward.verify(revoked.key)
    await keyward.verify(disabled.key)
    await keyward.verify(walled, { ip: '192.0.2.1' })
    now += 2000
    await keyward.verify(expiring)

    const stats = keyward.verifier.stats()
    expect(stats.outcomes).toEqual({
      ...zeroOutcomes,
      ok: 2,
      key_missing: 1,
      key_invalid: 4,
      key_revoked: 1,
      key_expired: 1,
      key_disabled: 1,
      ip_not_allowed: 1,
      insufficient_scope: 1,
    })
    // misses: good, unknown, the bad checksum, revoked, disabled, walled, expiring
    expect(stats.cache).toEqual({
      hits: 2,
      negativeHits: 1,
      misses: 7,
      entries: { found: 5, notFound: 1 },
    })
  })

  it('counts a verification answered by verifyCached once, and one it passes on once', async () => {
    const keyward = await open({ store: createMemoryStore() })
    const { key } = await keyward.createKey({ name: 'x' })
    // the adapters' pattern: verifyCached, then verify when it cannot answer
    const twice = async () => keyward.verifyCached(key) ?? (await keyward.verify(key))
    await twice() // verifyCached: undefined (not cached); verify: miss, ok
    await twice() // verifyCached: hit, ok
    const stats = keyward.verifier.stats()
    expect(stats.outcomes.ok).toBe(2)
    expect(stats.cache).toMatchObject({ hits: 1, misses: 1 })
  })

  it('counts a cached key that verifyCached leaves to an out-of-process limiter once', async () => {
    const memory = createMemoryLimiter()
    // no consumeSync, like the Redis limiter: verifyCached cannot decide a limited key
    const limiter: RateLimiter = { consume: (request) => memory.consume(request) }
    const keyward = await open({ store: createMemoryStore(), limits: { limiter } })
    const { key } = await keyward.createKey({
      name: 'x',
      rateLimits: [{ name: 'default', limit: 100, windowMs: 60_000 }],
    })
    for (let i = 0; i < 3; i++) {
      const result = keyward.verifyCached(key) ?? (await keyward.verify(key))
      expect(result.ok).toBe(true)
    }
    const stats = keyward.verifier.stats()
    expect(stats.outcomes.ok).toBe(3)
    expect(stats.cache).toMatchObject({ hits: 2, misses: 1 })
    expect(stats.limiter.allowed).toBe(3)
  })

  it('counts no cache lookups with the cache off', async () => {
    const keyward = await open({ store: createMemoryStore(), cache: false })
    const { key } = await keyward.createKey({ name: 'x' })
    await keyward.verify(key)
    await keyward.verify(key)
    const stats = keyward.verifier.stats()
    expect(stats.outcomes.ok).toBe(2)
    expect(stats.cache).toEqual({
      hits: 0,
      negativeHits: 0,
      misses: 0,
      entries: { found: 0, notFound: 0 },
    })
  })

  it('counts limiter decisions by code, next to the outcomes', async () => {
    const keyward = await open({
      store: createMemoryStore(),
      limits: { limiter: createMemoryLimiter() },
    })
    const rate = (
      await keyward.createKey({
        name: 'rate',
        rateLimits: [{ name: 'default', limit: 1, windowMs: 60_000 }],
      })
    ).key
    const quota = (
      await keyward.createKey({ name: 'quota', quota: { limit: 1, periodMs: 60_000 } })
    ).key
    const idem = (await keyward.createKey({ name: 'idem', quota: { limit: 10, periodMs: 60_000 } }))
      .key
    await keyward.verify(rate)
    await keyward.verify(rate)
    await keyward.verify(quota)
    await keyward.verify(quota)
    await keyward.verify(idem, { idempotencyKey: 'i-1', operation: 'POST /a' })
    await keyward.verify(idem, { idempotencyKey: 'i-1', operation: 'POST /b' })
    const stats = keyward.verifier.stats()
    expect(stats.limiter).toEqual({
      allowed: 3,
      rate_limited: 1,
      quota_exhausted: 1,
      idempotency_key_reused: 1,
      store_unavailable: 0,
      degraded: 0,
    })
    expect(stats.outcomes).toMatchObject({
      ok: 3,
      rate_limited: 1,
      quota_exhausted: 1,
      idempotency_key_reused: 1,
    })
  })

  it('counts a failing limiter as store_unavailable, and degraded decisions apart', async () => {
    let mode: 'fail' | 'degraded' | 'closed' = 'fail'
    const limiter: RateLimiter = {
      async consume(): Promise<LimitDecision> {
        if (mode === 'fail') throw new Error('redis down')
        if (mode === 'closed') return { allowed: false, code: 'store_unavailable', policies: [] }
        return { allowed: true, policies: [], degraded: true }
      },
    }
    const keyward = await open({ store: createMemoryStore(), limits: { limiter } })
    const { key } = await keyward.createKey({
      name: 'x',
      rateLimits: [{ name: 'default', limit: 5, windowMs: 1000 }],
    })
    await keyward.verify(key)
    mode = 'closed'
    await keyward.verify(key)
    mode = 'degraded'
    await keyward.verify(key)
    const stats = keyward.verifier.stats()
    expect(stats.limiter).toMatchObject({ allowed: 1, store_unavailable: 2, degraded: 1 })
    expect(stats.outcomes).toMatchObject({ ok: 1, store_unavailable: 2 })
    expect(stats.storeErrors.lookup).toBe(0)
  })

  it('counts store failures of lookups and of usage writes', async () => {
    const { store, state } = breakable()
    const keyward = await open({ store })
    const { key } = await keyward.createKey({ name: 'x' })
    await keyward.verify(key) // cached, and one usage count pending
    state.down = true
    await keyward.verify(generateKey())
    await expect(keyward.flush()).rejects.toThrow('connection refused')
    const stats = keyward.verifier.stats()
    expect(stats.outcomes).toMatchObject({ ok: 1, store_unavailable: 1 })
    expect(stats.storeErrors).toEqual({ lookup: 1, usageFlush: 1 })
    state.down = false
  })

  it('returns a snapshot: later verifications do not change it', async () => {
    const keyward = await open({ store: createMemoryStore() })
    const before = keyward.verifier.stats()
    await keyward.verify(undefined)
    expect(before.outcomes.key_missing).toBe(0)
    expect(keyward.verifier.stats().outcomes.key_missing).toBe(1)
  })
})
