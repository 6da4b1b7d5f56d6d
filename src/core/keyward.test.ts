import { describe, expect, it } from 'vitest'
import { createMemoryStore } from '../stores/memory/index.js'
import { generateKey } from './key-format.js'
import { createKeyward } from './keyward.js'
import type { Store } from './types.js'

const peppers = [{ version: 1, secret: 'keyward-test-pepper-0123456789abcdefgh' }]

function countingStore(): { store: Store; calls: string[] } {
  const inner = createMemoryStore()
  const calls: string[] = []
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        calls.push(String(prop))
        return value.apply(target, args)
      }
    },
  })
  return { store, calls }
}

function fakeClock(start = Date.UTC(2026, 0, 1)) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

describe('verify', () => {
  it('accepts a new key and returns its identity, never the secret', async () => {
    const keyward = await createKeyward({ store: createMemoryStore(), peppers })
    const { key, record } = await keyward.createKey({
      name: 'billing',
      ownerId: 'svc:billing',
      scopes: ['orders:read'],
    })
    const r = await keyward.verify(key, { scopes: ['orders:read'] })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.key).toMatchObject({ id: record.id, ownerId: 'svc:billing', scopes: ['orders:read'] })
    expect(JSON.stringify(r)).not.toContain(key.slice(8))
    await keyward.close()
  })

  it('rejects garbage without touching the store', async () => {
    const { store, calls } = countingStore()
    const keyward = await createKeyward({ store, peppers, acceptPrefixes: ['kw_live'] })
    const good = generateKey()
    const bad = [
      '',
      '   ',
      'x'.repeat(5120),
      good.replace('kw', 'кw'),
      good.replace('kw', 'ｋｗ'),
      `${good.slice(0, 10)}\n${good.slice(11)}`,
      generateKey({ prefix: 'sk_live' }),
      `${good.slice(0, -1)}${good.endsWith('a') ? 'b' : 'a'}`,
    ]
    calls.length = 0
    for (const value of bad)
      expect(await keyward.verify(value)).toEqual({ ok: false, code: 'key_invalid' })
    expect(calls).toEqual([])
    // a valid checksum on an unknown key does reach the store, once, then the negative cache
    expect((await keyward.verify(good)).ok).toBe(false)
    expect((await keyward.verify(good)).ok).toBe(false)
    expect(calls).toEqual(['findByHash'])
    expect(await keyward.verify(undefined)).toEqual({ ok: false, code: 'key_missing' })
  })

  it('answers revoked, expired, disabled, scope and IP denials with stable codes', async () => {
    const clock = fakeClock()
    const keyward = await createKeyward({ store: createMemoryStore(), peppers, clock })
    const a = await keyward.createKey({ name: 'a', scopes: ['orders:*'], expiresInMs: 60_000 })
    expect(await keyward.verify(a.key, { scopes: ['orders:write', 'users:read'] })).toEqual({
      ok: false,
      code: 'insufficient_scope',
      keyId: a.record.id,
      missingScopes: ['users:read'],
    })
    expect((await keyward.verify(a.key, { scopes: ['orders:write'] })).ok).toBe(true)
    clock.advance(60_000)
    expect(await keyward.verify(a.key)).toMatchObject({ code: 'key_expired' })

    const b = await keyward.createKey({ name: 'b', ipAllowlist: ['10.0.0.0/8'] })
    expect((await keyward.verify(b.key, { ip: '10.1.2.3' })).ok).toBe(true)
    expect((await keyward.verify(b.key, { ip: '::ffff:10.1.2.3' })).ok).toBe(true)
    expect(await keyward.verify(b.key, { ip: '192.168.1.1' })).toMatchObject({
      code: 'ip_not_allowed',
    })
    await keyward.updateKey(b.record.id, { enabled: false })
    expect(await keyward.verify(b.key, { ip: '10.1.2.3' })).toMatchObject({ code: 'key_disabled' })
    await keyward.revokeKey(b.record.id)
    expect(await keyward.verify(b.key, { ip: '10.1.2.3' })).toMatchObject({ code: 'key_revoked' })
  })

  it('revocation evicts the cache at once', async () => {
    const keyward = await createKeyward({
      store: createMemoryStore(),
      peppers,
      cache: { ttlMs: 3_600_000 },
    })
    const { key, record } = await keyward.createKey({ name: 'x' })
    expect((await keyward.verify(key)).ok).toBe(true)
    await keyward.revokeKey(record.id)
    expect(await keyward.verify(key)).toMatchObject({ code: 'key_revoked' })
  })

  it('rotation keeps the old secret for the grace period only', async () => {
    const clock = fakeClock()
    const keyward = await createKeyward({ store: createMemoryStore(), peppers, clock })
    const old = await keyward.createKey({ name: 'x' })
    const rotated = await keyward.rotateKey(old.record.id, { graceMs: 1000 })
    expect((await keyward.verify(old.key)).ok).toBe(true)
    expect((await keyward.verify(rotated.key)).ok).toBe(true)
    clock.advance(1000)
    expect(await keyward.verify(old.key)).toMatchObject({ code: 'key_expired' })
    expect((await keyward.verify(rotated.key)).ok).toBe(true)
  })

  it('expands roles into scopes', async () => {
    const keyward = await createKeyward({ store: createMemoryStore(), peppers })
    await keyward.setRole('reader', ['orders:read', 'users:read'])
    await expect(keyward.createKey({ name: 'x', roles: ['writer'] })).rejects.toThrow(
      /role "writer" is not defined/,
    )
    const { key } = await keyward.createKey({ name: 'x', roles: ['reader'] })
    const r = await keyward.verify(key, { scopes: ['users:read'] })
    expect(r.ok && r.key.scopes).toEqual(['orders:read', 'users:read'])
  })

  it('imports an existing UUID secret', async () => {
    const keyward = await createKeyward({ store: createMemoryStore(), peppers })
    const uuid = '3f2504e0-4f89-41d3-9a0c-0305e82c3301'
    const record = await keyward.importKey(uuid, { name: 'legacy' })
    expect(record.hint).toBe('3f25…3301')
    expect((await keyward.verify(uuid)).ok).toBe(true)
    await expect(keyward.importKey(uuid, { name: 'again' })).rejects.toMatchObject({
      code: 'store_conflict',
    })
    await expect(keyward.importKey('short', { name: 'x' })).rejects.toMatchObject({
      code: 'invalid_argument',
    })
  })

  it('refuses a pepper other than the one the store was created with', async () => {
    const store = createMemoryStore()
    const first = await createKeyward({ store, peppers })
    await first.createKey({ name: 'x' })
    await expect(
      createKeyward({ store, peppers: [{ version: 1, secret: 'another-test-pepper-0123456789abcdefgh' }] }),
    ).rejects.toMatchObject({
      code: 'pepper_mismatch',
    })
    await expect(
      createKeyward({ store, peppers: [{ version: 2, secret: 'another-test-pepper-0123456789abcdefgh' }] }),
    ).rejects.toThrow(/pepper v1, which is not configured/)
    // a newer pepper signs new keys while the old one keeps verifying
    const both = await createKeyward({
      store,
      peppers: [{ version: 2, secret: 'another-test-pepper-0123456789abcdefgh' }, ...peppers],
    })
    const { key } = await both.createKey({ name: 'y' })
    expect((await both.verify(key)).ok).toBe(true)
  })

  it('returns store_unavailable (not key_invalid) when the store fails', async () => {
    const store = createMemoryStore()
    const keyward = await createKeyward({ store, peppers })
    const { key } = await keyward.createKey({ name: 'x' })
    await store.close()
    expect(await keyward.verify(key)).toMatchObject({ ok: false, code: 'store_unavailable' })
  })

  it('batches usage and flushes it to the store', async () => {
    const store = createMemoryStore()
    const keyward = await createKeyward({ store, peppers })
    const { key, record } = await keyward.createKey({ name: 'x' })
    for (let i = 0; i < 5; i++) await keyward.verify(key)
    expect((await store.getKey(record.id))!.usageCount).toBe(0)
    await keyward.flush()
    expect((await store.getKey(record.id))!.usageCount).toBe(5)
  })
})

describe('key input', () => {
  it('refuses bad fields with messages that name them', async () => {
    const keyward = await createKeyward({ store: createMemoryStore(), peppers })
    await expect(keyward.createKey({ name: '' })).rejects.toThrow(
      'name must be 1-200 printable characters, got ""',
    )
    await expect(keyward.createKey({ name: 'x', scopes: ['orders::read'] })).rejects.toThrow(
      /scope "orders::read" is not valid/,
    )
    await expect(keyward.createKey({ name: 'x', metadata: { a: 'b\u0000' } })).rejects.toThrow(
      /NUL/,
    )
    await expect(keyward.createKey({ name: 'x', ipAllowlist: ['10.0.0.0/33'] })).rejects.toThrow(
      /IP allowlist entry "10.0.0.0\/33"/,
    )
    await expect(
      keyward.createKey({ name: 'x', rateLimits: [{ name: 'a', limit: 0, windowMs: 1000 }] }),
    ).rejects.toThrow('rate limit "a" limit must be a positive whole number, got 0')
  })
})

describe('listKeys', () => {
  it('filters by prefix, scope and expiry judged at the clock', async () => {
    const clock = fakeClock()
    const keyward = await createKeyward({ store: createMemoryStore(), peppers, clock })
    const day = 86_400_000
    const { record: soon } = await keyward.createKey({
      name: 'soon',
      scopes: ['orders:read'],
      expiresInMs: 2 * day,
    })
    const { record: later } = await keyward.createKey({
      name: 'later',
      prefix: 'kw_test',
      expiresInMs: 30 * day,
    })
    const ids = async (query: Parameters<typeof keyward.listKeys>[0]) =>
      (await keyward.listKeys(query)).items.map((k) => k.id)
    await expect(ids({ prefix: 'kw_test' })).resolves.toEqual([later.id])
    await expect(ids({ scope: 'orders:read' })).resolves.toEqual([soon.id])
    const week = clock.now() + 7 * day
    await expect(ids({ expiringBefore: week })).resolves.toEqual([soon.id])
    clock.advance(3 * day)
    // expired by now: no longer "expiring"
    await expect(ids({ expiringBefore: week })).resolves.toEqual([])
  })

  it('refuses bad filters with messages that name them', async () => {
    const keyward = await createKeyward({ store: createMemoryStore(), peppers })
    await expect(keyward.listKeys({ limit: 1001 })).rejects.toThrow('limit must be 1-1000, got 1001')
    await expect(keyward.listKeys({ limit: 0 })).rejects.toThrow('limit must be 1-1000, got 0')
    await expect(keyward.listKeys({ prefix: 'KW' })).rejects.toThrow(/prefix "KW" is not valid/)
    await expect(keyward.listKeys({ scope: 'orders::read' })).rejects.toThrow(
      /scope "orders::read" is not valid/,
    )
    await expect(
      keyward.listKeys({ status: 'gone' as unknown as 'active' }),
    ).rejects.toThrow('status "gone" is not valid: use active, revoked, expired or disabled')
    await expect(keyward.listKeys({ expiringBefore: 1.5 })).rejects.toThrow(
      'expiringBefore must be a time in epoch ms, got 1.5',
    )
  })
})

describe('verifyCached', () => {
  it('answers from the cache alone, exactly as verify would, and undefined when the store is needed', async () => {
    const keyward = await createKeyward({ store: createMemoryStore(), peppers })
    const { key } = await keyward.createKey({ name: 'x', scopes: ['a:read'] })
    expect(keyward.verifyCached(undefined)).toEqual({ ok: false, code: 'key_missing' })
    expect(keyward.verifyCached('garbage')).toEqual({ ok: false, code: 'key_invalid' })
    expect(keyward.verifyCached(key)).toBeUndefined()
    const viaStore = await keyward.verify(key, { scopes: ['a:read'] })
    expect(keyward.verifyCached(key, { scopes: ['a:read'] })).toBe(viaStore)
    expect(keyward.verifyCached(key, { scopes: ['a:write'] })).toMatchObject({
      code: 'insufficient_scope',
    })
    // a wrong checksum is refused here too, without the store
    const typo = `${key.slice(0, -1)}${key.endsWith('a') ? 'b' : 'a'}`
    expect(keyward.verifyCached(typo)).toEqual({ ok: false, code: 'key_invalid' })
    const unknown = generateKey()
    expect(keyward.verifyCached(unknown)).toBeUndefined()
    await keyward.verify(unknown)
    expect(keyward.verifyCached(unknown)).toEqual({ ok: false, code: 'key_invalid' })
  })
})
