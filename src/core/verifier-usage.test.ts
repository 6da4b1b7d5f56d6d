// The verify path's side of usage: each outcome of a known key lands in the analytics cells
// once, with its IP and tag; secrets' last use is written; an old secret in its grace period
// verifies with `deprecation` (cached or not), the current one without.
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryLimiter } from '../limits/memory.js'
import { createMemoryStore } from '../stores/memory/index.js'
import { generateKey } from './key-format.js'
import { createKeyward, type Keyward, type KeywardOptions } from './keyward.js'
import type { Store } from './types.js'

const peppers = [{ version: 1, secret: 'usage-test-pepper-0123456789abcdefghijklmn' }]
const opened: Keyward[] = []
afterEach(async () => {
  for (const k of opened.splice(0)) await k.close()
})

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)
const DAY = 86_400_000

async function open(options: Partial<KeywardOptions> & { store?: Store } = {}) {
  const clock = { t: T0, now: () => clock.t }
  const store = options.store ?? createMemoryStore()
  const keyward = await createKeyward({ peppers, store, clock, ...options })
  opened.push(keyward)
  const usage = async (keyId?: string) => {
    await keyward.verifier.flush()
    return store.summarizeUsage({
      ...(keyId === undefined ? {} : { keyId }),
      since: 0,
      until: T0 + 365 * DAY,
      stepMs: 60_000,
      tagLimit: 50,
    })
  }
  return { keyward, store, clock, usage }
}

describe('usage recorded by verification', () => {
  it('counts each outcome of a known key once, under its tag, with the client IP', async () => {
    const { keyward, clock, usage } = await open()
    const { key, record } = await keyward.createKey({ name: 'a', scopes: ['orders:read'] })
    const ok = { scopes: ['orders:read'], ip: '192.0.2.1', usageTag: '/orders' }
    await keyward.verify(key, ok) // cache miss
    expect(keyward.verifyCached(key, { ...ok, ip: '192.0.2.2' })?.ok).toBe(true) // cached
    await keyward.verify(key, { scopes: ['orders:read'] }) // untagged, no IP
    clock.t += 60_000 // the next minute
    await keyward.verify(key, { scopes: ['orders:write'], ip: '192.0.2.3', usageTag: '/orders' })
    await keyward.verify(generateKey(), ok) // unknown: no key to count it under
    const got = await usage(record.id)
    expect(got.series).toEqual([
      { at: T0, code: 'valid', count: 3 },
      { at: T0 + 60_000, code: 'insufficient_scope', count: 1 },
    ])
    expect(got.tags).toEqual([
      { tag: '/orders', total: 3 },
      { tag: '', total: 1 },
    ])
    expect([got.firstIp, got.lastIp]).toEqual(['192.0.2.1', '192.0.2.3'])
    expect((await usage()).keys).toEqual([{ keyId: record.id, total: 4, denied: 1 }])
    // the key's own counter counts valid uses only, as before
    expect((await keyward.getKey(record.id))?.usageCount).toBe(3)
  })

  it('counts revoked, expired, IP and limiter refusals under their codes', async () => {
    const { keyward, clock, usage } = await open({
      limits: { limiter: createMemoryLimiter() },
    })
    const limited = await keyward.createKey({
      name: 'limited',
      rateLimits: [{ name: 'burst', limit: 1, windowMs: 60_000 }],
    })
    const walled = await keyward.createKey({ name: 'walled', ipAllowlist: ['10.0.0.0/8'] })
    const revoked = await keyward.createKey({ name: 'revoked' })
    const expiring = await keyward.createKey({ name: 'expiring', expiresInMs: 1000 })
    await keyward.revokeKey(revoked.record.id)
    await keyward.verify(limited.key)
    await keyward.verify(limited.key)
    await keyward.verify(walled.key, { ip: '192.0.2.1' })
    await keyward.verify(revoked.key)
    clock.t += 1000
    await keyward.verify(expiring.key)
    const codes = async (id: string) => (await usage(id)).series.map((s) => [s.code, s.count])
    expect(await codes(limited.record.id)).toEqual([
      ['rate_limited', 1],
      ['valid', 1],
    ])
    expect(await codes(walled.record.id)).toEqual([['ip_not_allowed', 1]])
    expect(await codes(revoked.record.id)).toEqual([['key_revoked', 1]])
    expect(await codes(expiring.record.id)).toEqual([['key_expired', 1]])
  })

  it('records no analytics with usage.analytics false, but still the counters', async () => {
    const { keyward, usage } = await open({ usage: { analytics: false } })
    const { key, record } = await keyward.createKey({ name: 'a' })
    await keyward.verify(key)
    expect((await usage()).series).toEqual([])
    expect((await keyward.getKey(record.id))?.usageCount).toBe(1)
  })

  it("stores when each secret was last presented, the old one's included", async () => {
    const { keyward, store, clock } = await open()
    const created = await keyward.createKey({ name: 'a' })
    clock.t += 1000
    const rotated = await keyward.rotateKey(created.record.id, { graceMs: DAY })
    clock.t += 1000
    await keyward.verify(created.key)
    clock.t += 1000
    await keyward.verify(rotated.key)
    await keyward.verifier.flush()
    const secrets = await store.listSecrets(created.record.id)
    expect(secrets.map((s) => [s.hint, s.lastUsedAt])).toEqual([
      [rotated.record.hint, T0 + 3000],
      [created.record.hint, T0 + 2000],
    ])
  })
})

describe('deprecation of an old secret', () => {
  it('is set for the old secret in its grace period only, cached or not', async () => {
    const { keyward, clock } = await open()
    const created = await keyward.createKey({ name: 'a' })
    // cached before the rotation: no deprecation yet
    expect((await keyward.verify(created.key)).ok).toBe(true)
    const before = keyward.verifyCached(created.key)
    expect(before?.ok && before.deprecation).toBeUndefined()
    clock.t += 5000
    const rotatedAt = clock.t
    const rotated = await keyward.rotateKey(created.record.id, { graceMs: DAY })
    const expected = { deprecatedAt: rotatedAt, sunsetAt: rotatedAt + DAY }
    // the rotation evicted the cached entry: the old secret now says when it ends
    const old = await keyward.verify(created.key)
    expect(old.ok && old.deprecation).toEqual(expected)
    const cached = keyward.verifyCached(created.key)
    expect(cached?.ok && cached.deprecation).toEqual(expected)
    const current = await keyward.verify(rotated.key)
    expect(current.ok).toBe(true)
    expect(current.ok && 'deprecation' in current).toBe(false)
    // once the grace period is over, the old secret stops verifying at all
    clock.t = rotatedAt + DAY
    const ended = await keyward.verify(created.key)
    expect(ended).toEqual({ ok: false, code: 'key_expired', keyId: created.record.id })
  })

  it('is set on results of keys with limits too, and on verifyEstablished', async () => {
    const { keyward, clock } = await open({ limits: { limiter: createMemoryLimiter() } })
    const created = await keyward.createKey({
      name: 'a',
      rateLimits: [{ name: 'burst', limit: 100, windowMs: 60_000 }],
    })
    clock.t += 1000
    await keyward.rotateKey(created.record.id, { graceMs: 60_000 })
    const expected = { deprecatedAt: T0 + 1000, sunsetAt: T0 + 61_000 }
    const result = await keyward.verify(created.key)
    expect(result.ok && result.rateLimit !== undefined).toBe(true)
    expect(result.ok && result.deprecation).toEqual(expected)
    const established = await keyward.verifier.verifyEstablished({
      keyId: created.record.id,
      hint: created.record.hint,
    })
    expect(established.ok && established.deprecation).toEqual(expected)
  })

  it('is taken from the latest rotation when a key is rotated twice', async () => {
    const { keyward, clock } = await open()
    const created = await keyward.createKey({ name: 'a' })
    clock.t += 1000
    const second = await keyward.rotateKey(created.record.id, { graceMs: DAY })
    clock.t += 1000
    await keyward.rotateKey(created.record.id, { graceMs: 10_000 })
    const first = await keyward.verify(created.key)
    // the first secret was superseded by the second; its grace was cut short by the new rotation
    expect(first.ok && first.deprecation).toEqual({
      deprecatedAt: T0 + 1000,
      sunsetAt: T0 + 12_000,
    })
    const middle = await keyward.verify(second.key)
    expect(middle.ok && middle.deprecation).toEqual({
      deprecatedAt: T0 + 2000,
      sunsetAt: T0 + 12_000,
    })
  })
})
