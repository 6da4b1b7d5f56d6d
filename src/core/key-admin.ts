// Key administration: create, import, rotate, revoke, change, read keys, roles and the expiry
// policy. Each change and its audit events are one store transaction; every change that
// affects verification then ends in `invalidate`.
import { type AdminContext, adminEvent, createdFields, keyChanges } from './audit-events.js'
import type { Change } from './changes.js'
import { formatDuration } from './duration.js'
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
import { isPastPolicy } from './policy.js'
import type {
  ExpiryPolicy,
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
  /** Who did it, for the audit trail (a key id, "cli:alice", …). */
  actor?: string
  /** The client address of the request, for the audit trail. */
  ip?: string
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
> & { enabled?: boolean; actor?: string; ip?: string }

/** Options of `rotateKey`. */
export interface RotateKeyOptions extends AdminContext {
  /** How long the other secrets keep verifying, ms; default 24 h. 0 ends them now. */
  graceMs?: number
  /**
   * The hint of the secret the caller means to replace (as last read): when the key's current
   * hint differs (someone rotated it meanwhile), the rotation is refused with `store_conflict`.
   * Default: the hint read at the start of this call.
   */
  expectHint?: string
}

/** What `finishRotation` did. */
export interface FinishedRotation {
  record: KeyRecord
  /** Old secrets whose grace period ended now (0: there was none left). */
  ended: number
}

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
    await this.store.insertKey(record, secret, [
      adminEvent('key.created', record.id, contextOf(input), record.createdAt, createdFields(record)),
    ])
    this.hooks.secretAdded(key)
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
    await this.store.insertKey(record, row, [
      adminEvent('key.imported', record.id, contextOf(input), record.createdAt, createdFields(record)),
    ])
    this.hooks.secretAdded(secret)
    return record
  }

  async rotateKey(id: string, options: RotateKeyOptions = {}): Promise<CreatedKey> {
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
    const ctx = contextOf(options)
    // one transaction: the hint check, the new secret, the grace expiry, the hint and the event
    const record = await this.store.rotateSecret({
      secret,
      previousExpireAt: now + graceMs,
      expectHint: options.expectHint ?? current.hint,
      now,
      audit: (before) => [
        adminEvent('key.rotated', id, ctx, now, {
          hint: { from: before.hint, to: secret.hint },
          graceMs,
          previousSecretsExpireAt: now + graceMs,
        }),
      ],
    })
    if (record === null) throw notFound(id)
    await this.hooks.invalidate({ kind: 'key', keyId: id })
    return { key, record }
  }

  /**
   * Ends the grace period of a key's old secrets now (after a rotation, once the callers have
   * switched): only the current secret verifies from then on, on every node.
   */
  async finishRotation(id: string, options: AdminContext = {}): Promise<FinishedRotation> {
    const current = await this.requireKey(id)
    const now = this.clock.now()
    const ctx = contextOf(options)
    const ended = await this.store.endGracePeriods(id, now, (n) => [
      adminEvent('key.rotation_finished', id, ctx, now, { endedSecrets: n }),
    ])
    if (ended === null) throw notFound(id)
    if (ended > 0) await this.hooks.invalidate({ kind: 'key', keyId: id })
    return { record: current, ended }
  }

  async revokeKey(id: string, options: AdminContext = {}): Promise<KeyRecord> {
    const current = await this.requireKey(id)
    if (current.state === 'revoked') {
      // tell the other processes again: a retry after a failed publish must reach them
      await this.hooks.invalidate({ kind: 'key', keyId: id, revoked: true })
      return current
    }
    const now = this.clock.now()
    const ctx = contextOf(options)
    const record = await this.store.updateKey(
      id,
      { state: 'revoked', revokedAt: now, updatedAt: now },
      // revoked meanwhile by someone else: their event stands, this one adds nothing
      (before, after) =>
        before.state === 'revoked'
          ? []
          : [adminEvent('key.revoked', id, ctx, now, { changes: keyChanges(before, after) })],
    )
    if (record === null) throw notFound(id)
    await this.hooks.invalidate({ kind: 'key', keyId: id, revoked: true })
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
    const asked = Object.keys(patch).filter((k) => k !== 'updatedAt')
    const ctx = contextOf(input)
    const record = await this.store.updateKey(id, patch, (before, after) => [
      adminEvent('key.updated', id, ctx, now, {
        changed: asked,
        changes: keyChanges(before, after),
      }),
    ])
    if (record === null) throw notFound(id)
    // disabling ends the key's live tokens too, as revoking does
    const change: Change =
      patch.state === 'disabled'
        ? { kind: 'key', keyId: id, revoked: true }
        : { kind: 'key', keyId: id }
    await this.hooks.invalidate(change)
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

  async setRole(name: string, scopes: readonly string[], options: AdminContext = {}): Promise<string[]> {
    assertValidRole(name)
    const checked = checkScopes(scopes)
    const ctx = contextOf(options)
    const now = this.clock.now()
    await this.store.setRole(name, checked, (before) => [
      adminEvent('role.set', null, ctx, now, {
        role: name,
        scopes: { from: before, to: checked },
      }),
    ])
    await this.hooks.invalidate({ kind: 'roles' })
    return checked
  }

  async deleteRole(name: string, options: AdminContext = {}): Promise<boolean> {
    const ctx = contextOf(options)
    const now = this.clock.now()
    const deleted = await this.store.deleteRole(name, (before) => [
      adminEvent('role.deleted', null, ctx, now, { role: name, scopes: { from: before, to: null } }),
    ])
    if (deleted) await this.hooks.invalidate({ kind: 'roles' })
    return deleted
  }

  async listRoles(): Promise<Map<string, string[]>> {
    return this.store.listRoles()
  }

  /** The maximum key age, global and per owner. */
  getExpiryPolicy(): Promise<ExpiryPolicy> {
    return this.store.getExpiryPolicy()
  }

  /**
   * Sets the maximum key age (ms; null removes it), globally or for one owner's keys (an
   * owner's value replaces the global one for its keys). Audited as `policy.changed`. It flags
   * keys, it does not stop them: verification does not read it.
   */
  async setExpiryPolicy(
    input: { ownerId?: string | null; maxAgeMs: number | null },
    options: AdminContext = {},
  ): Promise<ExpiryPolicy> {
    if (!isPlainObject(input)) throw bad('policy input must be an object')
    const ownerId = input.ownerId == null ? null : checkText(input.ownerId, 'owner')
    const maxAgeMs =
      input.maxAgeMs === null ? null : checkPositiveInt(input.maxAgeMs, 'maximum age (ms)')
    const ctx = contextOf(options)
    const now = this.clock.now()
    await this.store.setExpiryPolicy(ownerId, maxAgeMs, (before) => [
      adminEvent('policy.changed', null, ctx, now, {
        owner: ownerId,
        maxAge: {
          from: before === null ? null : formatDuration(before),
          to: maxAgeMs === null ? null : formatDuration(maxAgeMs),
        },
        maxAgeMs: { from: before, to: maxAgeMs },
      }),
    ])
    return this.store.getExpiryPolicy()
  }

  /** True when the key's current secret is older than the maximum age of its policy. */
  isPastPolicy(record: KeyRecord, policy: ExpiryPolicy): boolean {
    return isPastPolicy(record, policy, this.clock.now())
  }

  private async requireKey(id: string): Promise<KeyRecord> {
    const record = await this.getKey(id)
    if (record === null) throw notFound(id)
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

}

function contextOf(input: AdminContext): AdminContext {
  const ctx: AdminContext = {}
  if (input.actor !== undefined) ctx.actor = input.actor
  if (input.ip !== undefined) ctx.ip = input.ip
  return ctx
}

function notFound(id: string): KeywardError {
  return new KeywardError(
    'not_found',
    `no key with id ${JSON.stringify(id)}: list keys to find its id (ids look like key_…)`,
  )
}
