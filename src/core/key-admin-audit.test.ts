// Admin changes and their audit events: one transaction each, with actor, source IP and the
// fields that changed; rotation races; the end of a grace period; the expiry policy.
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryStore } from '../stores/memory/index.js'
import { KeywardError } from './errors.js'
import { createKeyward, type Keyward } from './keyward.js'
import type { Store, StoredAuditEvent } from './types.js'

const peppers = [{ version: 1, secret: 'key-admin-audit-test-pepper-0123456789abcd' }]
const DAY = 86_400_000
const opened: Keyward[] = []
afterEach(async () => {
  for (const k of opened.splice(0)) await k.close()
})

async function open(store: Store = createMemoryStore()) {
  let now = Date.UTC(2026, 0, 1)
  const keyward = await createKeyward({ store, peppers, clock: { now: () => now } })
  opened.push(keyward)
  return { keyward, store, advance: (ms: number) => (now += ms), now: () => now }
}

const oldestFirst = (page: { items: StoredAuditEvent[] }) => [...page.items].reverse()

describe('admin events', () => {
  it('records who, when, from where and what changed, never a secret or a hash', async () => {
    const { keyward, store, now, advance } = await open()
    const ctx = { actor: 'key_AdminAdminAdmin1', ip: '198.51.100.4' }
    const { key, record } = await keyward.createKey({
      name: 'billing',
      ownerId: 'svc:billing',
      scopes: ['orders:read'],
      ...ctx,
    })
    advance(1000)
    await keyward.updateKey(record.id, { name: 'billing-2', scopes: ['orders:*'], ...ctx })
    advance(1000)
    const rotated = await keyward.rotateKey(record.id, { graceMs: 3_600_000, ...ctx })
    advance(1000)
    await keyward.finishRotation(record.id, ctx)
    await keyward.setRole('reader', ['orders:read'], ctx)
    await keyward.deleteRole('reader', { actor: 'cli:alice' })
    await keyward.setExpiryPolicy({ maxAgeMs: 90 * DAY }, { actor: 'cli:alice' })
    await keyward.revokeKey(record.id, ctx)
    const events = oldestFirst(await keyward.audit.page())
    expect(events.map((e) => e.action)).toEqual([
      'key.created',
      'key.updated',
      'key.rotated',
      'key.rotation_finished',
      'role.set',
      'role.deleted',
      'policy.changed',
      'key.revoked',
    ])
    expect(events[0]).toMatchObject({
      keyId: record.id,
      actor: ctx.actor,
      ip: ctx.ip,
      at: now() - 3000,
      details: { name: 'billing', ownerId: 'svc:billing', scopes: ['orders:read'] },
    })
    expect(events[1]?.details).toEqual({
      changed: ['name', 'scopes'],
      changes: {
        name: { from: 'billing', to: 'billing-2' },
        scopes: { from: ['orders:read'], to: ['orders:*'] },
      },
    })
    expect(events[2]?.details).toMatchObject({
      hint: { from: record.hint, to: rotated.record.hint },
      graceMs: 3_600_000,
    })
    expect(events[3]?.details).toEqual({ endedSecrets: 1 })
    expect(events[4]?.details).toEqual({ role: 'reader', scopes: { from: null, to: ['orders:read'] } })
    expect(events[5]).toMatchObject({ actor: 'cli:alice', ip: null })
    expect(events[6]?.details).toMatchObject({ owner: null, maxAge: { from: null, to: '90d' } })
    expect(events[7]?.details).toMatchObject({ changes: { state: { from: 'active', to: 'revoked' } } })
    // no secret and no stored hash anywhere in the trail
    const text = JSON.stringify(events)
    for (const secret of [key, rotated.key]) expect(text).not.toContain(secret)
    for (const s of await store.listSecrets(record.id)) expect(text).not.toContain(s.hash)
    await expect(keyward.audit.verify()).resolves.toMatchObject({ ok: true, checked: 8 })
  })

  it('lets one of two concurrent rotations win; the other is a conflict and changes nothing', async () => {
    const { keyward, store } = await open()
    const { record } = await keyward.createKey({ name: 'raced' })
    const results = await Promise.allSettled([
      keyward.rotateKey(record.id, { actor: 'a' }),
      keyward.rotateKey(record.id, { actor: 'b' }),
    ])
    const won = results.filter((r) => r.status === 'fulfilled')
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[]
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(1)
    expect(lost[0]!.reason).toBeInstanceOf(KeywardError)
    expect((lost[0]!.reason as KeywardError).code).toBe('store_conflict')
    const live = (await store.listSecrets(record.id)).filter((s) => s.expiresAt === null)
    expect(live).toHaveLength(1)
    const winner = (won[0] as PromiseFulfilledResult<{ key: string }>).value.key
    await expect(keyward.verify(winner)).resolves.toMatchObject({ ok: true })
    expect((await keyward.audit.page({ type: 'key.rotated' })).items).toHaveLength(1)
  })

  it('refuses a rotation from a hint the caller saw before someone else rotated', async () => {
    const { keyward } = await open()
    const { record } = await keyward.createKey({ name: 'k' })
    await keyward.rotateKey(record.id)
    await expect(keyward.rotateKey(record.id, { expectHint: record.hint })).rejects.toMatchObject({
      code: 'store_conflict',
    })
  })

  it('finishes a rotation: the old secret stops at once, the new one keeps working', async () => {
    const { keyward } = await open()
    const created = await keyward.createKey({ name: 'k' })
    const rotated = await keyward.rotateKey(created.record.id, { graceMs: 7 * DAY })
    await expect(keyward.verify(created.key)).resolves.toMatchObject({ ok: true })
    await expect(keyward.finishRotation(created.record.id)).resolves.toMatchObject({ ended: 1 })
    await expect(keyward.verify(created.key)).resolves.toMatchObject({ code: 'key_expired' })
    await expect(keyward.verify(rotated.key)).resolves.toMatchObject({ ok: true })
    // again: nothing to end, no new event
    await expect(keyward.finishRotation(created.record.id)).resolves.toMatchObject({ ended: 0 })
    expect((await keyward.audit.page({ type: 'key.rotation_finished' })).items).toHaveLength(1)
    await expect(keyward.finishRotation('key_0000000000000000')).rejects.toMatchObject({
      code: 'not_found',
    })
  })
})

describe('expiry policy', () => {
  it('flags keys whose current secret is older than their maximum age; rotation renews it', async () => {
    const { keyward, advance } = await open()
    const a = await keyward.createKey({ name: 'a' })
    const b = await keyward.createKey({ name: 'b', ownerId: 'svc:slow' })
    await keyward.setExpiryPolicy({ maxAgeMs: 30 * DAY })
    await keyward.setExpiryPolicy({ ownerId: 'svc:slow', maxAgeMs: 365 * DAY })
    advance(31 * DAY)
    let policy = await keyward.getExpiryPolicy()
    expect(policy).toEqual({ maxAgeMs: 30 * DAY, owners: { 'svc:slow': 365 * DAY } })
    const get = async (id: string) => (await keyward.getKey(id))!
    expect(keyward.admin.isPastPolicy(await get(a.record.id), policy)).toBe(true)
    expect(keyward.admin.isPastPolicy(await get(b.record.id), policy)).toBe(false)
    await keyward.rotateKey(a.record.id)
    expect(keyward.admin.isPastPolicy(await get(a.record.id), policy)).toBe(false)
    policy = await keyward.setExpiryPolicy({ ownerId: 'svc:slow', maxAgeMs: null })
    expect(keyward.admin.isPastPolicy(await get(b.record.id), policy)).toBe(true)
  })

  it('refuses a bad maximum age with a clear message', async () => {
    const { keyward } = await open()
    await expect(keyward.setExpiryPolicy({ maxAgeMs: -5 })).rejects.toThrow(
      'maximum age (ms) must be a positive whole number, got -5',
    )
  })
})
