import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { foundKey } from '../../src/stores/found-key.js'
import { matchesListQuery } from '../../src/stores/list-query.js'
import type {
  KeyRecord,
  ListKeysQuery,
  SecretRecord,
  Store,
  UsageCell,
  UsageSummaryQuery,
} from '../../src/stores/types.js'
import {
  makeKey,
  makeSecret,
  makeSigningKey,
  newHash,
  newKeyId,
  T0,
} from '../fixtures/records.js'
import { describeAuditContract } from './store-audit.js'
import { event, expectCode, rotateTo } from './store-helpers.js'

export { makeKey, makeSecret, newHash, newKeyId } from '../fixtures/records.js'

/** What a backend's test file hands the suite: a fresh, not yet migrated store per test. */
export type MakeStore = () => Promise<{ store: Store; cleanup(): Promise<void> }>

/** A key with every optional field filled, JSON fields included. */
function fullKey(): KeyRecord {
  return makeKey({
    name: 'billing – prod ✓',
    ownerId: 'svc:billing',
    prefix: 'kw_live',
    hint: 'kw_live_Wxyz…1234',
    scopes: ['orders:read', 'orders:*', '*'],
    roles: ['reader', 'writer'],
    rateLimits: [
      { name: 'burst', limit: 20, windowMs: 1000 },
      { name: 'hour', limit: 1000, windowMs: 3_600_000 },
    ],
    quota: { limit: 10_000, periodMs: 30 * 86_400_000 },
    metadata: {
      team: 'payments',
      tier: 3,
      flags: [true, false, null],
      nested: { deep: { 'quote"key': 'back\\slash', emoji: '🔑' } },
      empty: {},
    },
    ipAllowlist: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.7'],
    state: 'disabled',
    createdAt: T0 + 1,
    updatedAt: T0 + 2,
    expiresAt: T0 + 90 * 86_400_000,
    revokedAt: T0 + 3,
    lastUsedAt: T0 + 4,
    usageCount: 42,
  })
}

export function describeStore(name: string, makeStore: MakeStore): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store
    let cleanup: () => Promise<void>

    beforeEach(async () => {
      const made = await makeStore()
      store = made.store
      cleanup = made.cleanup
      await store.migrate()
    })
    afterEach(async () => {
      await cleanup()
    })

    async function insert(overrides: Partial<KeyRecord> = {}): Promise<KeyRecord> {
      const key = makeKey(overrides)
      await store.insertKey(key, makeSecret(key.id, { createdAt: key.createdAt }))
      return key
    }

    const rotate = (secret: SecretRecord, previousExpireAt: number, expectHint?: string) =>
      rotateTo(store, secret, previousExpireAt, expectHint)

    describeAuditContract(() => store)

    describe('migrate and kind', () => {
      it('names its kind', () => {
        expect(typeof store.kind).toBe('string')
        expect(store.kind.length).toBeGreaterThan(0)
      })

      it('is idempotent: migrating again keeps the data', async () => {
        const key = await insert()
        await store.migrate()
        await store.migrate()
        await expect(store.getKey(key.id)).resolves.toEqual(key)
      })
    })

    describe('insertKey, findByHash, getKey', () => {
      it('round-trips every field of a full record', async () => {
        const key = fullKey()
        const secret = makeSecret(key.id, {
          pepperVersion: 3,
          hint: key.hint,
          imported: true,
          createdAt: T0 + 5,
          expiresAt: T0 + 6,
        })
        await store.insertKey(key, secret)
        await expect(store.getKey(key.id)).resolves.toEqual(key)
        await expect(store.findByHash(secret.hash)).resolves.toEqual(foundKey(key, secret))
        await expect(store.listSecrets(key.id)).resolves.toEqual([secret])
      })

      it('round-trips nulls, empty lists and empty metadata', async () => {
        const key = makeKey()
        const secret = makeSecret(key.id)
        await store.insertKey(key, secret)
        const found = await store.findByHash(secret.hash)
        expect(found).toEqual(foundKey(key, secret))
        expect(found?.key.ownerId).toBeNull()
        expect(found?.key.quota).toBeNull()
        expect(found?.key.expiresAt).toBeNull()
        expect(found?.secret.expiresAt).toBeNull()
      })

      it('answers null for an unknown hash or id', async () => {
        await insert()
        await expect(store.findByHash(newHash())).resolves.toBeNull()
        await expect(store.getKey(newKeyId())).resolves.toBeNull()
      })

      it('returns copies: changing a result does not change the store', async () => {
        const key = await insert({ scopes: ['a:b'], metadata: { x: 1 } })
        const got = (await store.getKey(key.id))!
        ;(got.scopes as string[]).push('c:d')
        ;(got.metadata as Record<string, unknown>).x = 2
        got.name = 'changed'
        await expect(store.getKey(key.id)).resolves.toEqual(key)
      })

      it('refuses a duplicate id with store_conflict and stores nothing of it', async () => {
        const key = await insert()
        const other = makeSecret(key.id)
        const e = await expectCode(
          store.insertKey(makeKey({ id: key.id, name: 'dup' }), other),
          'store_conflict',
        )
        expect(e.message).toContain(key.id)
        await expect(store.getKey(key.id)).resolves.toEqual(key)
        await expect(store.findByHash(other.hash)).resolves.toBeNull()
      })

      it('refuses a duplicate hash with store_conflict and stores nothing of it', async () => {
        const key = makeKey()
        const secret = makeSecret(key.id)
        await store.insertKey(key, secret)
        const second = makeKey()
        const e = await expectCode(
          store.insertKey(second, makeSecret(second.id, { hash: secret.hash })),
          'store_conflict',
        )
        expect(e.message).not.toContain(secret.hash)
        await expect(store.getKey(second.id)).resolves.toBeNull()
        expect((await store.findByHash(secret.hash))?.key.id).toBe(key.id)
      })
    })

    describe('insertKeys', () => {
      it('inserts many keys with their secrets', async () => {
        const rows = Array.from({ length: 250 }, (_, i) => {
          const key = makeKey({
            createdAt: T0 + i,
            scopes: i % 2 ? ['a:b'] : [],
            ownerId: `o${i % 3}`,
          })
          return { key, secret: makeSecret(key.id, { pepperVersion: 1 + (i % 2) }) }
        })
        await store.insertKeys(rows)
        for (const row of [rows[0]!, rows[137]!, rows[249]!]) {
          await expect(store.findByHash(row.secret.hash)).resolves.toEqual(
            foundKey(row.key, row.secret),
          )
        }
        const page = await store.listKeys({ now: T0, limit: 1000 })
        expect(page.items).toHaveLength(250)
      })

      it('handles a large batch, and a conflict in its last row undoes all of it', async () => {
        // large enough for the bulk paths of SQL stores (sorted inserts, several statements)
        const rows = Array.from({ length: 5500 }, (_, i) => {
          const key = makeKey({ createdAt: T0 + (i % 7), metadata: i % 3 ? {} : { i } })
          return { key, secret: makeSecret(key.id) }
        })
        const taken = rows[0]!.secret.hash
        const last = rows[rows.length - 1]!
        const bad = [...rows.slice(0, -1), { ...last, secret: { ...last.secret, hash: taken } }]
        await expectCode(store.insertKeys(bad), 'store_conflict')
        await expect(store.findByHash(taken)).resolves.toBeNull()
        expect((await store.listKeys({ now: T0, limit: 10 })).items).toEqual([])
        await store.insertKeys(rows)
        for (const row of [rows[0]!, rows[2750]!, last]) {
          await expect(store.findByHash(row.secret.hash)).resolves.toEqual(
            foundKey(row.key, row.secret),
          )
        }
        await expect(store.getKey(rows[3]!.key.id)).resolves.toEqual(rows[3]!.key)
      })

      it('accepts an empty batch', async () => {
        await store.insertKeys([])
        await expect(store.listKeys({ now: T0, limit: 10 })).resolves.toEqual({
          items: [],
          nextCursor: null,
        })
      })

      it('is all-or-nothing on a duplicate id within the batch', async () => {
        const a = makeKey()
        const b = makeKey()
        const rows = [
          { key: a, secret: makeSecret(a.id) },
          { key: b, secret: makeSecret(b.id) },
          { key: makeKey({ id: a.id }), secret: makeSecret(a.id) },
        ]
        await expectCode(store.insertKeys(rows), 'store_conflict')
        await expect(store.getKey(a.id)).resolves.toBeNull()
        await expect(store.getKey(b.id)).resolves.toBeNull()
      })

      it('is all-or-nothing on a hash that is already stored', async () => {
        const existing = makeKey()
        const secret = makeSecret(existing.id)
        await store.insertKey(existing, secret)
        const a = makeKey()
        const b = makeKey()
        await expectCode(
          store.insertKeys([
            { key: a, secret: makeSecret(a.id) },
            { key: b, secret: makeSecret(b.id, { hash: secret.hash }) },
          ]),
          'store_conflict',
        )
        await expect(store.getKey(a.id)).resolves.toBeNull()
        await expect(store.getKey(b.id)).resolves.toBeNull()
        expect((await store.listKeys({ now: T0, limit: 10 })).items).toEqual([existing])
      })

      it('is all-or-nothing on a duplicate hash within the batch', async () => {
        const a = makeKey()
        const b = makeKey()
        const hash = newHash()
        await expectCode(
          store.insertKeys([
            { key: a, secret: makeSecret(a.id, { hash }) },
            { key: b, secret: makeSecret(b.id, { hash }) },
          ]),
          'store_conflict',
        )
        await expect(store.findByHash(hash)).resolves.toBeNull()
        await expect(store.getKey(a.id)).resolves.toBeNull()
      })
    })

    describe('listKeys', () => {
      it('lists newest first', async () => {
        const keys = []
        for (const t of [3, 1, 5, 2, 4]) keys.push(await insert({ createdAt: T0 + t }))
        const page = await store.listKeys({ now: T0, limit: 10 })
        expect(page.items.map((k) => k.createdAt)).toEqual([5, 4, 3, 2, 1].map((t) => T0 + t))
        expect(page.nextCursor).toBeNull()
        expect(page.items[0]).toEqual(keys[2])
      })

      it('pages with a cursor across keys created in the same millisecond', async () => {
        const inserted: KeyRecord[] = []
        for (let i = 0; i < 11; i++)
          inserted.push(await insert({ createdAt: T0 + (i < 7 ? 0 : i) }))
        const expected = [...inserted]
          .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
          .map((k) => k.id)
        const seen: string[] = []
        let cursor: string | undefined
        let pages = 0
        do {
          const page = await store.listKeys({
            now: T0,
            limit: 3,
            ...(cursor === undefined ? {} : { cursor }),
          })
          expect(page.items.length).toBeLessThanOrEqual(3)
          seen.push(...page.items.map((k) => k.id))
          cursor = page.nextCursor ?? undefined
          pages++
        } while (cursor !== undefined && pages < 20)
        expect(seen).toEqual(expected)
        expect(pages).toBe(4)
      })

      it('gives no cursor when the last page is exactly full', async () => {
        for (let i = 0; i < 4; i++) await insert({ createdAt: T0 + i })
        const first = await store.listKeys({ now: T0, limit: 2 })
        expect(first.nextCursor).not.toBeNull()
        const second = await store.listKeys({ now: T0, limit: 2, cursor: first.nextCursor! })
        expect(second.items).toHaveLength(2)
        expect(second.nextCursor).toBeNull()
      })

      it('filters by owner', async () => {
        const a1 = await insert({ ownerId: 'svc:a', createdAt: T0 + 1 })
        await insert({ ownerId: 'svc:b', createdAt: T0 + 2 })
        await insert({ ownerId: null, createdAt: T0 + 3 })
        const a2 = await insert({ ownerId: 'svc:a', createdAt: T0 + 4 })
        const page = await store.listKeys({ ownerId: 'svc:a', now: T0, limit: 10 })
        expect(page.items.map((k) => k.id)).toEqual([a2.id, a1.id])
        const none = await store.listKeys({ ownerId: 'svc:none', now: T0, limit: 10 })
        expect(none.items).toEqual([])
      })

      it('filters by status, judging expiry at query.now', async () => {
        const now = T0 + 1000
        const active = await insert({ createdAt: T0 + 1 })
        const notYet = await insert({ createdAt: T0 + 2, expiresAt: now + 1 })
        const expired = await insert({ createdAt: T0 + 3, expiresAt: now })
        const expiredLong = await insert({ createdAt: T0 + 4, expiresAt: T0 })
        const revoked = await insert({ createdAt: T0 + 5, state: 'revoked', revokedAt: T0 + 6 })
        const revokedExpired = await insert({
          createdAt: T0 + 6,
          state: 'revoked',
          revokedAt: T0 + 7,
          expiresAt: T0,
        })
        const disabled = await insert({ createdAt: T0 + 7, state: 'disabled' })
        const disabledExpired = await insert({
          createdAt: T0 + 8,
          state: 'disabled',
          expiresAt: T0,
        })
        const ids = async (status: 'active' | 'revoked' | 'expired' | 'disabled', at = now) =>
          (await store.listKeys({ status, now: at, limit: 100 })).items.map((k) => k.id)
        await expect(ids('active')).resolves.toEqual([notYet.id, active.id])
        await expect(ids('expired')).resolves.toEqual([expiredLong.id, expired.id])
        await expect(ids('revoked')).resolves.toEqual([revokedExpired.id, revoked.id])
        await expect(ids('disabled')).resolves.toEqual([disabledExpired.id, disabled.id])
        // one millisecond later, the key expiring at now + 1 is expired too
        await expect(ids('active', now + 1)).resolves.toEqual([active.id])
        await expect(ids('expired', now + 1)).resolves.toEqual([
          expiredLong.id,
          expired.id,
          notYet.id,
        ])
      })

      it('combines owner, status and paging', async () => {
        const mine: string[] = []
        for (let i = 0; i < 6; i++) {
          const k = await insert({
            ownerId: i % 2 ? 'svc:a' : 'svc:b',
            createdAt: T0 + (i < 4 ? 1 : i),
            state: i === 5 ? 'revoked' : 'active',
          })
          if (i % 2 && i !== 5) mine.push(k.id)
        }
        const first = await store.listKeys({
          ownerId: 'svc:a',
          status: 'active',
          now: T0,
          limit: 1,
        })
        expect(first.items).toHaveLength(1)
        const second = await store.listKeys({
          ownerId: 'svc:a',
          status: 'active',
          now: T0,
          limit: 1,
          cursor: first.nextCursor!,
        })
        expect(second.nextCursor).toBeNull()
        expect([...first.items, ...second.items].map((k) => k.id).sort()).toEqual(mine.sort())
      })

      it('filters by prefix exactly', async () => {
        const live = await insert({ prefix: 'kw_live', createdAt: T0 + 1 })
        await insert({ prefix: 'kw_test', createdAt: T0 + 2 })
        await insert({ prefix: 'kw', createdAt: T0 + 3 })
        const imported = await insert({ prefix: 'imported', createdAt: T0 + 4 })
        const ids = async (prefix: string) =>
          (await store.listKeys({ prefix, now: T0, limit: 10 })).items.map((k) => k.id)
        await expect(ids('kw_live')).resolves.toEqual([live.id])
        await expect(ids('imported')).resolves.toEqual([imported.id])
        await expect(ids('kw_l')).resolves.toEqual([])
      })

      it('filters by a scope the key holds itself, exactly: no wildcard, role or substring', async () => {
        const exact = await insert({ scopes: ['orders:read'], createdAt: T0 + 1 })
        const among = await insert({ scopes: ['a', 'orders:read', 'z:z'], createdAt: T0 + 2 })
        const ordersAll = await insert({ scopes: ['orders:*'], createdAt: T0 + 3 })
        await insert({ scopes: ['*'], createdAt: T0 + 4 })
        await insert({ scopes: ['orders:reader', 'orders:rea', 'xorders:read'], createdAt: T0 + 5 })
        await insert({ scopes: [], roles: ['orders:read'], createdAt: T0 + 6 })
        const wildcard = await insert({ scopes: ['orders:*'], createdAt: T0 + 7 })
        const ids = async (scope: string) =>
          (await store.listKeys({ scope, now: T0, limit: 10 })).items.map((k) => k.id)
        await expect(ids('orders:read')).resolves.toEqual([among.id, exact.id])
        // the literal wildcard scope matches keys that hold it, and only those
        await expect(ids('orders:*')).resolves.toEqual([wildcard.id, ordersAll.id])
        await expect(ids('orders')).resolves.toEqual([])
        await expect(ids('"orders:read"')).resolves.toEqual([])
      })

      it('filters keys expiring before a time and not expired yet, whatever their state', async () => {
        const now = T0 + 1000
        const before = now + 500
        await insert({ createdAt: T0 + 1, expiresAt: null })
        await insert({ createdAt: T0 + 2, expiresAt: now })
        const soon = await insert({ createdAt: T0 + 3, expiresAt: now + 1 })
        const last = await insert({ createdAt: T0 + 4, expiresAt: before - 1 })
        await insert({ createdAt: T0 + 5, expiresAt: before })
        await insert({ createdAt: T0 + 6, expiresAt: before + 1 })
        const revoked = await insert({
          createdAt: T0 + 7,
          state: 'revoked',
          revokedAt: T0,
          expiresAt: now + 10,
        })
        const ids = async (extra: { status?: 'active' | 'revoked' | 'expired' } = {}) =>
          (await store.listKeys({ expiringBefore: before, now, limit: 10, ...extra })).items.map(
            (k) => k.id,
          )
        await expect(ids()).resolves.toEqual([revoked.id, last.id, soon.id])
        await expect(ids({ status: 'active' })).resolves.toEqual([last.id, soon.id])
        await expect(ids({ status: 'revoked' })).resolves.toEqual([revoked.id])
        await expect(ids({ status: 'expired' })).resolves.toEqual([])
      })

      it('agrees with the reference filter on every combination, page by page', async () => {
        // a fixed pseudo-random population, so that a failure reproduces
        let seed = 7
        const pick = <T>(values: readonly T[]): T => {
          seed = (seed * 1103515245 + 12345) % 2147483648
          return values[seed % values.length]!
        }
        const now = T0 + 10_000
        const keys: KeyRecord[] = []
        for (let i = 0; i < 40; i++) {
          const state = pick(['active', 'active', 'revoked', 'disabled'] as const)
          keys.push(
            await insert({
              createdAt: T0 + pick([1, 2, 3, 4, 5, 6]),
              ownerId: pick(['svc:a', 'svc:b', null]),
              prefix: pick(['kw_live', 'kw_test']),
              scopes: pick([[], ['orders:read'], ['orders:read', 'orders:write'], ['orders:*']]),
              state,
              revokedAt: state === 'revoked' ? T0 : null,
              expiresAt: pick([null, null, now - 1, now, now + 1, now + 50, now + 100]),
            }),
          )
        }
        const queries: Omit<ListKeysQuery, 'now' | 'limit' | 'cursor'>[] = [
          {},
          { ownerId: 'svc:a' },
          { prefix: 'kw_live' },
          { scope: 'orders:read' },
          { scope: 'orders:*' },
          { expiringBefore: now + 100 },
          { status: 'active', scope: 'orders:write' },
          { status: 'revoked', prefix: 'kw_test' },
          { status: 'expired', ownerId: 'svc:b' },
          { status: 'disabled', expiringBefore: now + 51 },
          { ownerId: 'svc:a', prefix: 'kw_test', scope: 'orders:read', expiringBefore: now + 101 },
        ]
        for (const filters of queries) {
          const expected = keys
            .filter((k) => matchesListQuery(k, { ...filters, now, limit: 1 }))
            .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
            .map((k) => k.id)
          const seen: string[] = []
          let cursor: string | undefined
          do {
            const page = await store.listKeys({
              ...filters,
              now,
              limit: 3,
              ...(cursor === undefined ? {} : { cursor }),
            })
            seen.push(...page.items.map((k) => k.id))
            cursor = page.nextCursor ?? undefined
          } while (cursor !== undefined && seen.length <= keys.length)
          expect({ filters, ids: seen }).toEqual({ filters, ids: expected })
        }
      })

      it('refuses a cursor it did not make with invalid_argument', async () => {
        await insert()
        await expectCode(
          store.listKeys({ now: T0, limit: 10, cursor: 'not-a-cursor' }),
          'invalid_argument',
        )
      })
    })

    describe('updateKey', () => {
      it('applies a patch of every field and leaves the rest alone', async () => {
        const key = await insert({ usageCount: 7, lastUsedAt: T0 + 9 })
        const patch = {
          name: 'renamed',
          ownerId: 'svc:new',
          hint: 'kw_test_Newh…int1',
          scopes: ['a:b', 'c:*'],
          roles: ['admin'],
          rateLimits: [{ name: 'default', limit: 5, windowMs: 60_000 }],
          quota: { limit: 3, periodMs: 86_400_000 },
          metadata: { env: 'prod', n: [1, 2] },
          ipAllowlist: ['127.0.0.1'],
          state: 'revoked' as const,
          expiresAt: T0 + 50,
          revokedAt: T0 + 40,
          updatedAt: T0 + 30,
        }
        const updated = await store.updateKey(key.id, patch)
        const expected = { ...key, ...patch }
        expect(updated).toEqual(expected)
        await expect(store.getKey(key.id)).resolves.toEqual(expected)
      })

      it('changes only the fields in the patch', async () => {
        const key = await insert(fullKey())
        const updated = await store.updateKey(key.id, { scopes: [], updatedAt: T0 + 99 })
        expect(updated).toEqual({ ...key, scopes: [], updatedAt: T0 + 99 })
      })

      it('sets nullable fields to null and lists back to empty', async () => {
        const key = await insert(fullKey())
        const patch = {
          ownerId: null,
          quota: null,
          expiresAt: null,
          revokedAt: null,
          metadata: {},
          ipAllowlist: [],
          roles: [],
          rateLimits: [],
          updatedAt: T0 + 1,
        }
        const updated = await store.updateKey(key.id, patch)
        expect(updated).toEqual({ ...key, ...patch })
        await expect(store.getKey(key.id)).resolves.toEqual({ ...key, ...patch })
      })

      it('is seen by findByHash', async () => {
        const key = makeKey()
        const secret = makeSecret(key.id)
        await store.insertKey(key, secret)
        await store.updateKey(key.id, { state: 'revoked', revokedAt: T0 + 1, updatedAt: T0 + 1 })
        const found = await store.findByHash(secret.hash)
        expect(found?.key.state).toBe('revoked')
      })

      it('answers null for an unknown id', async () => {
        await expect(store.updateKey(newKeyId(), { name: 'x', updatedAt: T0 })).resolves.toBeNull()
      })
    })

    describe('recordUsage', () => {
      it('adds counts and keeps the latest lastUsedAt, without touching updatedAt', async () => {
        const a = await insert()
        const b = await insert({ usageCount: 10, lastUsedAt: T0 + 500 })
        await store.recordUsage([
          { keyId: a.id, count: 3, lastUsedAt: T0 + 100 },
          { keyId: b.id, count: 1, lastUsedAt: T0 + 200 },
          { keyId: a.id, count: 2, lastUsedAt: T0 + 50 },
        ])
        await store.recordUsage([{ keyId: a.id, count: 4, lastUsedAt: T0 + 300 }])
        const gotA = await store.getKey(a.id)
        const gotB = await store.getKey(b.id)
        expect(gotA).toEqual({ ...a, usageCount: 9, lastUsedAt: T0 + 300 })
        expect(gotB).toEqual({ ...b, usageCount: 11, lastUsedAt: T0 + 500 })
      })

      it('ignores unknown keys and empty batches', async () => {
        const a = await insert()
        await store.recordUsage([])
        await store.recordUsage([
          { keyId: newKeyId(), count: 5, lastUsedAt: T0 },
          { keyId: a.id, count: 1, lastUsedAt: T0 + 1 },
        ])
        expect((await store.getKey(a.id))?.usageCount).toBe(1)
      })
    })

    describe('usage analytics', () => {
      const MIN = 60_000
      const HOUR = 3_600_000
      // a whole day, so that minute and hour buckets line up with T0's
      const D0 = T0 - (T0 % 86_400_000)
      const cell = (keyId: string, overrides: Partial<UsageCell> = {}): UsageCell => ({
        keyId,
        at: D0,
        code: 'valid',
        tag: '/orders',
        count: 1,
        firstIp: '203.0.113.1',
        lastIp: '203.0.113.1',
        ...overrides,
      })
      const summary = (q: Partial<UsageSummaryQuery> = {}) =>
        store.summarizeUsage({ since: D0, until: D0 + 86_400_000, stepMs: MIN, tagLimit: 10, ...q })

      it('adds cells to their minute rows: counts add up, the first IP stays, the last IP moves', async () => {
        const a = await insert()
        await store.recordUsage([], {
          secrets: [],
          cells: [
            cell(a.id, { at: D0 + 5, count: 2, firstIp: '203.0.113.1', lastIp: '203.0.113.2' }),
            cell(a.id, { code: 'rate_limited', count: 3, firstIp: null, lastIp: null }),
          ],
        })
        await store.recordUsage([], {
          secrets: [],
          // the same cell twice in one batch (counts put back after a failed write)
          cells: [
            cell(a.id, { count: 1, firstIp: '203.0.113.9', lastIp: '203.0.113.3' }),
            cell(a.id, { count: 4, firstIp: '203.0.113.8', lastIp: '203.0.113.4' }),
          ],
        })
        const got = await summary({ keyId: a.id })
        expect(got.series).toEqual([
          { at: D0, code: 'rate_limited', count: 3 },
          { at: D0, code: 'valid', count: 7 },
        ])
        expect(got.keys).toEqual([{ keyId: a.id, total: 10, denied: 3 }])
        expect(got.tags).toEqual([{ tag: '/orders', total: 10 }])
        expect(got.firstIp).toBe('203.0.113.1')
        expect(got.lastIp).toBe('203.0.113.4')
      })

      it('summarises by step, key and tag within [since, until)', async () => {
        const a = await insert()
        const b = await insert()
        await store.recordUsage([], {
          secrets: [],
          cells: [
            cell(a.id, {
              at: D0 + 1 * MIN,
              count: 1,
              tag: '/a',
              firstIp: '198.51.100.1',
              lastIp: '198.51.100.1',
            }),
            cell(a.id, {
              at: D0 + 2 * MIN,
              count: 2,
              tag: '/b',
              firstIp: '198.51.100.2',
              lastIp: '198.51.100.2',
            }),
            cell(a.id, { at: D0 + 61 * MIN, count: 4, code: 'insufficient_scope', tag: '/b' }),
            cell(b.id, { at: D0 + 3 * MIN, count: 8, code: 'key_revoked', tag: '' }),
            cell(b.id, { at: D0 + 86_400_000, count: 100 }), // the next day: outside
          ],
        })
        const all = await summary({ stepMs: HOUR })
        expect(all.series).toEqual([
          { at: D0, code: 'key_revoked', count: 8 },
          { at: D0, code: 'valid', count: 3 },
          { at: D0 + HOUR, code: 'insufficient_scope', count: 4 },
        ])
        expect(all.keys).toEqual(
          [
            { keyId: a.id, total: 7, denied: 4 },
            { keyId: b.id, total: 8, denied: 8 },
          ].sort((x, y) => (x.keyId < y.keyId ? -1 : 1)),
        )
        expect(all.tags).toEqual([
          { tag: '', total: 8 },
          { tag: '/b', total: 6 },
          { tag: '/a', total: 1 },
        ])
        expect((await summary({ tagLimit: 1 })).tags).toEqual([{ tag: '', total: 8 }])
        const own = await summary({ keyId: a.id, since: D0 + 2 * MIN, stepMs: 86_400_000 })
        expect(own.series).toEqual([
          { at: D0, code: 'insufficient_scope', count: 4 },
          { at: D0, code: 'valid', count: 2 },
        ])
        expect(own.firstIp).toBe('198.51.100.2')
        expect((await summary({ keyId: a.id })).firstIp).toBe('198.51.100.1')
        const none = await summary({ keyId: newKeyId() })
        expect(none).toEqual({ series: [], keys: [], tags: [], firstIp: null, lastIp: null })
      })

      it('rolls minute rows up into hour rows in bounded batches, keeping totals and IPs', async () => {
        const a = await insert()
        await store.recordUsage([], {
          secrets: [],
          cells: [
            cell(a.id, { at: D0 + 1 * MIN, count: 1, firstIp: '192.0.2.1', lastIp: '192.0.2.2' }),
            cell(a.id, { at: D0 + 2 * MIN, count: 2, firstIp: '192.0.2.3', lastIp: '192.0.2.4' }),
            cell(a.id, { at: D0 + 3 * MIN, count: 3, firstIp: null, lastIp: null }),
            cell(a.id, { at: D0 + 2 * HOUR, count: 5 }), // newer than the cut: stays a minute row
          ],
        })
        const before = await summary({ keyId: a.id, stepMs: 86_400_000 })
        await expect(store.rollUpUsage(D0 + HOUR, 2)).resolves.toBe(2)
        await expect(store.rollUpUsage(D0 + HOUR, 2)).resolves.toBe(1)
        await expect(store.rollUpUsage(D0 + HOUR, 2)).resolves.toBe(0)
        // totals are unchanged; the minute rows now read as one hour row
        await expect(summary({ keyId: a.id, stepMs: 86_400_000 })).resolves.toEqual(before)
        const minutes = await summary({ keyId: a.id, stepMs: MIN })
        expect(minutes.series).toEqual([
          { at: D0, code: 'valid', count: 6 },
          { at: D0 + 2 * HOUR, code: 'valid', count: 5 },
        ])
        const hour = await summary({ keyId: a.id, until: D0 + HOUR })
        expect(hour.firstIp).toBe('192.0.2.1')
        expect(hour.lastIp).toBe('192.0.2.4')
        // later minutes of an hour already rolled up fold into the same row
        await store.recordUsage([], {
          secrets: [],
          cells: [
            cell(a.id, { at: D0 + 30 * MIN, count: 10, firstIp: '192.0.2.9', lastIp: '192.0.2.9' }),
          ],
        })
        await expect(store.rollUpUsage(D0 + HOUR, 100)).resolves.toBe(1)
        const merged = await summary({ keyId: a.id, until: D0 + HOUR })
        expect(merged.series).toEqual([{ at: D0, code: 'valid', count: 16 }])
        expect([merged.firstIp, merged.lastIp]).toEqual(['192.0.2.1', '192.0.2.9'])
      })

      it('prunes rows older than the cut in bounded batches', async () => {
        const a = await insert()
        await store.recordUsage([], {
          secrets: [],
          cells: [1, 2, 3].map((i) => cell(a.id, { at: D0 + i * MIN, count: i })),
        })
        await store.rollUpUsage(D0 + 2 * MIN + 1, 100) // one hour row, one minute row left
        await store.recordUsage([], { secrets: [], cells: [cell(a.id, { at: D0 + 5 * HOUR })] })
        await expect(store.pruneUsage(D0 + HOUR, 1)).resolves.toBe(1)
        await expect(store.pruneUsage(D0 + HOUR, 1)).resolves.toBe(1)
        await expect(store.pruneUsage(D0 + HOUR, 1)).resolves.toBe(0)
        expect((await summary({ keyId: a.id })).series).toEqual([
          { at: D0 + 5 * HOUR, code: 'valid', count: 1 },
        ])
      })

      it("raises a secret's lastUsedAt by key and hint, with the key counters in one write", async () => {
        const key = makeKey()
        const first = makeSecret(key.id, { hint: 'kw_test_Old0…0001', createdAt: T0 })
        await store.insertKey(key, first)
        const second = makeSecret(key.id, { hint: 'kw_test_New0…0002', createdAt: T0 + 10 })
        await rotate(second, T0 + 1000)
        const other = await insert()
        expect((await store.listSecrets(key.id)).map((s) => s.lastUsedAt)).toEqual([null, null])
        await store.recordUsage([{ keyId: key.id, count: 1, lastUsedAt: T0 + 50 }], {
          secrets: [
            { keyId: key.id, hint: first.hint, lastUsedAt: T0 + 40 },
            { keyId: key.id, hint: first.hint, lastUsedAt: T0 + 30 },
            { keyId: other.id, hint: first.hint, lastUsedAt: T0 + 99 },
          ],
          cells: [],
        })
        await store.recordUsage([], {
          secrets: [{ keyId: key.id, hint: first.hint, lastUsedAt: T0 + 20 }],
          cells: [],
        })
        const listed = await store.listSecrets(key.id)
        expect(listed.map((s) => [s.hint, s.lastUsedAt])).toEqual([
          [second.hint, null],
          [first.hint, T0 + 40],
        ])
        expect((await store.getKey(key.id))?.usageCount).toBe(1)
      })
    })

    describe('roles', () => {
      it('sets, overwrites, lists and deletes roles', async () => {
        await expect(store.listRoles()).resolves.toEqual(new Map())
        await store.setRole('reader', ['orders:read'])
        await store.setRole('writer', ['orders:write', 'orders:read'])
        await store.setRole('empty', [])
        await store.setRole('reader', ['orders:read', 'invoices:read'])
        await expect(store.listRoles()).resolves.toEqual(
          new Map([
            ['empty', []],
            ['reader', ['orders:read', 'invoices:read']],
            ['writer', ['orders:write', 'orders:read']],
          ]),
        )
        await expect(store.deleteRole('writer')).resolves.toBe(true)
        await expect(store.deleteRole('writer')).resolves.toBe(false)
        await expect(store.deleteRole('never')).resolves.toBe(false)
        expect([...(await store.listRoles()).keys()].sort()).toEqual(['empty', 'reader'])
      })
    })

    describe('meta', () => {
      it('sets a value only when absent and returns what is stored', async () => {
        await expect(store.getMeta('pepper_check_v1')).resolves.toBeNull()
        await expect(store.setMetaIfAbsent('pepper_check_v1', 'first')).resolves.toBe('first')
        await expect(store.setMetaIfAbsent('pepper_check_v1', 'second')).resolves.toBe('first')
        await expect(store.getMeta('pepper_check_v1')).resolves.toBe('first')
        await expect(store.setMetaIfAbsent('other', '')).resolves.toBe('')
        await expect(store.getMeta('other')).resolves.toBe('')
      })
    })

    describe('pepperVersions', () => {
      it('lists the distinct versions of stored secrets, ascending', async () => {
        await expect(store.pepperVersions()).resolves.toEqual([])
        const a = makeKey()
        await store.insertKey(a, makeSecret(a.id, { pepperVersion: 2 }))
        const rows = [1, 2, 1].map((v) => {
          const key = makeKey()
          return { key, secret: makeSecret(key.id, { pepperVersion: v }) }
        })
        await store.insertKeys(rows)
        await rotate(makeSecret(a.id, { pepperVersion: 7 }), T0)
        await expect(store.pepperVersions()).resolves.toEqual([1, 2, 7])
      })
    })

    describe('signing keys', () => {
      const MIN = 60_000

      it('stores the first key with every field, and lists none before', async () => {
        await expect(store.listSigningKeys()).resolves.toEqual([])
        const key = makeSigningKey({ createdAt: T0 + 1, activatesAt: T0 + 2 })
        await expect(store.insertFirstSigningKey(key)).resolves.toEqual(key)
        await expect(store.listSigningKeys()).resolves.toEqual([key])
      })

      it('keeps the first key: a later first-key insert returns it and stores nothing', async () => {
        const first = makeSigningKey()
        await store.insertFirstSigningKey(first)
        await expect(
          store.insertFirstSigningKey(makeSigningKey({ createdAt: T0 + 5 })),
        ).resolves.toEqual(first)
        await expect(store.listSigningKeys()).resolves.toEqual([first])
      })

      it('ends with one key when many first-key inserts race', async () => {
        const candidates = Array.from({ length: 12 }, (_, i) =>
          makeSigningKey({ createdAt: T0 + i }),
        )
        const results = await Promise.all(candidates.map((k) => store.insertFirstSigningKey(k)))
        const listed = await store.listSigningKeys()
        expect(listed).toHaveLength(1)
        expect(new Set(results.map((r) => r.kid))).toEqual(new Set([listed[0]!.kid]))
      })

      it('rotates: retires the others at the new key’s activation, lists newest first', async () => {
        const k0 = makeSigningKey({ createdAt: T0 })
        await store.insertFirstSigningKey(k0)
        const k1 = makeSigningKey({ createdAt: T0 + MIN, activatesAt: T0 + 2 * MIN })
        await store.rotateSigningKey(k1, 0)
        await expect(store.listSigningKeys()).resolves.toEqual([
          k1,
          { ...k0, retiredAt: T0 + 2 * MIN },
        ])
        // a rotation that activates sooner also brings forward the retirement already set
        const k2 = makeSigningKey({ createdAt: T0 + MIN + 1, activatesAt: T0 + MIN + 1 })
        await store.rotateSigningKey(k2, 0)
        await expect(store.listSigningKeys()).resolves.toEqual([
          k2,
          { ...k1, retiredAt: T0 + MIN + 1 },
          { ...k0, retiredAt: T0 + MIN + 1 },
        ])
        // the first key no longer counts as unretired
        await expect(store.insertFirstSigningKey(makeSigningKey())).resolves.toEqual(k2)
      })

      it('keeps an earlier retirement when the new key activates later', async () => {
        const k0 = makeSigningKey({ createdAt: T0, retiredAt: null })
        await store.insertFirstSigningKey(k0)
        const k1 = makeSigningKey({ createdAt: T0 + 1, activatesAt: T0 + 10 })
        await store.rotateSigningKey(k1, 0)
        const k2 = makeSigningKey({ createdAt: T0 + 2, activatesAt: T0 + 20 })
        await store.rotateSigningKey(k2, 0)
        const byKid = new Map((await store.listSigningKeys()).map((k) => [k.kid, k]))
        expect(byKid.get(k0.kid)?.retiredAt).toBe(T0 + 10)
        expect(byKid.get(k1.kid)?.retiredAt).toBe(T0 + 20)
        expect(byKid.get(k2.kid)?.retiredAt).toBeNull()
      })

      it('deletes keys retired before the cutoff, and only those, on rotation', async () => {
        const k0 = makeSigningKey({ createdAt: T0 })
        await store.insertFirstSigningKey(k0)
        const k1 = makeSigningKey({ createdAt: T0 + 1, activatesAt: T0 + 10 })
        await store.rotateSigningKey(k1, 0)
        const k2 = makeSigningKey({ createdAt: T0 + 2, activatesAt: T0 + 20 })
        // k0 retired at T0 + 10: kept by a cutoff at T0 + 10, deleted by one after it
        await store.rotateSigningKey(k2, T0 + 10)
        expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual([k2.kid, k1.kid, k0.kid])
        const k3 = makeSigningKey({ createdAt: T0 + 3, activatesAt: T0 + 30 })
        await store.rotateSigningKey(k3, T0 + 11)
        expect((await store.listSigningKeys()).map((k) => k.kid)).toEqual([k3.kid, k2.kid, k1.kid])
      })

      it('rotates an empty store into one key', async () => {
        const k = makeSigningKey()
        await store.rotateSigningKey(k, T0)
        await expect(store.listSigningKeys()).resolves.toEqual([k])
      })

      it('refuses a duplicate kid with store_conflict and changes nothing', async () => {
        const k0 = makeSigningKey()
        await store.insertFirstSigningKey(k0)
        const e = await expectCode(
          store.rotateSigningKey(makeSigningKey({ kid: k0.kid, activatesAt: T0 + 5 }), T0 + 100),
          'store_conflict',
        )
        expect(e.message).toContain(k0.kid)
        await expect(store.listSigningKeys()).resolves.toEqual([k0])
      })

      it('serialises concurrent rotations: one unretired key, none lost', async () => {
        await store.insertFirstSigningKey(makeSigningKey())
        const rotated = Array.from({ length: 8 }, (_, i) =>
          makeSigningKey({ createdAt: T0 + 1 + i, activatesAt: T0 + 1 + i }),
        )
        await Promise.all(rotated.map((k) => store.rotateSigningKey(k, 0)))
        const listed = await store.listSigningKeys()
        expect(listed).toHaveLength(9)
        expect(listed.filter((k) => k.retiredAt === null)).toHaveLength(1)
      })

      it('returns copies: changing a result does not change the store', async () => {
        const k = makeSigningKey()
        const inserted = await store.insertFirstSigningKey(k)
        inserted.retiredAt = 1
        const [listed] = await store.listSigningKeys()
        listed!.publicJwk = 'changed'
        await expect(store.listSigningKeys()).resolves.toEqual([k])
      })
    })

    describe('close', () => {
      it('makes every later call fail with store_unavailable', async () => {
        const key = await insert()
        await store.close()
        const calls: [string, () => Promise<unknown>][] = [
          ['migrate', () => store.migrate()],
          ['insertKey', () => store.insertKey(makeKey(), makeSecret(key.id))],
          ['insertKeys', () => store.insertKeys([{ key: makeKey(), secret: makeSecret(key.id) }])],
          ['findByHash', () => store.findByHash(newHash())],
          ['getKey', () => store.getKey(key.id)],
          ['listKeys', () => store.listKeys({ now: T0, limit: 1 })],
          ['updateKey', () => store.updateKey(key.id, { updatedAt: T0 })],
          ['listSecrets', () => store.listSecrets(key.id)],
          ['rotateSecret', () => rotate(makeSecret(key.id), T0, key.hint)],
          ['endGracePeriods', () => store.endGracePeriods(key.id, T0, () => [])],
          ['readAuditChain', () => store.readAuditChain(0, 1)],
          ['auditChainState', () => store.auditChainState()],
          ['pruneAudit', () => store.pruneAudit(T0, 1)],
          ['getExpiryPolicy', () => store.getExpiryPolicy()],
          ['setExpiryPolicy', () => store.setExpiryPolicy(null, 1, () => [])],
          ['expiryCounts', () => store.expiryCounts(T0, [1])],
          ['recordUsage', () => store.recordUsage([{ keyId: key.id, count: 1, lastUsedAt: T0 }])],
          [
            'summarizeUsage',
            () => store.summarizeUsage({ since: 0, until: T0, stepMs: 60_000, tagLimit: 1 }),
          ],
          ['rollUpUsage', () => store.rollUpUsage(T0, 1)],
          ['pruneUsage', () => store.pruneUsage(T0, 1)],
          ['appendAudit', () => store.appendAudit([event()])],
          ['listAudit', () => store.listAudit({ limit: 1 })],
          ['listRoles', () => store.listRoles()],
          ['setRole', () => store.setRole('r', [])],
          ['deleteRole', () => store.deleteRole('r')],
          ['getMeta', () => store.getMeta('m')],
          ['setMetaIfAbsent', () => store.setMetaIfAbsent('m', 'v')],
          ['pepperVersions', () => store.pepperVersions()],
          ['listSigningKeys', () => store.listSigningKeys()],
          ['insertFirstSigningKey', () => store.insertFirstSigningKey(makeSigningKey())],
          ['rotateSigningKey', () => store.rotateSigningKey(makeSigningKey(), T0)],
        ]
        for (const [method, call] of calls) {
          const e = await expectCode(call(), 'store_unavailable').catch((err: unknown) => {
            throw new Error(`${method} after close: ${String(err)}`)
          })
          expect(e.message.length).toBeGreaterThan(0)
        }
        // closing twice is harmless
        await store.close()
      })
    })
  })
}
