// The rotation, admin-event, audit-chain and expiry-policy parts of the store conformance suite
// (called by describeStore): memory, SQLite and PostgreSQL are held to the same behaviour.
import { beforeEach, describe, expect, it } from 'vitest'
import { auditEventHash, GENESIS_HASH, verifyAuditChain } from '../../src/core/audit-chain.js'
import type { KeywardError } from '../../src/core/errors.js'
import { isPastPolicy } from '../../src/core/policy.js'
import type {
  AuditQuery,
  KeyRecord,
  SecretRecord,
  SecretRotation,
  Store,
} from '../../src/stores/types.js'
import { makeKey, makeSecret, newKeyId, T0 } from '../fixtures/records.js'
import { asStored, event, expectCode, plain, rotateTo } from './store-helpers.js'

/** `current()` is the suite's fresh, migrated store of the running test. */
export function describeAuditContract(current: () => Store): void {
  let store: Store
  beforeEach(() => {
    store = current()
  })

  async function insert(overrides: Partial<KeyRecord> = {}): Promise<KeyRecord> {
    const key = makeKey(overrides)
    await store.insertKey(key, makeSecret(key.id, { createdAt: key.createdAt }))
    return key
  }

  const rotate = (
    secret: SecretRecord,
    previousExpireAt: number,
    expectHint?: string,
    audit?: SecretRotation['audit'],
  ) => rotateTo(store, secret, previousExpireAt, expectHint, audit)

  describe('secrets and rotation', () => {
    it('lists a key’s secrets newest first, and none for an unknown key', async () => {
      const key = makeKey()
      const first = makeSecret(key.id, { createdAt: T0 })
      await store.insertKey(key, first)
      const second = makeSecret(key.id, { createdAt: T0 + 10, pepperVersion: 2 })
      await expect(rotate(second, T0 + 100)).resolves.not.toBeNull()
      const third = makeSecret(key.id, { createdAt: T0 + 20, imported: true })
      await expect(rotate(third, T0 + 200)).resolves.not.toBeNull()
      const secrets = await store.listSecrets(key.id)
      expect(secrets.map((s) => s.hash)).toEqual([third.hash, second.hash, first.hash])
      expect({ ...secrets[0], lastUsedAt: secrets[0]?.lastUsedAt ?? null }).toEqual({
        ...third,
        lastUsedAt: null,
      })
      await expect(store.listSecrets(newKeyId())).resolves.toEqual([])
    })

    it('adds a secret and moves the expiry of the others to previousExpireAt', async () => {
      const bystander = makeKey()
      const untouched = makeSecret(bystander.id)
      await store.insertKey(bystander, untouched)
      const key = makeKey()
      const a = makeSecret(key.id, { createdAt: T0 })
      await store.insertKey(key, a)
      const b = makeSecret(key.id, { createdAt: T0 + 1, expiresAt: T0 + 1_000_000 })
      const c = makeSecret(key.id, { createdAt: T0 + 2, expiresAt: T0 + 10 })
      // previousExpireAt beyond every expiry: a (no expiry) gets it, b and c keep theirs
      await rotate(b, T0 + 5_000_000)
      await rotate(c, T0 + 5_000_000)
      let byHash = new Map((await store.listSecrets(key.id)).map((s) => [s.hash, s]))
      expect(byHash.get(a.hash)?.expiresAt).toBe(T0 + 5_000_000)
      expect(byHash.get(b.hash)?.expiresAt).toBe(T0 + 1_000_000)
      expect(byHash.get(c.hash)?.expiresAt).toBe(T0 + 10)

      const rotated = makeSecret(key.id, { createdAt: T0 + 3, hint: 'kw_test_Rota…ted1' })
      await expect(rotate(rotated, T0 + 500)).resolves.not.toBeNull()
      byHash = new Map((await store.listSecrets(key.id)).map((s) => [s.hash, s]))
      expect(byHash.get(a.hash)?.expiresAt).toBe(T0 + 500) // later expiry -> shortened
      expect(byHash.get(b.hash)?.expiresAt).toBe(T0 + 500) // later expiry -> shortened
      expect(byHash.get(c.hash)?.expiresAt).toBe(T0 + 10) // already earlier -> kept
      expect(byHash.get(rotated.hash)?.hint).toBe(rotated.hint)
      expect(byHash.get(rotated.hash)?.expiresAt).toBeNull()
      expect((await store.findByHash(a.hash))?.secret.expiresAt).toBe(T0 + 500)
      expect((await store.findByHash(rotated.hash))?.key.id).toBe(key.id)
      // another key's secrets are not touched by this key's rotation
      await expect(store.listSecrets(bystander.id)).resolves.toEqual([
        expect.objectContaining(untouched),
      ])
    })

    it('rotates in one step: secret, hint, updatedAt, rotatedAt and the audit event', async () => {
      const key = await insert()
      const secret = makeSecret(key.id, { createdAt: T0 + 50, hint: 'kw_test_New1…abcd' })
      const seen: KeyRecord[] = []
      const e = event({ at: T0 + 50, keyId: key.id, action: 'key.rotated', ip: '10.0.0.1' })
      const after = await rotate(secret, T0 + 1000, key.hint, (before) => {
        seen.push(before)
        return [e]
      })
      const expected = { ...key, hint: secret.hint, updatedAt: T0 + 50, rotatedAt: T0 + 50 }
      expect(after).toEqual(expected)
      await expect(store.getKey(key.id)).resolves.toEqual(expected)
      expect(seen).toEqual([key])
      expect((await store.listAudit({ limit: 10 })).map(plain)).toEqual([asStored(e)])
    })

    it('refuses a rotation from a hint that is no longer current, changing nothing', async () => {
      const key = await insert()
      await rotate(makeSecret(key.id, { hint: 'kw_test_Firs…t111' }), T0 + 10, key.hint)
      const before = await store.getKey(key.id)
      const secretsBefore = await store.listSecrets(key.id)
      const late = makeSecret(key.id, { hint: 'kw_test_Late…2222' })
      const error = await expectCode(
        rotate(late, T0 + 10, key.hint, () => [event({ keyId: key.id })]),
        'store_conflict',
      )
      expect(error.message).toContain('rotated by someone else')
      await expect(store.getKey(key.id)).resolves.toEqual(before)
      await expect(store.listSecrets(key.id)).resolves.toEqual(secretsBefore)
      await expect(store.findByHash(late.hash)).resolves.toBeNull()
      await expect(store.listAudit({ limit: 10 })).resolves.toEqual([])
    })

    it('refuses to rotate a revoked key with store_conflict', async () => {
      const key = await insert({ state: 'revoked', revokedAt: T0 })
      const secret = makeSecret(key.id)
      const error = await expectCode(rotate(secret, T0, key.hint), 'store_conflict')
      expect(error.message).toContain('revoked')
      await expect(store.findByHash(secret.hash)).resolves.toBeNull()
    })

    it('of two concurrent rotations from the same hint, exactly one wins', async () => {
      const key = await insert()
      const a = makeSecret(key.id, { hint: 'kw_test_Aaaa…1111', createdAt: T0 + 1 })
      const b = makeSecret(key.id, { hint: 'kw_test_Bbbb…2222', createdAt: T0 + 1 })
      const results = await Promise.allSettled([
        rotate(a, T0 + 100, key.hint, () => [event({ keyId: key.id, action: 'key.rotated' })]),
        rotate(b, T0 + 100, key.hint, () => [event({ keyId: key.id, action: 'key.rotated' })]),
      ])
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
      expect((lost.reason as KeywardError).code).toBe('store_conflict')
      const secrets = await store.listSecrets(key.id)
      expect(secrets).toHaveLength(2)
      expect(secrets.filter((s) => s.expiresAt === null)).toHaveLength(1)
      const winner = secrets.find((s) => s.expiresAt === null)!
      expect((await store.getKey(key.id))?.hint).toBe(winner.hint)
      expect(await store.listAudit({ limit: 10 })).toHaveLength(1)
    })

    it('answers null for an unknown key and stores nothing', async () => {
      const secret = makeSecret(newKeyId())
      await expect(rotate(secret, T0, 'kw_test_AbCd…wxyz')).resolves.toBeNull()
      await expect(store.findByHash(secret.hash)).resolves.toBeNull()
    })

    it('refuses a duplicate hash with store_conflict and changes nothing', async () => {
      const key = makeKey()
      const first = makeSecret(key.id)
      await store.insertKey(key, first)
      const other = makeKey()
      const taken = makeSecret(other.id)
      await store.insertKey(other, taken)
      await expectCode(
        rotate(makeSecret(key.id, { hash: taken.hash }), T0 + 1, key.hint, () => [event()]),
        'store_conflict',
      )
      await expect(store.listSecrets(key.id)).resolves.toEqual([expect.objectContaining(first)])
      await expect(store.getKey(key.id)).resolves.toEqual(key)
      await expect(store.listAudit({ limit: 10 })).resolves.toEqual([])
      expect((await store.findByHash(taken.hash))?.key.id).toBe(other.id)
    })

    it('rolls the whole rotation back when its audit event cannot be written', async () => {
      const key = await insert()
      const e = event()
      await store.appendAudit([e])
      const secret = makeSecret(key.id)
      // a duplicate event id fails the last statement of the transaction
      await expectCode(rotate(secret, T0 + 1, key.hint, () => [e]), 'store_conflict')
      await expect(store.getKey(key.id)).resolves.toEqual(key)
      await expect(store.findByHash(secret.hash)).resolves.toBeNull()
      const secrets = await store.listSecrets(key.id)
      expect(secrets.map((s) => s.expiresAt)).toEqual([null])
      expect(await store.listAudit({ limit: 10 })).toHaveLength(1)
    })

    it('ends grace periods now: old secrets stop, the current one stays', async () => {
      const key = await insert()
      const next = makeSecret(key.id, { createdAt: T0 + 1, hint: 'kw_test_Next…0001' })
      await rotate(next, T0 + 86_400_000, key.hint)
      const ends: number[] = []
      const ended = await store.endGracePeriods(key.id, T0 + 5, (n) => {
        ends.push(n)
        return [event({ keyId: key.id, action: 'key.rotation_finished' })]
      })
      expect(ended).toBe(1)
      expect(ends).toEqual([1])
      const secrets = await store.listSecrets(key.id)
      expect(secrets.find((s) => s.hash === next.hash)?.expiresAt).toBeNull()
      expect(secrets.find((s) => s.hash !== next.hash)?.expiresAt).toBe(T0 + 5)
      // nothing left to end: 0, and no event
      await expect(store.endGracePeriods(key.id, T0 + 6, () => [event()])).resolves.toBe(0)
      expect(await store.listAudit({ limit: 10 })).toHaveLength(1)
      await expect(store.endGracePeriods(newKeyId(), T0, () => [])).resolves.toBeNull()
    })
  })

  describe('admin changes with their audit events', () => {
    it('inserts a key with its events, and neither on a conflict', async () => {
      const key = makeKey()
      const e = event({ keyId: key.id, actor: 'cli:alice', ip: null })
      await store.insertKey(key, makeSecret(key.id), [e])
      expect((await store.listAudit({ limit: 10 })).map(plain)).toEqual([asStored(e)])
      await expectCode(store.insertKey(key, makeSecret(key.id), [event()]), 'store_conflict')
      expect(await store.listAudit({ limit: 10 })).toHaveLength(1)
    })

    it('does not insert a key whose event cannot be written', async () => {
      const e = event()
      await store.appendAudit([e])
      const key = makeKey()
      await expectCode(store.insertKey(key, makeSecret(key.id), [e]), 'store_conflict')
      await expect(store.getKey(key.id)).resolves.toBeNull()
    })

    it('updates a key and builds its events from the key before and after', async () => {
      const key = await insert({ name: 'old' })
      const pairs: [string, string][] = []
      const updated = await store.updateKey(key.id, { name: 'new', updatedAt: T0 + 1 }, (b, a) => {
        pairs.push([b.name, a.name])
        return [event({ keyId: key.id, action: 'key.updated', details: { from: b.name } })]
      })
      expect(updated?.name).toBe('new')
      expect(pairs).toEqual([['old', 'new']])
      const [listed] = await store.listAudit({ limit: 10 })
      expect(listed?.details).toEqual({ from: 'old' })
      await expect(
        store.updateKey(newKeyId(), { updatedAt: T0 }, () => [event()]),
      ).resolves.toBeNull()
      expect(await store.listAudit({ limit: 10 })).toHaveLength(1)
    })

    it('leaves the key unchanged when its update event cannot be written', async () => {
      const key = await insert({ name: 'kept' })
      const e = event()
      await store.appendAudit([e])
      await expectCode(
        store.updateKey(key.id, { name: 'lost', updatedAt: T0 + 1 }, () => [e]),
        'store_conflict',
      )
      await expect(store.getKey(key.id)).resolves.toEqual(key)
    })

    it('records role changes with the scopes they replaced', async () => {
      const befores: (readonly string[] | null)[] = []
      await store.setRole('ops', ['a:read'], (b) => {
        befores.push(b)
        return [event({ action: 'role.set' })]
      })
      await store.setRole('ops', ['b:read'], (b) => {
        befores.push(b)
        return [event({ action: 'role.set' })]
      })
      let deletedScopes: readonly string[] = []
      await expect(
        store.deleteRole('ops', (b) => {
          deletedScopes = b
          return [event({ action: 'role.deleted' })]
        }),
      ).resolves.toBe(true)
      await expect(store.deleteRole('ops', () => [event()])).resolves.toBe(false)
      expect(befores).toEqual([null, ['a:read']])
      expect(deletedScopes).toEqual(['b:read'])
      expect((await store.listAudit({ limit: 10 })).map((e) => e.action)).toEqual([
        'role.deleted',
        'role.set',
        'role.set',
      ])
    })

    it('keeps the expiry policy, global and per owner, with its events', async () => {
      await expect(store.getExpiryPolicy()).resolves.toEqual({ maxAgeMs: null, owners: {} })
      const befores: (number | null)[] = []
      const audit = (b: number | null) => {
        befores.push(b)
        return [event({ action: 'policy.set' })]
      }
      await store.setExpiryPolicy(null, 90 * 86_400_000, audit)
      await store.setExpiryPolicy('svc:billing', 30 * 86_400_000, audit)
      await store.setExpiryPolicy(null, 60 * 86_400_000, audit)
      await expect(store.getExpiryPolicy()).resolves.toEqual({
        maxAgeMs: 60 * 86_400_000,
        owners: { 'svc:billing': 30 * 86_400_000 },
      })
      await store.setExpiryPolicy('svc:billing', null, audit)
      await store.setExpiryPolicy(null, null, audit)
      await expect(store.getExpiryPolicy()).resolves.toEqual({ maxAgeMs: null, owners: {} })
      expect(befores).toEqual([null, null, 90 * 86_400_000, 30 * 86_400_000, 60 * 86_400_000])
      expect(await store.listAudit({ limit: 10 })).toHaveLength(5)
    })

    it('counts keys past the policy and expiring, as the reference rules do', async () => {
      const day = 86_400_000
      const now = T0 + 100 * day
      await insert({ createdAt: T0 }) // 100 days old: past a 90-day global policy
      await insert({ createdAt: T0 + 20 * day }) // 80 days: within
      const rotatedKey = await insert({ createdAt: T0 })
      await rotate(makeSecret(rotatedKey.id, { createdAt: T0 + 50 * day }), T0 + 50 * day)
      await insert({ createdAt: T0, ownerId: 'svc:long' }) // owner allows 200 days
      await insert({ createdAt: T0 + 80 * day, ownerId: 'svc:short' }) // owner allows 10 days
      await insert({ createdAt: T0, state: 'revoked', revokedAt: T0 }) // not counted
      await insert({ createdAt: T0, expiresAt: now - 1 }) // expired: not counted
      await insert({ createdAt: now, expiresAt: now + day / 2 })
      await insert({ createdAt: now, expiresAt: now + 5 * day })
      await insert({ createdAt: now, expiresAt: now + 5 * day, state: 'disabled' })
      await expect(store.expiryCounts(now, [day, 7 * day])).resolves.toEqual({
        pastPolicy: 0,
        expiring: [1, 2],
      })
      const none = () => []
      await store.setExpiryPolicy(null, 90 * day, none)
      await store.setExpiryPolicy('svc:long', 200 * day, none)
      await store.setExpiryPolicy('svc:short', 10 * day, none)
      const counts = await store.expiryCounts(now, [day])
      expect(counts.pastPolicy).toBe(2)
      const policy = await store.getExpiryPolicy()
      const all = (await store.listKeys({ now, limit: 100 })).items
      expect(all.filter((k) => isPastPolicy(k, policy, now))).toHaveLength(2)
    })
  })

  describe('audit', () => {
    it('appends and lists newest first, with every field', async () => {
      const e1 = event({
        at: T0 + 1,
        keyId: 'key_AAAAAAAAAAAAAAAA',
        actor: 'cli:alice',
        ip: '2001:db8::1',
        details: { scopes: ['a:b'], n: 1, nested: { z: 1, a: [true, null] } },
      })
      const e2 = event({ at: T0 + 3, action: 'key.denied', count: 42 })
      const e3 = event({ at: T0 + 2, action: 'role.set', details: { name: 'ops' } })
      await store.appendAudit([e1, e2])
      await store.appendAudit([e3])
      await store.appendAudit([])
      const listed = await store.listAudit({ limit: 10 })
      expect(listed.map(plain)).toEqual([e2, e3, e1].map(asStored))
    })

    it('chains events: seq in append order, each linked to and hashed over the one before', async () => {
      const events = [event({ at: T0 + 5 }), event({ at: T0 + 1 }), event({ at: T0 + 3 })]
      await store.appendAudit(events.slice(0, 2))
      await store.appendAudit(events.slice(2))
      const chain = await store.readAuditChain(0, 10)
      expect(chain.map((e) => e.id)).toEqual(events.map((e) => e.id))
      expect(chain.map((e) => e.seq)).toEqual([1, 2, 3])
      let prev = GENESIS_HASH
      for (const e of chain) {
        expect(e.prevHash).toBe(prev)
        expect(e.hash).toBe(auditEventHash(prev, e))
        prev = e.hash
      }
      await expect(store.auditChainState()).resolves.toEqual({
        anchor: { seq: 0, hash: GENESIS_HASH },
        head: { seq: 3, hash: prev },
      })
      expect((await store.readAuditChain(1, 1)).map((e) => e.seq)).toEqual([2])
      await expect(verifyAuditChain(store)).resolves.toMatchObject({ ok: true, checked: 3 })
    })

    it('keeps one valid chain under many concurrent appends', async () => {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.appendAudit([event(), event({ at: T0 + i })])),
      )
      const report = await verifyAuditChain(store, { pageSize: 7 })
      expect(report).toMatchObject({ ok: true, checked: 40, head: { seq: 40 } })
    })

    it('orders events of the same millisecond newest appended first', async () => {
      const events = Array.from({ length: 4 }, (_, i) => event({ at: T0, action: `a${i}` }))
      await store.appendAudit(events.slice(0, 2))
      await store.appendAudit(events.slice(2))
      const listed = await store.listAudit({ limit: 10 })
      expect(listed.map((e) => e.action)).toEqual(['a3', 'a2', 'a1', 'a0'])
    })

    it('filters by key and since (inclusive), and honours limit', async () => {
      const k = 'key_BBBBBBBBBBBBBBBB'
      const events = Array.from({ length: 6 }, (_, i) =>
        event({ at: T0 + i * 10, keyId: i % 2 ? k : null }),
      )
      await store.appendAudit(events)
      const forKey = await store.listAudit({ keyId: k, limit: 10 })
      expect(forKey.map((e) => e.at)).toEqual([T0 + 50, T0 + 30, T0 + 10])
      const since = await store.listAudit({ since: T0 + 20, limit: 10 })
      expect(since.map((e) => e.at)).toEqual([T0 + 50, T0 + 40, T0 + 30, T0 + 20])
      const both = await store.listAudit({ keyId: k, since: T0 + 30, limit: 1 })
      expect(both.map(plain)).toEqual([asStored(events[5]!)])
      const two = await store.listAudit({ limit: 2 })
      expect(two.map(plain)).toEqual([events[5]!, events[4]!].map(asStored))
    })

    it('filters by actor, action, until (exclusive) and pages before a cursor', async () => {
      const events = Array.from({ length: 8 }, (_, i) =>
        event({
          at: T0 + Math.floor(i / 2),
          actor: i % 2 ? 'cli:bob' : 'key_CCCCCCCCCCCCCCCC',
          action: i % 3 ? 'key.updated' : 'key.denied',
        }),
      )
      await store.appendAudit(events)
      const all = await store.listAudit({ limit: 100 })
      const reference = (q: Omit<AuditQuery, 'limit'>) =>
        all
          .filter(
            (e) =>
              (q.actor === undefined || e.actor === q.actor) &&
              (q.action === undefined || e.action === q.action) &&
              (q.until === undefined || e.at < q.until) &&
              (q.before === undefined ||
                e.at < q.before.at ||
                (e.at === q.before.at && e.seq < q.before.seq)),
          )
          .map((e) => e.id)
      const mid = all[3]!
      const queries: Omit<AuditQuery, 'limit'>[] = [
        { actor: 'cli:bob' },
        { action: 'key.denied' },
        { until: T0 + 2 },
        { before: { at: mid.at, seq: mid.seq } },
        { actor: 'cli:bob', action: 'key.updated', until: T0 + 4, before: { at: T0 + 3, seq: 8 } },
      ]
      for (const q of queries) {
        const got = await store.listAudit({ ...q, limit: 100 })
        expect(got.map((e) => e.id), JSON.stringify(q)).toEqual(reference(q))
      }
    })

    it('refuses an event id that is already stored with store_conflict, appending nothing', async () => {
      const e = event()
      await store.appendAudit([e])
      await expectCode(store.appendAudit([event(), { ...e, action: 'other' }]), 'store_conflict')
      expect((await store.listAudit({ limit: 10 })).map(plain)).toEqual([asStored(e)])
      await expect(verifyAuditChain(store)).resolves.toMatchObject({ ok: true, checked: 1 })
    })

    it('prunes the oldest events in bounded batches and keeps the chain verifiable', async () => {
      const events = Array.from({ length: 10 }, (_, i) => event({ at: T0 + i }))
      // a late event (older time, appended after a newer one) stops the pruning at its place
      events[7] = event({ at: T0 + 100 })
      events[8] = event({ at: T0 + 2 })
      await store.appendAudit(events)
      await expect(store.pruneAudit(T0 + 50, 3)).resolves.toBe(3)
      let state = await store.auditChainState()
      const chain = await store.readAuditChain(0, 100)
      expect(state.anchor.seq).toBe(3)
      expect(chain[0]?.prevHash).toBe(state.anchor.hash)
      await expect(store.pruneAudit(T0 + 50, 100)).resolves.toBe(4)
      state = await store.auditChainState()
      expect(state.anchor.seq).toBe(7)
      await expect(store.pruneAudit(T0 + 50, 100)).resolves.toBe(0)
      expect((await store.readAuditChain(0, 100)).map((e) => e.seq)).toEqual([8, 9, 10])
      await expect(verifyAuditChain(store)).resolves.toMatchObject({ ok: true, checked: 3 })
      // new events still chain after the pruned ones
      await store.appendAudit([event()])
      await expect(verifyAuditChain(store)).resolves.toMatchObject({ ok: true, checked: 4 })
      // pruning everything leaves an empty, valid chain
      await expect(store.pruneAudit(Number.MAX_SAFE_INTEGER, 100)).resolves.toBe(4)
      await expect(verifyAuditChain(store)).resolves.toMatchObject({ ok: true, checked: 0 })
    })
  })

}
