import { KeywardError } from '../../core/errors.js'
import type {
  AuditEvent,
  AuditQuery,
  KeyPage,
  KeyPatch,
  KeyRecord,
  ListKeysQuery,
  SecretRecord,
  SigningKeyRecord,
  Store,
  UsageDetail,
  UsageEntry,
} from '../types.js'
import { decodeCursor, encodeCursor } from '../cursor.js'
import { foundKey } from '../found-key.js'
import { matchesListQuery } from '../list-query.js'
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
  const audit: AuditEvent[] = []
  const auditIds = new Set<string>()
  const roles = new Map<string, string[]>()
  const meta = new Map<string, string>()
  const signingKeys = new Map<string, SigningKeyRecord>()
  const usage = memoryUsage()
  let closed = false
  const open = (): void => {
    if (closed) throw new KeywardError('store_unavailable', 'the memory store is closed')
  }

  return {
    kind: 'memory',
    async migrate() {
      open()
    },
    async insertKey(key, secret) {
      open()
      if (keys.has(key.id))
        throw new KeywardError('store_conflict', `a key with id ${key.id} already exists`)
      if (secrets.has(secret.hash))
        throw new KeywardError('store_conflict', 'this secret is already stored')
      keys.set(key.id, clone(key))
      secrets.set(secret.hash, { ...clone(secret), lastUsedAt: secret.lastUsedAt ?? null })
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
      const items = rows.slice(0, query.limit).map(clone)
      const last = items[items.length - 1]
      return {
        items,
        nextCursor:
          rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null,
      }
    },
    async updateKey(id: string, patch: KeyPatch) {
      open()
      const key = keys.get(id)
      if (!key) return null
      const updated = { ...key, ...clone(patch) } as KeyRecord
      keys.set(id, updated)
      return clone(updated)
    },
    async listSecrets(keyId) {
      open()
      return [...secrets.values()]
        .filter((s) => s.keyId === keyId)
        .sort((a, b) => b.createdAt - a.createdAt)
        .map(clone)
    },
    async addSecret(secret: SecretRecord, previousExpireAt: number) {
      open()
      if (!keys.has(secret.keyId)) return false
      if (secrets.has(secret.hash))
        throw new KeywardError('store_conflict', 'this secret is already stored')
      for (const s of secrets.values()) {
        if (s.keyId === secret.keyId && (s.expiresAt === null || s.expiresAt > previousExpireAt))
          s.expiresAt = previousExpireAt
      }
      secrets.set(secret.hash, { ...clone(secret), lastUsedAt: secret.lastUsedAt ?? null })
      return true
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
      const ids = new Set<string>()
      for (const e of events) {
        if (auditIds.has(e.id) || ids.has(e.id))
          throw new KeywardError('store_conflict', `an audit event with id ${e.id} already exists`)
        ids.add(e.id)
      }
      for (const id of ids) auditIds.add(id)
      audit.push(...events.map(clone))
    },
    async listAudit(query: AuditQuery) {
      open()
      // reversed first so that events of the same millisecond come newest appended first
      return [...audit]
        .reverse()
        .filter(
          (e) =>
            (query.keyId === undefined || e.keyId === query.keyId) &&
            (query.since === undefined || e.at >= query.since),
        )
        .sort((a, b) => b.at - a.at)
        .slice(0, query.limit)
        .map(clone)
    },
    async listRoles() {
      open()
      return new Map([...roles].map(([k, v]) => [k, [...v]]))
    },
    async setRole(name, scopes) {
      open()
      roles.set(name, [...scopes])
    },
    async deleteRole(name) {
      open()
      return roles.delete(name)
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
