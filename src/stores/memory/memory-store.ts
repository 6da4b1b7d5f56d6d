import { chainEvents, EMPTY_CHAIN } from '../../core/audit-chain.js'
import { KeywardError } from '../../core/errors.js'
import type {
  AuditChainPoint,
  AuditEvent,
  AuditQuery,
  ExpiryPolicy,
  KeyPage,
  KeyPatch,
  KeyRecord,
  ListKeysQuery,
  SecretRecord,
  SigningKeyRecord,
  Store,
  StoredAuditEvent,
  UsageDetail,
  UsageEntry,
} from '../types.js'
import { decodeCursor, keyPage } from '../cursor.js'
import { foundKey } from '../found-key.js'
import { matchesListQuery } from '../list-query.js'
import { auditMatches, isExpiringWithin, isPastPolicy, rotationConflict } from '../audit-query.js'
import { memoryUsage } from './memory-usage.js'

const clone = <T>(v: T): T => structuredClone(v)

const newestSigningKeyFirst = (a: SigningKeyRecord, b: SigningKeyRecord): number =>
  b.createdAt - a.createdAt || (a.kid < b.kid ? 1 : a.kid > b.kid ? -1 : 0)

/**
 * A store in process memory, for tests and single-process experiments. Nothing survives a
 * restart.
 *
 * @example
 * const store = createMemoryStore()
 * const keyward = await createKeyward({ store, peppers })
 */
export function createMemoryStore(): Store {
  const keys = new Map<string, KeyRecord>()
  const secrets = new Map<string, SecretRecord>()
  // the chain in seq order; pruning removes from the front
  let audit: StoredAuditEvent[] = []
  const auditIds = new Set<string>()
  let head: AuditChainPoint = { ...EMPTY_CHAIN }
  let anchor: AuditChainPoint = { ...EMPTY_CHAIN }
  let policy: { maxAgeMs: number | null; owners: Map<string, number> } = {
    maxAgeMs: null,
    owners: new Map(),
  }
  const roles = new Map<string, string[]>()
  const meta = new Map<string, string>()
  const signingKeys = new Map<string, SigningKeyRecord>()
  const usage = memoryUsage()
  let closed = false
  const open = (): void => {
    if (closed) throw new KeywardError('store_unavailable', 'the memory store is closed')
  }
  /** Checks a batch of events before anything changes (ids unique), so a change stays atomic. */
  function checkEvents(events: readonly AuditEvent[]): void {
    const ids = new Set<string>()
    for (const e of events) {
      if (auditIds.has(e.id) || ids.has(e.id))
        throw new KeywardError('store_conflict', `an audit event with id ${e.id} already exists`)
      ids.add(e.id)
    }
  }
  function append(events: readonly AuditEvent[]): void {
    if (events.length === 0) return
    const stored = chainEvents(head, clone(events))
    for (const e of stored) auditIds.add(e.id)
    audit.push(...stored)
    const last = stored[stored.length - 1]!
    head = { seq: last.seq, hash: last.hash }
  }
  const currentPolicy = (): ExpiryPolicy => ({
    maxAgeMs: policy.maxAgeMs,
    owners: Object.fromEntries(policy.owners),
  })

  return {
    kind: 'memory',
    async migrate() {
      open()
    },
    async insertKey(key, secret, events = []) {
      open()
      if (keys.has(key.id))
        throw new KeywardError('store_conflict', `a key with id ${key.id} already exists`)
      if (secrets.has(secret.hash))
        throw new KeywardError('store_conflict', 'this secret is already stored')
      checkEvents(events)
      keys.set(key.id, clone(key))
      secrets.set(secret.hash, { ...clone(secret), lastUsedAt: secret.lastUsedAt ?? null })
      append(events)
    },
    async insertKeys(rows) {
      open()
      const ids = new Set<string>()
      const hashes = new Set<string>()
      for (const { key, secret } of rows) {
        if (keys.has(key.id) || ids.has(key.id))
          throw new KeywardError('store_conflict', `a key with id ${key.id} already exists`)
        if (secrets.has(secret.hash) || hashes.has(secret.hash))
          throw new KeywardError('store_conflict', 'this secret is already stored')
        ids.add(key.id)
        hashes.add(secret.hash)
      }
      for (const { key, secret } of rows) {
        keys.set(key.id, clone(key))
        secrets.set(secret.hash, { ...clone(secret), lastUsedAt: secret.lastUsedAt ?? null })
      }
    },
    async findByHash(hash) {
      open()
      const secret = secrets.get(hash)
      const key = secret && keys.get(secret.keyId)
      return secret && key ? foundKey(clone(key), secret) : null
    },
    async getKey(id) {
      open()
      const key = keys.get(id)
      return key ? clone(key) : null
    },
    async listKeys(query: ListKeysQuery): Promise<KeyPage> {
      open()
      const after = query.cursor === undefined ? null : decodeCursor(query.cursor)
      const rows = [...keys.values()]
        .filter((k) => matchesListQuery(k, query))
        .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
        .filter(
          (k) =>
            after === null ||
            k.createdAt < after.createdAt ||
            (k.createdAt === after.createdAt && k.id < after.id),
        )
      return keyPage(rows, query.limit, clone)
    },
    async updateKey(id: string, patch: KeyPatch, auditOf) {
      open()
      const key = keys.get(id)
      if (!key) return null
      const updated = { ...key, ...clone(patch) } as KeyRecord
      const events = auditOf?.(clone(key), clone(updated)) ?? []
      checkEvents(events)
      keys.set(id, updated)
      append(events)
      return clone(updated)
    },
    async listSecrets(keyId) {
      open()
      return [...secrets.values()]
        .filter((s) => s.keyId === keyId)
        .sort((a, b) => b.createdAt - a.createdAt)
        .map(clone)
    },
    async rotateSecret({ secret, previousExpireAt, expectHint, now, audit: auditOf }) {
      open()
      const key = keys.get(secret.keyId)
      if (!key) return null
      if (key.hint !== expectHint || key.state === 'revoked')
        throw rotationConflict(secret.keyId, key.state === 'revoked')
      if (secrets.has(secret.hash))
        throw new KeywardError('store_conflict', 'this secret is already stored')
      const updated: KeyRecord = { ...key, hint: secret.hint, updatedAt: now, rotatedAt: now }
      const events = auditOf(clone(key))
      checkEvents(events)
      for (const s of secrets.values()) {
        if (s.keyId === secret.keyId && (s.expiresAt === null || s.expiresAt > previousExpireAt))
          s.expiresAt = previousExpireAt
      }
      secrets.set(secret.hash, { ...clone(secret), lastUsedAt: secret.lastUsedAt ?? null })
      keys.set(key.id, updated)
      append(events)
      return clone(updated)
    },
    async endGracePeriods(keyId, now, auditOf) {
      open()
      if (!keys.has(keyId)) return null
      const ending = [...secrets.values()].filter(
        (s) => s.keyId === keyId && s.expiresAt !== null && s.expiresAt > now,
      )
      const events = ending.length > 0 ? auditOf(ending.length) : []
      checkEvents(events)
      for (const s of ending) s.expiresAt = now
      append(events)
      return ending.length
    },
    async recordUsage(entries: readonly UsageEntry[], detail?: UsageDetail) {
      open()
      for (const e of entries) {
        const key = keys.get(e.keyId)
        if (!key) continue
        key.usageCount += e.count
        key.lastUsedAt = Math.max(key.lastUsedAt ?? 0, e.lastUsedAt)
      }
      if (detail === undefined) return
      for (const use of detail.secrets) {
        for (const s of secrets.values()) {
          if (s.keyId === use.keyId && s.hint === use.hint)
            s.lastUsedAt = Math.max(s.lastUsedAt ?? 0, use.lastUsedAt)
        }
      }
      usage.record(detail.cells)
    },
    async summarizeUsage(query) {
      open()
      return usage.summarize(query)
    },
    async rollUpUsage(before, limit) {
      open()
      return usage.rollUp(before, limit)
    },
    async pruneUsage(before, limit) {
      open()
      return usage.prune(before, limit)
    },
    async appendAudit(events) {
      open()
      checkEvents(events)
      append(events)
    },
    async listAudit(query: AuditQuery) {
      open()
      return audit
        .filter((e) => auditMatches(e, query))
        .sort((a, b) => b.at - a.at || b.seq - a.seq)
        .slice(0, query.limit)
        .map(clone)
    },
    async readAuditChain(afterSeq, limit) {
      open()
      return audit
        .filter((e) => e.seq > afterSeq)
        .slice(0, limit)
        .map(clone)
    },
    async auditChainState() {
      open()
      return { anchor: { ...anchor }, head: { ...head } }
    },
    async pruneAudit(before, limit) {
      open()
      let n = 0
      while (n < limit && n < audit.length && audit[n]!.at < before) n++
      if (n === 0) return 0
      const last = audit[n - 1]!
      anchor = { seq: last.seq, hash: last.hash }
      for (const e of audit.slice(0, n)) auditIds.delete(e.id)
      audit = audit.slice(n)
      return n
    },
    async listRoles() {
      open()
      return new Map([...roles].map(([k, v]) => [k, [...v]]))
    },
    async setRole(name, scopes, auditOf) {
      open()
      const before = roles.get(name)
      const events = auditOf?.(before === undefined ? null : [...before]) ?? []
      checkEvents(events)
      roles.set(name, [...scopes])
      append(events)
    },
    async deleteRole(name, auditOf) {
      open()
      const before = roles.get(name)
      if (before === undefined) return false
      const events = auditOf?.([...before]) ?? []
      checkEvents(events)
      roles.delete(name)
      append(events)
      return true
    },
    async getExpiryPolicy() {
      open()
      return currentPolicy()
    },
    async setExpiryPolicy(ownerId, maxAgeMs, auditOf) {
      open()
      const before = ownerId === null ? policy.maxAgeMs : (policy.owners.get(ownerId) ?? null)
      const events = auditOf(before)
      checkEvents(events)
      const owners = new Map(policy.owners)
      let global = policy.maxAgeMs
      if (ownerId === null) global = maxAgeMs
      else if (maxAgeMs === null) owners.delete(ownerId)
      else owners.set(ownerId, maxAgeMs)
      policy = { maxAgeMs: global, owners }
      append(events)
    },
    async expiryCounts(now, withinMs) {
      open()
      const p = currentPolicy()
      const all = [...keys.values()]
      return {
        pastPolicy: all.filter((k) => isPastPolicy(k, p, now)).length,
        expiring: withinMs.map((w) => all.filter((k) => isExpiringWithin(k, now, w)).length),
      }
    },
    async getMeta(name) {
      open()
      return meta.get(name) ?? null
    },
    async setMetaIfAbsent(name, value) {
      open()
      if (!meta.has(name)) meta.set(name, value)
      return meta.get(name)!
    },
    async pepperVersions() {
      open()
      return [...new Set([...secrets.values()].map((s) => s.pepperVersion))].sort((a, b) => a - b)
    },
    async listSigningKeys() {
      open()
      return [...signingKeys.values()].sort(newestSigningKeyFirst).map(clone)
    },
    async insertFirstSigningKey(key) {
      open()
      // memory: one process, and nothing awaits between the check and the insert
      const current = [...signingKeys.values()]
        .filter((k) => k.retiredAt === null)
        .sort(newestSigningKeyFirst)[0]
      if (current !== undefined) return clone(current)
      if (signingKeys.has(key.kid))
        throw new KeywardError('store_conflict', `a signing key with kid ${key.kid} already exists`)
      signingKeys.set(key.kid, clone(key))
      return clone(key)
    },
    async rotateSigningKey(key, deleteRetiredBefore) {
      open()
      if (signingKeys.has(key.kid))
        throw new KeywardError('store_conflict', `a signing key with kid ${key.kid} already exists`)
      for (const [kid, k] of signingKeys) {
        if (k.retiredAt !== null && k.retiredAt < deleteRetiredBefore) signingKeys.delete(kid)
        else if (k.retiredAt === null || k.retiredAt > key.activatesAt)
          k.retiredAt = key.activatesAt
      }
      signingKeys.set(key.kid, clone(key))
    },
    async close() {
      closed = true
    },
  }
}
