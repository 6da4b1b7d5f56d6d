// Key administration: create, import, rotate, revoke, change, read keys and roles, with the
// audit events of each change. Every change that affects verification ends in `invalidate`.
import { randomBase62 } from './base62.js'
import type { Change } from './changes.js'
import type { Clock } from './clock.js'
import { KeywardError } from './errors.js'
import type { Hasher } from './hash.js'
import {
  assertValidPrefix,
  classifyCredential,
  DEFAULT_PREFIX,
  generateKey,
  generateKeyId,
  isKeyId,
  keyHint,
  MAX_CREDENTIAL_LENGTH,
  MIN_IMPORTED_LENGTH,
  prefixOf,
} from './key-format.js'
import { assertValidRole, assertValidScope } from './scopes.js'
import type {
  AuditEvent,
  AuditQuery,
  KeyPage,
  KeyPatch,
  KeyRecord,
  KeyStatusFilter,
  QuotaRule,
  RateLimitRule,
  SecretRecord,
  Store,
} from './types.js'
import {
  bad,
  checkExpiry,
  checkIps,
  checkMetadata,
  checkPositiveInt,
  checkQuota,
  checkRateLimits,
  checkScopes,
  checkText,
  isPlainObject,
} from './validate.js'

/** Input of `createKey` and `importKey`. */
export interface CreateKeyInput {
  name: string
  ownerId?: string | null
  scopes?: readonly string[]
  roles?: readonly string[]
  /** Absolute expiry, epoch ms; or `expiresInMs` from now. */
  expiresAt?: number | null
  expiresInMs?: number
  rateLimits?: readonly RateLimitRule[]
  quota?: QuotaRule | null
  metadata?: Record<string, unknown>
  ipAllowlist?: readonly string[]
  prefix?: string
  /** Who did it, for the audit trail (a key id, "cli", …). */
  actor?: string
}

export type UpdateKeyInput = Partial<
  Pick<
    CreateKeyInput,
    | 'name'
    | 'ownerId'
    | 'scopes'
    | 'roles'
    | 'expiresAt'
    | 'rateLimits'
    | 'quota'
    | 'metadata'
    | 'ipAllowlist'
  >
> & { enabled?: boolean; actor?: string }

export interface CreatedKey {
  /** The secret: shown once, never stored. */
  key: string
  record: KeyRecord
}

/** Query of `listKeys`: every filter given must match; keys come newest first. */
export interface ListKeysInput {
  ownerId?: string
  /** `expired` and `active` are judged now. */
  status?: KeyStatusFilter
  /** Keys with this prefix (`kw_live`, `kw_test`, `imported`…). */
  prefix?: string
  /** Keys whose own scopes include this one exactly (`orders:*` matches only `orders:*`). */
  scope?: string
  /** Epoch ms: keys that expire before it and have not expired yet, in any state. */
  expiringBefore?: number
  /** `nextCursor` of the previous page. */
  cursor?: string
  /** 1-1000, default 100. */
  limit?: number
}

const STATUSES: ReadonlySet<string> = new Set(['active', 'revoked', 'expired', 'disabled'])

/** What administration tells verification, so that no change waits for a cache TTL. */
export interface VerificationHooks {
  /**
   * A key's stored state or the roles changed: drop it here at once (synchronously, before
   * the returned promise settles) and tell other processes.
   */
  invalidate(change: Change): Promise<void>
  /** A secret was just stored: it is no longer unknown. */
  secretAdded(secret: string): void
}

export interface KeyAdminOptions {
  store: Store
  hasher: Hasher
  clock: Clock
  hooks: VerificationHooks
}

const MAX_PAGE = 1000

/** Administers keys; `Keyward` owns one and delegates its methods of the same names. */
export class KeyAdmin {
  private readonly store: Store
  private readonly hasher: Hasher
  private readonly clock: Clock
  private readonly hooks: VerificationHooks

  constructor(options: KeyAdminOptions) {
    this.store = options.store
    this.hasher = options.hasher
    this.clock = options.clock
    this.hooks = options.hooks
  }

  async createKey(input: CreateKeyInput): Promise<CreatedKey> {
    const prefix = input?.prefix ?? DEFAULT_PREFIX
    assertValidPrefix(prefix)
    const record = await this.buildRecord(input, prefix)
    const key = generateKey({ prefix })
    const secret = this.secretRecord(key, record.id, false, record.createdAt)
    record.hint = secret.hint
    await this.store.insertKey(record, secret)
    this.hooks.secretAdded(key)
    await this.audit('key.created', record.id, input.actor, {
      name: record.name,
      ownerId: record.ownerId,
      scopes: record.scopes,
      roles: record.roles,
      hint: record.hint,
    })
    return { key, record }
  }

  async importKey(secret: string, input: CreateKeyInput): Promise<KeyRecord> {
    const shape = classifyCredential(secret)
    if (shape === 'invalid') {
      throw bad(
        `the secret to import must be ${MIN_IMPORTED_LENGTH}-${MAX_CREDENTIAL_LENGTH} visible ASCII characters without spaces (a keyward-shaped secret must also have a correct checksum)`,
      )
    }
    const prefix = shape === 'keyward' ? prefixOf(secret)! : 'imported'
    const record = await this.buildRecord(input, prefix)
    const row = this.secretRecord(secret, record.id, shape !== 'keyward', record.createdAt)
    record.hint = row.hint
    if ((await this.store.findByHash(row.hash)) !== null) {
      throw new KeywardError(
        'store_conflict',
        'this secret is already stored for another key: import each secret once',
      )
    }
    await this.store.insertKey(record, row)
    this.hooks.secretAdded(secret)
    await this.audit('key.imported', record.id, input.actor, {
      name: record.name,
      ownerId: record.ownerId,
      hint: record.hint,
    })
    return record
  }

  async rotateKey(
    id: string,
    options: { graceMs?: number; actor?: string } = {},
  ): Promise<CreatedKey> {
    const graceMs = options.graceMs ?? 86_400_000
    if (!Number.isSafeInteger(graceMs) || graceMs < 0)
      throw bad(`grace period must be a whole number of ms >= 0, got ${graceMs}`)
    const current = await this.requireKey(id)
    if (current.state === 'revoked')
      throw bad(`key ${id} is revoked: a revoked key cannot be rotated; create a new key`)
    const now = this.clock.now()
    const key = generateKey({
      prefix: current.prefix === 'imported' ? DEFAULT_PREFIX : current.prefix,
    })
    const secret = this.secretRecord(key, id, false, now)
    await this.store.addSecret(secret, now + graceMs)
    const record = (await this.store.updateKey(id, { hint: secret.hint, updatedAt: now }))!
    await this.changed({ kind: 'key', keyId: id }, 'key.rotated', options.actor, {
      hint: secret.hint,
      graceMs,
    })
    return { key, record }
  }

  async revokeKey(id: string, options: { actor?: string } = {}): Promise<KeyRecord> {
    const current = await this.requireKey(id)
    if (current.state === 'revoked') {
      // tell the other processes again: a retry after a failed publish must reach them
      await this.hooks.invalidate({ kind: 'key', keyId: id, revoked: true })
      return current
    }
    const now = this.clock.now()
    const record = (await this.store.updateKey(id, {
      state: 'revoked',
      revokedAt: now,
      updatedAt: now,
    }))!
    await this.changed({ kind: 'key', keyId: id, revoked: true }, 'key.revoked', options.actor, {})
    return record
  }

  async updateKey(id: string, input: UpdateKeyInput): Promise<KeyRecord> {
    const current = await this.requireKey(id)
    const now = this.clock.now()
    const patch: KeyPatch = { updatedAt: now }
    if (input.name !== undefined) patch.name = checkText(input.name, 'name')
    if (input.ownerId !== undefined)
      patch.ownerId = input.ownerId === null ? null : checkText(input.ownerId, 'owner')
    if (input.scopes !== undefined) patch.scopes = checkScopes(input.scopes)
    if (input.roles !== undefined) patch.roles = await this.checkRoles(input.roles)
    if (input.expiresAt !== undefined)
      patch.expiresAt = input.expiresAt === null ? null : checkExpiry(input.expiresAt, now)
    if (input.rateLimits !== undefined) patch.rateLimits = checkRateLimits(input.rateLimits)
    if (input.quota !== undefined)
      patch.quota = input.quota === null ? null : checkQuota(input.quota)
    if (input.metadata !== undefined) patch.metadata = checkMetadata(input.metadata)
    if (input.ipAllowlist !== undefined) patch.ipAllowlist = checkIps(input.ipAllowlist)
    if (input.enabled !== undefined) {
      if (current.state === 'revoked')
        throw bad(`key ${id} is revoked: a revoked key cannot be enabled or disabled`)
      patch.state = input.enabled ? 'active' : 'disabled'
    }
    const record = await this.store.updateKey(id, patch)
    if (record === null) throw new KeywardError('not_found', `no key with id ${id}`)
    const changed = Object.keys(patch).filter((k) => k !== 'updatedAt')
    // disabling ends the key's live tokens too, as revoking does
    const change: Change =
      patch.state === 'disabled'
        ? { kind: 'key', keyId: id, revoked: true }
        : { kind: 'key', keyId: id }
    await this.changed(change, 'key.updated', input.actor, { changed })
    return record
  }

  async getKey(id: string): Promise<KeyRecord | null> {
    return isKeyId(id) ? this.store.getKey(id) : null
  }

  async listKeys(query: ListKeysInput = {}): Promise<KeyPage> {
    const limit = query.limit ?? 100
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE)
      throw bad(`limit must be 1-${MAX_PAGE}, got ${limit}`)
    if (query.status !== undefined && !STATUSES.has(query.status))
      throw bad(
        `status ${JSON.stringify(query.status)} is not valid: use active, revoked, expired or disabled`,
      )
    if (query.prefix !== undefined) assertValidPrefix(query.prefix)
    if (query.scope !== undefined) assertValidScope(query.scope)
    if (
      query.expiringBefore !== undefined &&
      (!Number.isSafeInteger(query.expiringBefore) || query.expiringBefore < 0)
    )
      throw bad(`expiringBefore must be a time in epoch ms, got ${query.expiringBefore}`)
    return this.store.listKeys({ ...query, limit, now: this.clock.now() })
  }

  statusOf(
    record: Pick<KeyRecord, 'state' | 'expiresAt'>,
  ): 'active' | 'revoked' | 'disabled' | 'expired' {
    if (record.state !== 'active') return record.state
    return record.expiresAt !== null && record.expiresAt <= this.clock.now() ? 'expired' : 'active'
  }

  async setRole(
    name: string,
    scopes: readonly string[],
    options: { actor?: string } = {},
  ): Promise<string[]> {
    assertValidRole(name)
    const checked = checkScopes(scopes)
    await this.store.setRole(name, checked)
    await this.changed({ kind: 'roles' }, 'role.set', options.actor, {
      role: name,
      scopes: checked,
    })
    return checked
  }

  async deleteRole(name: string, options: { actor?: string } = {}): Promise<boolean> {
    const deleted = await this.store.deleteRole(name)
    if (deleted)
      await this.changed({ kind: 'roles' }, 'role.deleted', options.actor, { role: name })
    return deleted
  }

  async listRoles(): Promise<Map<string, string[]>> {
    return this.store.listRoles()
  }

  async listAudit(query: Partial<AuditQuery> = {}): Promise<AuditEvent[]> {
    return this.store.listAudit({ ...query, limit: query.limit ?? 100 })
  }

  private async requireKey(id: string): Promise<KeyRecord> {
    const record = await this.getKey(id)
    if (record === null)
      throw new KeywardError(
        'not_found',
        `no key with id ${JSON.stringify(id)}: list keys to find its id (ids look like key_…)`,
      )
    return record
  }

  private secretRecord(
    secret: string,
    keyId: string,
    imported: boolean,
    now: number,
  ): SecretRecord {
    return {
      hash: this.hasher.hash(secret),
      keyId,
      pepperVersion: this.hasher.currentVersion,
      hint: keyHint(secret),
      imported,
      createdAt: now,
      expiresAt: null,
    }
  }

  private async buildRecord(input: CreateKeyInput, prefix: string): Promise<KeyRecord> {
    if (!isPlainObject(input)) throw bad('key input must be an object')
    const now = this.clock.now()
    if (input.expiresAt != null && input.expiresInMs !== undefined)
      throw bad('give either expiresAt or expiresInMs, not both')
    const expiresAt =
      input.expiresInMs !== undefined
        ? now + checkPositiveInt(input.expiresInMs, 'expiresInMs')
        : input.expiresAt == null
          ? null
          : checkExpiry(input.expiresAt, now)
    return {
      id: generateKeyId(),
      name: checkText(input.name, 'name'),
      ownerId: input.ownerId == null ? null : checkText(input.ownerId, 'owner'),
      prefix,
      hint: '',
      scopes: checkScopes(input.scopes ?? []),
      roles: await this.checkRoles(input.roles ?? []),
      rateLimits: checkRateLimits(input.rateLimits ?? []),
      quota: input.quota == null ? null : checkQuota(input.quota),
      metadata: checkMetadata(input.metadata ?? {}),
      ipAllowlist: checkIps(input.ipAllowlist ?? []),
      state: 'active',
      createdAt: now,
      updatedAt: now,
      expiresAt,
      revokedAt: null,
      lastUsedAt: null,
      usageCount: 0,
    }
  }

  private async checkRoles(roles: readonly string[]): Promise<string[]> {
    if (!Array.isArray(roles)) throw bad('roles must be a list of role names')
    if (roles.length === 0) return []
    for (const r of roles) assertValidRole(r)
    const defined = await this.store.listRoles()
    const unknown = roles.filter((r) => !defined.has(r))
    if (unknown.length > 0) {
      throw bad(
        `role ${JSON.stringify(unknown[0])} is not defined: define it first (keyward roles set ${unknown[0]} --scope …)`,
      )
    }
    return [...new Set(roles)]
  }

  /**
   * After a committed change: drops it from this process's cache at once, publishes it to the
   * others while the audit event is written, and fails if either failed (the audit event is
   * written even when publishing fails).
   */
  private async changed(
    change: Change,
    action: string,
    actor: string | undefined,
    details: Record<string, unknown>,
  ): Promise<void> {
    const told = this.hooks.invalidate(change)
    // awaited below; until then a rejection must not count as unhandled
    told.catch(() => {})
    await this.audit(action, change.kind === 'key' ? change.keyId : null, actor, details)
    await told
  }

  private async audit(
    action: string,
    keyId: string | null,
    actor: string | undefined,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.store.appendAudit([
      {
        id: `evt_${randomBase62(16)}`,
        at: this.clock.now(),
        action,
        keyId,
        actor: actor ?? null,
        details,
      },
    ])
  }
}
