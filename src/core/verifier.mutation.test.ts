// What the verifier's own tests left open (mutation testing): the counts of verifyCached and
// verifyEstablished, what close() writes, shapes refused or let through by allowImported and
// acceptPrefixes, the codes recorded in usage for an expired secret, a disabled key and a
// failed limiter, a limiter's KeywardError that is not the caller's fault, and how often role
// definitions are read.
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryStore } from '../stores/memory/index.js'
import { KeywardError } from './errors.js'
import { generateKey } from './key-format.js'
import { createKeyward, type Keyward, type KeywardOptions } from './keyward.js'
import type { RateLimiter, Store } from './types.js'

const peppers = [{ version: 1, secret: 'verifier-mut-pepper-0123456789abcdefghijk' }]
const opened: Keyward[] = []
afterEach(async () => {
  for (const k of opened.splice(0)) await k.close()
})
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)

async function open(options: Partial<KeywardOptions> = {}) {
  const clock = { t: T0, now: () => clock.t }
  const store = options.store ?? createMemoryStore()
  const keyward = await createKeyward({ peppers, clock, ...options, store })
  opened.push(keyward)
  return { keyward, store, clock }
}

/** Usage counts of one key by outcome code, from the store. */
async function codesOf(keyward: Keyward, store: Store, keyId: string) {
  await keyward.verifier.flush()
  const { series } = await store.summarizeUsage({
    keyId,
    since: 0,
    until: T0 + 86_400_000,
    stepMs: 60_000,
    tagLimit: 10,
  })
  const codes: Record<string, number> = {}
  for (const s of series) codes[s.code] = (codes[s.code] ?? 0) + s.count
  return codes
}

/** A store whose listRoles calls are counted and whose key reads fail while `down`. */
function watched(inner: Store = createMemoryStore()) {
  const state = { down: false, rolesDown: false, listRoles: 0 }
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (prop === 'listRoles') {
          state.listRoles++
          if (state.rolesDown) return Promise.reject(new Error('roles table unreadable'))
        }
        if (state.down && (prop === 'getKey' || prop === 'listSecrets'))
          return Promise.reject(new Error('connection refused'))
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { store, state }
}

describe('verifier: counts outside verify()', () => {
  it('verifyCached counts a refused checksum as a miss and a remembered unknown key as a negative hit', async () => {
    const { keyward } = await open()
    const { key } = await keyward.createKey({ name: 'k' })
    const tampered = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`
    expect(keyward.verifyCached(tampered)).toMatchObject({ ok: false, code: 'key_invalid' })
    const unknown = generateKey()
    await keyward.verify(unknown) // a miss: now remembered as unknown
    expect(keyward.verifyCached(unknown)).toMatchObject({ ok: false, code: 'key_invalid' })
    const stats = keyward.verifier.stats()
    expect(stats.cache).toMatchObject({ hits: 0, negativeHits: 1, misses: 2 })
    expect(stats.outcomes.key_invalid).toBe(3)
  })

  it('verifyEstablished counts a store failure and a key that is gone', async () => {
    const { store, state } = watched()
    const { keyward } = await open({ store })
    const { record } = await keyward.createKey({ name: 'k' })
    state.down = true
    const failed = await keyward.verifier.verifyEstablished({ keyId: record.id, hint: record.hint })
    expect(failed).toMatchObject({ ok: false, code: 'store_unavailable' })
    state.down = false
    const gone = await keyward.verifier.verifyEstablished({ keyId: 'key_nonexistent00', hint: 'x' })
    expect(gone).toMatchObject({ ok: false, code: 'key_invalid' })
    const stats = keyward.verifier.stats()
    expect(stats.storeErrors.lookup).toBe(1)
    expect(stats.outcomes).toMatchObject({ store_unavailable: 1, key_invalid: 1 })
  })
})

describe('verifier: close()', () => {
  it('writes the usage and the audit events still waiting', async () => {
    const store = createMemoryStore()
    const keyward = await createKeyward({
      peppers,
      store,
      usageFlushIntervalMs: 3_600_000,
      audit: { denials: true, flushIntervalMs: 3_600_000 },
    })
    const { key, record } = await keyward.createKey({ name: 'k' })
    await keyward.revokeKey(record.id)
    await keyward.verify(key) // key_revoked: a usage cell and a denial event wait
    await keyward.verifier.close()
    const { keys } = await store.summarizeUsage({
      keyId: record.id,
      since: 0,
      until: Date.now() + 60_000,
      stepMs: 60_000,
      tagLimit: 10,
    })
    expect(keys).toEqual([{ keyId: record.id, total: 1, denied: 1 }])
    const events = await store.listAudit({ keyId: record.id, limit: 10 })
    expect(events.map((e) => e.action)).toContain('key.denied')
    await keyward.close()
  })
})

describe('verifier: options', () => {
  it('names the cache setting that is out of range', async () => {
    await expect(open({ cache: { negativeTtlMs: -1 } })).rejects.toThrow(
      '"cache.negativeTtlMs" must be a whole number >= 0, got -1',
    )
  })
})

describe('verifier: shapes', () => {
  it('with allowImported false refuses imported secrets and still verifies keyward keys', async () => {
    const { keyward } = await open({ allowImported: false })
    const { key } = await keyward.createKey({ name: 'k' })
    expect(await keyward.verify(key)).toMatchObject({ ok: true })
    expect(await keyward.verify('legacy-secret-0123456789-abcdef')).toMatchObject({
      ok: false,
      code: 'key_invalid',
    })
  })

  it('acceptPrefixes applies to keyward keys only: imported secrets still verify', async () => {
    const { keyward } = await open({ acceptPrefixes: ['kw_live'] })
    const secret = 'legacy-secret-0123456789-abcdef'
    const imported = await keyward.importKey(secret, { name: 'legacy' })
    expect(await keyward.verify(secret)).toMatchObject({ ok: true, key: { id: imported.id } })
  })

  it('refuses a credential that is not a string as invalid', async () => {
    const { keyward } = await open()
    expect(await keyward.verify(1234567890123 as never)).toMatchObject({
      ok: false,
      code: 'key_invalid',
    })
  })
})

describe('verifier: codes recorded', () => {
  it('an old secret past its grace period is key_expired, counted and recorded as such', async () => {
    const { keyward, store, clock } = await open()
    const { key, record } = await keyward.createKey({ name: 'k' })
    await keyward.rotateKey(record.id, { graceMs: 1000 })
    expect(await keyward.verify(key)).toMatchObject({ ok: true })
    clock.t += 1000
    expect(await keyward.verify(key)).toEqual({ ok: false, code: 'key_expired', keyId: record.id })
    expect(keyward.verifier.stats().outcomes.key_expired).toBe(1)
    expect(await codesOf(keyward, store, record.id)).toEqual({ valid: 1, key_expired: 1 })
  })

  it('a disabled key is recorded as key_disabled', async () => {
    const { keyward, store } = await open()
    const { key, record } = await keyward.createKey({ name: 'k' })
    await keyward.updateKey(record.id, { enabled: false })
    await keyward.verify(key)
    expect(await codesOf(keyward, store, record.id)).toEqual({ key_disabled: 1 })
  })

  it('a limiter that fails with its own KeywardError is an outage (store_unavailable), recorded as such', async () => {
    const limiter: RateLimiter = {
      consume: async () => {
        throw new KeywardError('store_unavailable', 'redis is down')
      },
    }
    const { keyward, store } = await open({ limits: { limiter } })
    const { key, record } = await keyward.createKey({
      name: 'k',
      rateLimits: [{ name: 'default', limit: 5, windowMs: 60_000 }],
    })
    expect(await keyward.verify(key)).toMatchObject({ ok: false, code: 'store_unavailable' })
    expect(await codesOf(keyward, store, record.id)).toEqual({ store_unavailable: 1 })
  })
})

describe('verifier: role definitions', () => {
  it('are read once per cache TTL, and again once it has passed', async () => {
    const { store, state } = watched()
    const { keyward, clock } = await open({ store, cache: { ttlMs: 10_000 } })
    await keyward.setRole('reader', ['orders:read'])
    const keys = []
    for (let i = 0; i < 3; i++)
      keys.push((await keyward.createKey({ name: `k${i}`, roles: ['reader'] })).key)
    state.listRoles = 0
    for (const key of keys)
      expect(await keyward.verify(key, { scopes: ['orders:read'] })).toMatchObject({ ok: true })
    expect(state.listRoles).toBe(1)
    // another process widens the role: seen once both the key and the roles are TTL old
    await store.setRole('reader', ['orders:read', 'orders:write'])
    clock.t += 10_000
    expect(await keyward.verify(keys[0]!, { scopes: ['orders:write'] })).toMatchObject({ ok: true })
    expect(state.listRoles).toBe(2)
  })

  it('are not read for a key without roles: it verifies while they cannot be read', async () => {
    const { store, state } = watched()
    const { keyward } = await open({ store })
    const { key } = await keyward.createKey({ name: 'plain', scopes: ['orders:read'] })
    state.rolesDown = true
    expect(await keyward.verify(key, { scopes: ['orders:read'] })).toMatchObject({ ok: true })
    expect(state.listRoles).toBe(0)
  })
})
