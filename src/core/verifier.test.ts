// The verifier's cache must never answer with a state older than the last change made through
// this process: lookups in flight during a change, expiry while cached, role and scope changes.
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryChangeBus, createMemoryStore } from '../stores/memory/index.js'
import { createSqliteStore } from '../stores/sqlite/index.js'
import { generateKey } from './key-format.js'
import { createKeyward, type Keyward, type KeywardOptions } from './keyward.js'
import type { Store } from './types.js'

const peppers = [{ version: 1, secret: 'verifier-test-pepper-0123456789abcdefXYZ' }]
const HOUR = 3_600_000

function fakeClock(start = Date.UTC(2026, 0, 1)) {
  let now = start
  return { now: () => now, advance: (ms: number) => (now += ms) }
}

/**
 * A real store whose answers to one method can be held: the store is asked (and answers from
 * its current state) at once, but the caller gets the answer only on `release()`.
 */
function holdable(inner: Store) {
  let holding: string | null = null
  let reached: () => void = () => {}
  let release: () => void = () => {}
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      return async (...args: unknown[]) => {
        const answer = await value.apply(target, args)
        if (prop === holding) {
          holding = null
          const gate = new Promise<void>((resolve) => {
            release = resolve
          })
          reached()
          await gate
        }
        return answer
      }
    },
  })
  return {
    store,
    /** Holds the next answer of `method`; resolves once the store has answered it. */
    hold(method: keyof Store): Promise<void> {
      holding = method
      return new Promise((resolve) => {
        reached = resolve
      })
    },
    release: () => release(),
  }
}

const backends: [string, () => Promise<Store>][] = [
  ['memory', async () => createMemoryStore()],
  [
    'sqlite',
    async () => {
      const store = createSqliteStore({ db: new Database(':memory:') })
      await store.migrate()
      return store
    },
  ],
]

const opened: Keyward[] = []
afterEach(async () => {
  for (const k of opened.splice(0)) await k.close()
})

async function open(store: Store, extra: Partial<KeywardOptions> = {}): Promise<Keyward> {
  const keyward = await createKeyward({ store, peppers, cache: { ttlMs: HOUR }, ...extra })
  opened.push(keyward)
  return keyward
}

describe.each(backends)('a lookup in flight during a change (%s)', (_name, makeStore) => {
  it('does not put a revoked key back into the cache', async () => {
    const h = holdable(await makeStore())
    const keyward = await open(h.store)
    const { key, record } = await keyward.createKey({ name: 'x' })
    const held = h.hold('findByHash')
    const inFlight = keyward.verify(key)
    await held // the store has answered "active"; the answer is on its way
    await keyward.revokeKey(record.id)
    h.release()
    await inFlight
    expect(await keyward.verify(key)).toMatchObject({ ok: false, code: 'key_revoked' })
    expect(keyward.verifyCached(key)).not.toMatchObject({ ok: true })
  })

  it('does not put a secret rotated out (grace 0) back into the cache', async () => {
    const h = holdable(await makeStore())
    const keyward = await open(h.store)
    const { key, record } = await keyward.createKey({ name: 'x' })
    const held = h.hold('findByHash')
    const inFlight = keyward.verify(key)
    await held
    const rotated = await keyward.rotateKey(record.id, { graceMs: 0 })
    h.release()
    await inFlight
    expect(await keyward.verify(key)).toMatchObject({ ok: false, code: 'key_expired' })
    expect((await keyward.verify(rotated.key)).ok).toBe(true)
  })

  it('honours an invalidation from another node that arrives during the lookup', async () => {
    const inner = await makeStore()
    const h = holdable(inner)
    const bus = createMemoryChangeBus()
    const keyward = await open(h.store, { changes: bus.feed() })
    const other = await open(inner, { changes: bus.feed() })
    const { key, record } = await keyward.createKey({ name: 'x' })
    const held = h.hold('findByHash')
    const inFlight = keyward.verify(key)
    await held
    // another node revokes the key in the shared store and tells this one
    await other.revokeKey(record.id)
    h.release()
    await inFlight
    expect(await keyward.verify(key)).toMatchObject({ code: 'key_revoked' })
  })

  it('caches lookups of other keys that were not changed meanwhile', async () => {
    const h = holdable(await makeStore())
    const { store } = h
    let finds = 0
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'findByHash') finds++
        return Reflect.get(target, prop, receiver)
      },
    })
    const keyward = await open(counting)
    const a = await keyward.createKey({ name: 'a' })
    const b = await keyward.createKey({ name: 'b' })
    const held = h.hold('findByHash')
    const inFlight = keyward.verify(a.key)
    await held
    await keyward.revokeKey(b.record.id)
    h.release()
    expect((await inFlight).ok).toBe(true)
    finds = 0
    expect((await keyward.verify(a.key)).ok).toBe(true)
    expect(finds).toBe(0)
  })

  it('does not remember as unknown a secret imported while its lookup ran', async () => {
    const h = holdable(await makeStore())
    const keyward = await open(h.store)
    const uuid = '0b7c3a52-1d5e-4f0a-9c3b-2e8f6a4d1b90'
    const held = h.hold('findByHash')
    const inFlight = keyward.verify(uuid)
    await held // the store said "not found"
    await keyward.importKey(uuid, { name: 'legacy' })
    h.release()
    expect(await inFlight).toMatchObject({ code: 'key_invalid' })
    expect((await keyward.verify(uuid)).ok).toBe(true)
  })

  it('does not keep role definitions read before a role changed', async () => {
    const h = holdable(await makeStore())
    const keyward = await open(h.store)
    await keyward.setRole('clerk', ['orders:read', 'orders:write'])
    const { key } = await keyward.createKey({ name: 'x', roles: ['clerk'] })
    const held = h.hold('listRoles')
    const inFlight = keyward.verify(key, { scopes: ['orders:write'] })
    await held
    await keyward.setRole('clerk', ['orders:read'])
    h.release()
    await inFlight
    expect(await keyward.verify(key, { scopes: ['orders:write'] })).toMatchObject({
      code: 'insufficient_scope',
      missingScopes: ['orders:write'],
    })
    // and a key that now gets the role's definitions from the store sees the new ones too
    const other = await keyward.createKey({ name: 'y', roles: ['clerk'] })
    expect(await keyward.verify(other.key, { scopes: ['orders:write'] })).toMatchObject({
      code: 'insufficient_scope',
    })
  })
})

describe('expiry while cached', () => {
  it('refuses a key whose expiry passes while its verification is cached', async () => {
    const clock = fakeClock()
    const keyward = await open(createMemoryStore(), { clock })
    const { key, record } = await keyward.createKey({ name: 'x', expiresInMs: 60_000 })
    expect((await keyward.verify(key)).ok).toBe(true)
    clock.advance(59_999)
    expect(keyward.verifyCached(key)).toMatchObject({ ok: true })
    clock.advance(1)
    const expired = { ok: false, code: 'key_expired', keyId: record.id }
    expect(keyward.verifyCached(key)).toEqual(expired)
    expect(await keyward.verify(key)).toEqual(expired)
  })

  it('refuses an old secret whose grace period ends while it is cached', async () => {
    const clock = fakeClock()
    const keyward = await open(createMemoryStore(), { clock })
    const old = await keyward.createKey({ name: 'x' })
    await keyward.rotateKey(old.record.id, { graceMs: 10_000 })
    expect((await keyward.verify(old.key)).ok).toBe(true)
    clock.advance(9_999)
    expect(keyward.verifyCached(old.key)).toMatchObject({ ok: true })
    clock.advance(1)
    expect(keyward.verifyCached(old.key)).toMatchObject({ ok: false, code: 'key_expired' })
    expect(await keyward.verify(old.key)).toMatchObject({ ok: false, code: 'key_expired' })
  })

  it('refuses a secret cached before a rotation with grace 0 right after it', async () => {
    const keyward = await open(createMemoryStore())
    const old = await keyward.createKey({ name: 'x' })
    expect((await keyward.verify(old.key)).ok).toBe(true)
    expect(keyward.verifyCached(old.key)).toMatchObject({ ok: true })
    await keyward.rotateKey(old.record.id, { graceMs: 0 })
    expect(keyward.verifyCached(old.key)).toBeUndefined()
    expect(await keyward.verify(old.key)).toMatchObject({ ok: false, code: 'key_expired' })
  })
})

describe('scopes', () => {
  it('matches one whole segment for "*", everything for a lone "*"', async () => {
    const keyward = await open(createMemoryStore())
    const wild = await keyward.createKey({ name: 'w', scopes: ['orders:*'] })
    const all = await keyward.createKey({ name: 'a', scopes: ['*'] })
    expect((await keyward.verify(wild.key, { scopes: ['orders:read'] })).ok).toBe(true)
    expect((await keyward.verify(wild.key, { scopes: ['orders:write'] })).ok).toBe(true)
    for (const required of ['ordersx:read', 'orders:read:all', 'orders', 'order:read']) {
      expect(await keyward.verify(wild.key, { scopes: [required] })).toMatchObject({
        code: 'insufficient_scope',
        missingScopes: [required],
      })
    }
    for (const required of ['orders:read', 'users:delete', 'a:b:c', 'billing']) {
      expect((await keyward.verify(all.key, { scopes: [required] })).ok).toBe(true)
    }
    // every required scope must be granted; the denial names only the missing ones
    expect(
      await keyward.verify(wild.key, { scopes: ['orders:read', 'users:read', 'users:write'] }),
    ).toMatchObject({ missingScopes: ['users:read', 'users:write'] })
  })

  it('stops granting a scope removed from a role at once in the process that changed it', async () => {
    const keyward = await open(createMemoryStore())
    await keyward.setRole('clerk', ['orders:read', 'orders:write'])
    const { key } = await keyward.createKey({ name: 'x', roles: ['clerk'] })
    expect((await keyward.verify(key, { scopes: ['orders:write'] })).ok).toBe(true)
    await keyward.setRole('clerk', ['orders:read'])
    expect(await keyward.verify(key, { scopes: ['orders:write'] })).toMatchObject({
      code: 'insufficient_scope',
    })
    expect((await keyward.verify(key, { scopes: ['orders:read'] })).ok).toBe(true)
    await keyward.deleteRole('clerk')
    expect(await keyward.verify(key, { scopes: ['orders:read'] })).toMatchObject({
      code: 'insufficient_scope',
    })
  })

  it('grants a scope added to a role at once', async () => {
    const keyward = await open(createMemoryStore())
    await keyward.setRole('clerk', ['orders:read'])
    const { key } = await keyward.createKey({ name: 'x', roles: ['clerk'] })
    expect(await keyward.verify(key, { scopes: ['orders:write'] })).toMatchObject({
      code: 'insufficient_scope',
    })
    await keyward.setRole('clerk', ['orders:read', 'orders:write'])
    expect((await keyward.verify(key, { scopes: ['orders:write'] })).ok).toBe(true)
  })
})

describe('the negative cache', () => {
  it('lets a secret tried before it was imported verify at once afterwards', async () => {
    const keyward = await open(createMemoryStore())
    const uuid = '7d8e9f10-2a3b-4c5d-8e6f-7a8b9c0d1e2f'
    expect(await keyward.verify(uuid)).toEqual({ ok: false, code: 'key_invalid' })
    expect(keyward.verifyCached(uuid)).toEqual({ ok: false, code: 'key_invalid' })
    await keyward.importKey(uuid, { name: 'legacy' })
    expect((await keyward.verify(uuid)).ok).toBe(true)
  })

  it('forgets an unknown key after negativeTtlMs, and never with negativeTtlMs 0', async () => {
    const clock = fakeClock()
    const store = createMemoryStore()
    const keyward = await open(store, { clock, cache: { negativeTtlMs: 1000 } })
    const unknown = generateKey()
    await keyward.verify(unknown)
    expect(keyward.verifyCached(unknown)).toEqual({ ok: false, code: 'key_invalid' })
    clock.advance(1000)
    expect(keyward.verifyCached(unknown)).toBeUndefined()
    const none = await open(store, { clock, cache: { negativeTtlMs: 0 } })
    await none.verify(unknown)
    expect(none.verifyCached(unknown)).toBeUndefined()
  })
})

describe('cache options', () => {
  it('refuses bad settings by name', async () => {
    const store = createMemoryStore()
    await expect(open(store, { cache: { maxEntries: 0 } })).rejects.toThrow(
      '"cache.maxEntries" must be a whole number >= 1, got 0',
    )
    await expect(open(store, { cache: { ttlMs: 1.5 } })).rejects.toThrow(/"cache.ttlMs"/)
    await expect(open(store, { cache: { negativeTtlMs: -1 } })).rejects.toMatchObject({
      code: 'invalid_options',
    })
    await expect(open(store, { usageFlushIntervalMs: 0 })).rejects.toThrow(
      /"usageFlushIntervalMs" must be a positive whole number/,
    )
  })

  it('with the cache off, asks the store every time and sees changes at once', async () => {
    const inner = createMemoryStore()
    let finds = 0
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'findByHash') finds++
        return Reflect.get(target, prop, receiver)
      },
    })
    const keyward = await open(store, { cache: false })
    const { key, record } = await keyward.createKey({ name: 'x' })
    finds = 0
    expect(keyward.verifyCached(key)).toBeUndefined()
    expect((await keyward.verify(key)).ok).toBe(true)
    expect((await keyward.verify(key)).ok).toBe(true)
    expect(finds).toBe(2)
    await inner.updateKey(record.id, { state: 'revoked', revokedAt: 1, updatedAt: 1 })
    expect(await keyward.verify(key)).toMatchObject({ code: 'key_revoked' })
    expect(keyward.cacheSize()).toEqual({ found: 0, notFound: 0 })
  })

  it('holds at most maxEntries keys, dropping the oldest', async () => {
    const store = createMemoryStore()
    const keyward = await open(store, { cache: { maxEntries: 2 } })
    const keys = [
      await keyward.createKey({ name: 'a' }),
      await keyward.createKey({ name: 'b' }),
      await keyward.createKey({ name: 'c' }),
    ]
    for (const k of keys) await keyward.verify(k.key)
    expect(keyward.cacheSize().found).toBe(2)
    expect(keyward.verifyCached(keys[0]!.key)).toBeUndefined()
    expect(keyward.verifyCached(keys[2]!.key)).toMatchObject({ ok: true })
  })
})

describe('implied scopes', () => {
  it('lets a scope grant others, shown in the verified scopes, and nothing more', async () => {
    const keyward = await open(createMemoryStore(), {
      impliedScopes: { admin: ['keys:read', 'keys:write'] },
    })
    const admin = await keyward.createKey({ name: 'a', scopes: ['admin'] })
    const reader = await keyward.createKey({ name: 'r', scopes: ['keys:read'] })
    const r = await keyward.verify(admin.key, { scopes: ['keys:read', 'keys:write'] })
    expect(r.ok && r.key.scopes).toEqual(['admin', 'keys:read', 'keys:write'])
    expect(await keyward.verify(admin.key, { scopes: ['roles:write'] })).toMatchObject({
      code: 'insufficient_scope',
      missingScopes: ['roles:write'],
    })
    // implication goes one way: keys:read does not grant admin
    expect(await keyward.verify(reader.key, { scopes: ['admin'] })).toMatchObject({
      code: 'insufficient_scope',
    })
    const plain = await keyward.verify(reader.key)
    expect(plain.ok && plain.key.scopes).toEqual(['keys:read'])
  })

  it('applies to scopes that come from roles too', async () => {
    const keyward = await open(createMemoryStore(), { impliedScopes: { admin: ['keys:read'] } })
    await keyward.setRole('ops', ['admin'])
    const { key } = await keyward.createKey({ name: 'o', roles: ['ops'] })
    expect((await keyward.verify(key, { scopes: ['keys:read'] })).ok).toBe(true)
  })

  it('refuses a malformed setting by name', async () => {
    const store = createMemoryStore()
    await expect(open(store, { impliedScopes: { 'Admin!': ['keys:read'] } })).rejects.toThrow(
      /"impliedScopes": scope "Admin!" is not valid/,
    )
    await expect(
      open(store, { impliedScopes: { admin: 'keys:read' as unknown as string[] } }),
    ).rejects.toThrow(/must be a list/)
    await expect(
      open(store, { impliedScopes: ['admin'] as unknown as Record<string, string[]> }),
    ).rejects.toMatchObject({ code: 'invalid_options' })
  })
})
