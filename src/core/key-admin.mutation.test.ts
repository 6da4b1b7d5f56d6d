// Key administration as a caller sees it: the refusals that name what is wrong, the defaults
// (grace period, prefix of a rotated imported key), and what each change does to verification.
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryStore } from '../stores/memory/index.js'
import { KeywardError } from './errors.js'
import { generateKey } from './key-format.js'
import { createKeyward, type Keyward } from './keyward.js'

const peppers = [{ version: 1, secret: 'key-admin-mutation-pepper-0123456789abc' }]
const HOUR = 3_600_000
const DAY = 24 * HOUR
const T = Date.UTC(2026, 0, 1)
const opened: Keyward[] = []
afterEach(async () => {
  for (const k of opened.splice(0)) await k.close()
})

async function open() {
  let now = T
  const store = createMemoryStore()
  // no cache: each verification reads the store, so it shows the stored state
  const keyward = await createKeyward({ store, peppers, clock: { now: () => now }, cache: false })
  opened.push(keyward)
  return { keyward, store, advance: (ms: number) => (now += ms) }
}

const refused = (message: string) => new KeywardError('invalid_argument', message)
const notFound = (id: string) =>
  new KeywardError(
    'not_found',
    `no key with id ${JSON.stringify(id)}: list keys to find its id (ids look like key_…)`,
  )
const UNKNOWN = 'key_0000000000000000'

describe('createKey', () => {
  it('sets the expiry from expiresInMs or expiresAt, and refuses both at once', async () => {
    const { keyward } = await open()
    const a = await keyward.createKey({ name: 'a', expiresInMs: DAY })
    expect(a.record.expiresAt).toBe(T + DAY)
    const b = await keyward.createKey({ name: 'b', expiresAt: T + HOUR })
    expect(b.record.expiresAt).toBe(T + HOUR)
    const c = await keyward.createKey({ name: 'c', expiresAt: null, ownerId: null })
    expect(c.record).toMatchObject({ expiresAt: null, ownerId: null, state: 'active' })
    await expect(
      keyward.createKey({ name: 'x', expiresAt: T + HOUR, expiresInMs: HOUR }),
    ).rejects.toThrow(refused('give either expiresAt or expiresInMs, not both'))
    await expect(keyward.createKey({ name: 'x', expiresInMs: 0 })).rejects.toThrow(
      refused('expiresInMs must be a positive whole number, got 0'),
    )
    await expect(keyward.createKey({ name: 'x', expiresAt: T })).rejects.toThrow(
      refused('expiresAt 2026-01-01T00:00:00.000Z is in the past: give a future time'),
    )
  })

  it('stores the fields given, checked, and refuses what is not an object', async () => {
    const { keyward } = await open()
    await keyward.setRole('reader', ['a:read'])
    const { record } = await keyward.createKey({
      name: ' billing ',
      ownerId: ' svc:billing ',
      roles: ['reader', 'reader'],
      quota: { limit: 5, periodMs: 60_000 },
      prefix: 'kw_test',
    })
    expect(record).toMatchObject({
      name: 'billing',
      ownerId: 'svc:billing',
      roles: ['reader'],
      quota: { limit: 5, periodMs: 60_000 },
      prefix: 'kw_test',
      createdAt: T,
      updatedAt: T,
      revokedAt: null,
      lastUsedAt: null,
      usageCount: 0,
    })
    await expect(keyward.createKey(null as never)).rejects.toThrow(
      refused('key input must be an object'),
    )
    await expect(keyward.createKey({ name: 'x', roles: 'reader' as never })).rejects.toThrow(
      refused('roles must be a list of role names'),
    )
    await expect(keyward.createKey({ name: 'x', roles: ['reader', 'writer'] })).rejects.toThrow(
      refused('role "writer" is not defined: define it first (keyward roles set writer --scope …)'),
    )
  })
})

describe('importKey', () => {
  it('keeps the prefix of a keyward-shaped secret, and marks others imported', async () => {
    const { keyward, store } = await open()
    const shaped = generateKey({ prefix: 'kw_test' })
    const a = await keyward.importKey(shaped, { name: 'a' })
    expect(a.prefix).toBe('kw_test')
    expect((await store.listSecrets(a.id))[0]?.imported).toBe(false)
    const b = await keyward.importKey('legacy-secret-0123456789', { name: 'b' })
    expect(b.prefix).toBe('imported')
    expect((await store.listSecrets(b.id))[0]?.imported).toBe(true)
    await expect(keyward.importKey('short', { name: 'x' })).rejects.toThrow(
      refused(
        'the secret to import must be 16-256 visible ASCII characters without spaces (a keyward-shaped secret must also have a correct checksum)',
      ),
    )
    await expect(keyward.importKey(shaped, { name: 'again' })).rejects.toThrow(
      new KeywardError(
        'store_conflict',
        'this secret is already stored for another key: import each secret once',
      ),
    )
  })
})

describe('rotateKey', () => {
  it('keeps the old secret for 24 hours by default', async () => {
    const { keyward, advance } = await open()
    const { key, record } = await keyward.createKey({ name: 'k' })
    const rotated = await keyward.rotateKey(record.id)
    expect(rotated.key).not.toBe(key)
    expect(rotated.record.hint).not.toBe(record.hint)
    advance(DAY - 1)
    expect((await keyward.verify(key)).ok).toBe(true)
    advance(1)
    expect(await keyward.verify(key)).toMatchObject({ ok: false, code: 'key_expired' })
    expect((await keyward.verify(rotated.key)).ok).toBe(true)
  })

  it('ends the old secret at once with a grace period of 0', async () => {
    const { keyward } = await open()
    const { key, record } = await keyward.createKey({ name: 'k' })
    const rotated = await keyward.rotateKey(record.id, { graceMs: 0 })
    expect(await keyward.verify(key)).toMatchObject({ ok: false, code: 'key_expired' })
    expect((await keyward.verify(rotated.key)).ok).toBe(true)
  })

  it('gives a rotated imported key a keyward secret; others keep their prefix', async () => {
    const { keyward } = await open()
    const imported = await keyward.importKey('legacy-secret-0123456789', { name: 'legacy' })
    expect((await keyward.rotateKey(imported.id)).key).toMatch(/^kw_live_/)
    const test = await keyward.createKey({ name: 't', prefix: 'kw_test' })
    expect((await keyward.rotateKey(test.record.id)).key).toMatch(/^kw_test_/)
  })

  it('refuses a bad grace period, a revoked key and an unknown id', async () => {
    const { keyward } = await open()
    const { record } = await keyward.createKey({ name: 'k' })
    for (const graceMs of [-1, 1.5])
      await expect(keyward.rotateKey(record.id, { graceMs })).rejects.toThrow(
        refused(`grace period must be a whole number of ms >= 0, got ${graceMs}`),
      )
    await expect(keyward.rotateKey(UNKNOWN)).rejects.toThrow(notFound(UNKNOWN))
    await expect(keyward.rotateKey('nonsense')).rejects.toThrow(notFound('nonsense'))
    await keyward.revokeKey(record.id)
    await expect(keyward.rotateKey(record.id)).rejects.toThrow(
      refused(`key ${record.id} is revoked: a revoked key cannot be rotated; create a new key`),
    )
  })
})

describe('revokeKey', () => {
  it('revokes once: a second call returns the revoked key and records nothing more', async () => {
    const { keyward, advance } = await open()
    const { key, record } = await keyward.createKey({ name: 'k' })
    advance(1000)
    const revoked = await keyward.revokeKey(record.id, { actor: 'ops' })
    expect(revoked).toMatchObject({ state: 'revoked', revokedAt: T + 1000, updatedAt: T + 1000 })
    advance(1000)
    await expect(keyward.revokeKey(record.id)).resolves.toMatchObject({ revokedAt: T + 1000 })
    expect(await keyward.verify(key)).toMatchObject({ ok: false, code: 'key_revoked' })
    const events = (await keyward.audit.page({ type: 'key.revoked' })).items
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ actor: 'ops', at: T + 1000 })
    await expect(keyward.revokeKey(UNKNOWN)).rejects.toThrow(notFound(UNKNOWN))
  })
})

describe('updateKey', () => {
  it('disables and enables a key, and clears what is set to null', async () => {
    const { keyward, advance } = await open()
    const { key, record } = await keyward.createKey({
      name: 'k',
      ownerId: 'acme',
      expiresInMs: DAY,
      quota: { limit: 5, periodMs: 60_000 },
    })
    advance(1000)
    const disabled = await keyward.updateKey(record.id, { enabled: false })
    expect(disabled).toMatchObject({ state: 'disabled', updatedAt: T + 1000 })
    expect(await keyward.verify(key)).toMatchObject({ ok: false, code: 'key_disabled' })
    expect(keyward.statusOf(disabled)).toBe('disabled')
    await keyward.updateKey(record.id, { enabled: true })
    expect((await keyward.verify(key)).ok).toBe(true)
    const cleared = await keyward.updateKey(record.id, {
      ownerId: null,
      expiresAt: null,
      quota: null,
    })
    expect(cleared).toMatchObject({ ownerId: null, expiresAt: null, quota: null, name: 'k' })
    const changed = await keyward.updateKey(record.id, {
      ownerId: ' beta ',
      expiresAt: T + 2 * DAY,
      quota: { limit: 1, periodMs: 1000 },
    })
    expect(changed).toMatchObject({
      ownerId: 'beta',
      expiresAt: T + 2 * DAY,
      quota: { limit: 1, periodMs: 1000 },
    })
    const [updated] = (await keyward.audit.page({ type: 'key.updated' })).items
    expect(updated?.details).toMatchObject({ changed: ['ownerId', 'expiresAt', 'quota'] })
  })

  it('refuses to enable or disable a revoked key, and an unknown id', async () => {
    const { keyward } = await open()
    const { record } = await keyward.createKey({ name: 'k' })
    await keyward.revokeKey(record.id)
    for (const enabled of [true, false])
      await expect(keyward.updateKey(record.id, { enabled })).rejects.toThrow(
        refused(`key ${record.id} is revoked: a revoked key cannot be enabled or disabled`),
      )
    await expect(keyward.updateKey(UNKNOWN, { name: 'x' })).rejects.toThrow(notFound(UNKNOWN))
  })
})

describe('reading keys', () => {
  it('answers null for a malformed or unknown id', async () => {
    const { keyward } = await open()
    const { record } = await keyward.createKey({ name: 'k' })
    await expect(keyward.getKey(record.id)).resolves.toMatchObject({ id: record.id })
    await expect(keyward.getKey('not-an-id')).resolves.toBeNull()
    await expect(keyward.getKey(UNKNOWN)).resolves.toBeNull()
  })

  it('calls a key expired from its expiry time on', async () => {
    const { keyward, advance } = await open()
    const { record } = await keyward.createKey({ name: 'k', expiresInMs: 1000 })
    advance(999)
    expect(keyward.statusOf(record)).toBe('active')
    advance(1)
    expect(keyward.statusOf(record)).toBe('expired')
    expect(keyward.statusOf({ state: 'revoked', expiresAt: T })).toBe('revoked')
  })

  it('lists 100 keys a page by default, and refuses a negative expiringBefore', async () => {
    const { keyward } = await open()
    for (let i = 0; i < 101; i++) await keyward.createKey({ name: `k${i}` })
    const page = await keyward.listKeys()
    expect(page.items).toHaveLength(100)
    expect(page.nextCursor).not.toBeNull()
    expect((await keyward.listKeys({ limit: 1000 })).items).toHaveLength(101)
    expect((await keyward.listKeys({ limit: 1 })).items).toHaveLength(1)
    await expect(keyward.listKeys({ expiringBefore: -1 })).rejects.toThrow(
      refused('expiringBefore must be a time in epoch ms, got -1'),
    )
    await expect(keyward.listKeys({ limit: 2.5 })).rejects.toThrow(
      refused('limit must be 1-1000, got 2.5'),
    )
    await expect(keyward.listKeys({ status: 'disabled', expiringBefore: 0 })).resolves.toEqual({
      items: [],
      nextCursor: null,
    })
  })
})

describe('roles', () => {
  it('deletes a role once, and its scopes stop being granted', async () => {
    const { keyward } = await open()
    await expect(keyward.setRole('reader', ['a:read', 'a:read'])).resolves.toEqual(['a:read'])
    const { key } = await keyward.createKey({ name: 'k', roles: ['reader'] })
    expect((await keyward.verify(key, { scopes: ['a:read'] })).ok).toBe(true)
    await expect(keyward.deleteRole('reader', { actor: 'ops' })).resolves.toBe(true)
    await expect(keyward.deleteRole('reader')).resolves.toBe(false)
    expect(await keyward.verify(key, { scopes: ['a:read'] })).toMatchObject({
      code: 'insufficient_scope',
    })
    expect((await keyward.audit.page({ type: 'role.deleted' })).items).toHaveLength(1)
    await expect(keyward.listRoles()).resolves.toEqual(new Map())
  })
})

describe('setExpiryPolicy', () => {
  it('sets and removes the global or an owner maximum age, recording it as durations', async () => {
    const { keyward } = await open()
    await expect(keyward.setExpiryPolicy({ maxAgeMs: 90 * DAY })).resolves.toEqual({
      maxAgeMs: 90 * DAY,
      owners: {},
    })
    await expect(
      keyward.setExpiryPolicy({ ownerId: ' acme ', maxAgeMs: 7 * DAY }, { actor: 'ops' }),
    ).resolves.toEqual({ maxAgeMs: 90 * DAY, owners: { acme: 7 * DAY } })
    await expect(keyward.setExpiryPolicy({ ownerId: null, maxAgeMs: null })).resolves.toEqual({
      maxAgeMs: null,
      owners: { acme: 7 * DAY },
    })
    const events = (await keyward.audit.page({ type: 'policy.changed' })).items.reverse()
    expect(events.map((e) => e.details)).toEqual([
      { owner: null, maxAge: { from: null, to: '90d' }, maxAgeMs: { from: null, to: 90 * DAY } },
      { owner: 'acme', maxAge: { from: null, to: '1w' }, maxAgeMs: { from: null, to: 7 * DAY } },
      {
        owner: null,
        maxAge: { from: '90d', to: null },
        maxAgeMs: { from: 90 * DAY, to: null },
      },
    ])
    expect(events[1]?.actor).toBe('ops')
    await expect(keyward.setExpiryPolicy(null as never)).rejects.toThrow(
      refused('policy input must be an object'),
    )
  })
})

/** A memory store whose updateKey answers as if another process got there first. */
function racing(inner = createMemoryStore()) {
  const state: { mode: 'none' | 'revoked before' | 'deleted' } = { mode: 'none' }
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (prop !== 'updateKey') return value
      return async (id: string, patch: object, audit: (b: unknown, a: unknown) => unknown) => {
        if (state.mode === 'deleted') return null
        if (state.mode === 'revoked before') {
          // another process revoked the key between this one's read and its write
          await target.updateKey(id, { state: 'revoked', revokedAt: T, updatedAt: T }, () => [])
        }
        return target.updateKey(id, patch as never, audit as never)
      }
    },
  })
  return { store, state }
}

/** A keyward on a change feed that records what it is asked to publish. */
async function withFeed() {
  const published: unknown[] = []
  const feed = {
    publish: async (change: unknown) => {
      published.push(change)
    },
    subscribe: () => () => {},
    close: async () => {},
  }
  const keyward = await createKeyward({ store: createMemoryStore(), peppers, changes: feed })
  opened.push(keyward)
  return { keyward, published }
}

describe('what each change stores and records', () => {
  it('createKey uses the prefix given and stores a secret that is not imported, with no roles', async () => {
    const { keyward, store } = await open()
    const { key, record } = await keyward.createKey({ name: 'k', prefix: 'kw_test' })
    expect(key).toMatch(/^kw_test_/)
    expect(record.roles).toEqual([])
    expect(await keyward.getKey(record.id)).toMatchObject({ roles: [], prefix: 'kw_test' })
    expect((await store.listSecrets(record.id)).map((s) => s.imported)).toEqual([false])
  })

  it('importKey records key.imported with the fields stored', async () => {
    const { keyward } = await open()
    const record = await keyward.importKey('legacy-secret-0123456789', {
      name: 'legacy',
      actor: 'ops',
    })
    const events = (await keyward.audit.page({ keyId: record.id })).items
    expect(events).toEqual([
      expect.objectContaining({
        action: 'key.imported',
        actor: 'ops',
        at: T,
        keyId: record.id,
        details: expect.objectContaining({ name: 'legacy', prefix: 'imported' }),
      }),
    ])
  })

  it('rotateKey stores a secret that is not imported and records when the old ones end', async () => {
    const { keyward, store } = await open()
    const imported = await keyward.importKey('legacy-secret-0123456789', { name: 'legacy' })
    await keyward.rotateKey(imported.id, { graceMs: HOUR })
    const secrets = await store.listSecrets(imported.id)
    expect(secrets.map((s) => s.imported).sort()).toEqual([false, true])
    const [rotated] = (await keyward.audit.page({ type: 'key.rotated' })).items
    expect(rotated?.details).toMatchObject({ graceMs: HOUR, previousSecretsExpireAt: T + HOUR })
  })

  it('finishRotation tells other processes only when it ended a secret', async () => {
    const { keyward, published } = await withFeed()
    const { record } = await keyward.createKey({ name: 'k' })
    published.length = 0
    await expect(keyward.finishRotation(record.id)).resolves.toMatchObject({ ended: 0 })
    expect(published).toEqual([])
    await keyward.rotateKey(record.id)
    published.length = 0
    await expect(keyward.finishRotation(record.id)).resolves.toMatchObject({ ended: 1 })
    expect(published).toEqual([{ kind: 'key', keyId: record.id }])
  })

  it('revokeKey records nothing when another process revoked the key meanwhile', async () => {
    const { store, state } = racing()
    const keyward = await createKeyward({ store, peppers, clock: { now: () => T } })
    opened.push(keyward)
    const { record } = await keyward.createKey({ name: 'k' })
    state.mode = 'revoked before'
    await expect(keyward.revokeKey(record.id)).resolves.toMatchObject({ state: 'revoked' })
    expect((await keyward.audit.page({ type: 'key.revoked' })).items).toEqual([])
  })

  it('updateKey answers not_found when the key is gone by the time it writes', async () => {
    const { store, state } = racing()
    const keyward = await createKeyward({ store, peppers })
    opened.push(keyward)
    const { record } = await keyward.createKey({ name: 'k' })
    state.mode = 'deleted'
    await expect(keyward.updateKey(record.id, { name: 'renamed' })).rejects.toThrow(
      notFound(record.id),
    )
  })

  it('updateKey stores metadata, and names the field of a bad name or owner', async () => {
    const { keyward } = await open()
    const { record } = await keyward.createKey({ name: 'k', metadata: { team: 'a' } })
    await expect(keyward.updateKey(record.id, { metadata: { team: 'b' } })).resolves.toMatchObject({
      metadata: { team: 'b' },
    })
    await expect(keyward.updateKey(record.id, { name: ' ' })).rejects.toThrow(
      refused('name must be 1-200 printable characters, got " "'),
    )
    await expect(keyward.updateKey(record.id, { ownerId: '' })).rejects.toThrow(
      refused('owner must be 1-200 printable characters, got ""'),
    )
    await expect(keyward.createKey({ name: 'x', ownerId: '\n' })).rejects.toThrow(
      refused('owner must be 1-200 printable characters, got "\\n"'),
    )
    await expect(keyward.setExpiryPolicy({ ownerId: '', maxAgeMs: DAY })).rejects.toThrow(
      refused('owner must be 1-200 printable characters, got ""'),
    )
  })

  it('deleteRole records the scopes the role had, and tells other processes only when it deleted one', async () => {
    const { keyward, published } = await withFeed()
    await keyward.setRole('reader', ['a:read'])
    published.length = 0
    await expect(keyward.deleteRole('reader')).resolves.toBe(true)
    await expect(keyward.deleteRole('reader')).resolves.toBe(false)
    expect(published).toEqual([{ kind: 'roles' }])
    const [deleted] = (await keyward.audit.page({ type: 'role.deleted' })).items
    expect(deleted?.details).toEqual({ role: 'reader', scopes: { from: ['a:read'], to: null } })
  })
})

describe('createKey without roles', () => {
  it('does not read the role definitions: it works while they cannot be read', async () => {
    const inner = createMemoryStore()
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'listRoles') return () => Promise.reject(new Error('roles table unreadable'))
        return Reflect.get(target, prop, receiver)
      },
    })
    const keyward = await createKeyward({ store, peppers })
    opened.push(keyward)
    await expect(keyward.createKey({ name: 'plain' })).resolves.toMatchObject({
      record: { roles: [] },
    })
    await expect(keyward.createKey({ name: 'x', roles: ['reader'] })).rejects.toThrow(
      'roles table unreadable',
    )
  })
})
