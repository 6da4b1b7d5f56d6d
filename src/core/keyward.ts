// The library's front door: `createKeyward` checks the options once and composes the verifier
// (verify pipeline, cache, limits, usage) and the key administration. Servers and CLI commands
// may call `keyward.verifier` or `keyward.admin` directly; the methods here delegate to them.

import type { AdminContext } from './audit-events.js'
import { AuditTrail } from './audit-trail.js'
import {
  type Change,
  type ChangeFeed,
  type ChangeListener,
  ChangeListeners,
  checkChange,
} from './changes.js'
import { KeywardError } from './errors.js'
import type { Hasher } from './hash.js'
import {
  type CreatedKey,
  type CreateKeyInput,
  type FinishedRotation,
  KeyAdmin,
  type ListKeysInput,
  type RotateKeyOptions,
  type UpdateKeyInput,
} from './key-admin.js'
import { type KeywardOptions, resolveKeywardOptions } from './keyward-options.js'
import { checkPeppers } from './pepper-check.js'
import type {
  AuditQuery,
  ExpiryPolicy,
  FoundKey,
  KeyPage,
  KeyRecord,
  Store,
  StoredAuditEvent,
} from './types.js'
import { Verifier } from './verifier.js'
import type { VerifyOptions, VerifyResult } from './verify-types.js'

export type { AuditBufferOptions, AuditBufferStats } from './audit-buffer.js'
export type { AuditChainBreak, AuditChainReport } from './audit-chain.js'
export type { AdminContext } from './audit-events.js'
export type { AuditListInput, AuditPage } from './audit-trail.js'
export { AuditTrail } from './audit-trail.js'
export type { Change, ChangeFeed, ChangeListener } from './changes.js'
export { combineChangeFeeds } from './changes.js'
export type {
  CreatedKey,
  CreateKeyInput,
  FinishedRotation,
  ListKeysInput,
  RotateKeyOptions,
  UpdateKeyInput,
} from './key-admin.js'
export { KeyAdmin } from './key-admin.js'
export type { KeywardOptions } from './keyward-options.js'
export type { KeywardLimitsOptions } from './limit-policy.js'
export type { UsageOptions } from './usage.js'
export { Verifier } from './verifier.js'
export type { VerifierStats, VerifyOutcomeCounts } from './verify-stats.js'
export type {
  SecretDeprecation,
  VerifiedKey,
  VerifiedTokenClaims,
  VerifyDenial,
  VerifyOptions,
  VerifyResult,
  VerifySuccess,
} from './verify-types.js'

/**
 * The keyward library: create, verify, rotate and revoke keys on any `Store`.
 * Verifies that the configured peppers match the ones the store's secrets were hashed with.
 *
 * @example
 * const store = createSqliteStore({ db: new Database('keyward.db') })
 * await store.migrate()
 * const keyward = await createKeyward({ store, peppers: [{ version: 1, secret: process.env.KEYWARD_PEPPER! }] })
 * const { key } = await keyward.createKey({ name: 'billing', scopes: ['orders:read'] })
 * const result = await keyward.verify(key, { scopes: ['orders:read'] })
 * if (result.ok) console.log(result.key.id)
 * @throws KeywardError `invalid_options`, `pepper_mismatch`, `store_unavailable`
 */
export async function createKeyward(options: KeywardOptions): Promise<Keyward> {
  const keyward = new Keyward(options)
  try {
    await keyward.checkPeppers()
  } catch (error) {
    // stop listening to `changes`: the caller never gets this instance to close
    await keyward.close().catch(() => {})
    throw error
  }
  return keyward
}

/** See `createKeyward`. */
export class Keyward {
  readonly store: Store
  readonly hasher: Hasher
  /** Verification: the pipeline, its cache, limits and usage counters. */
  readonly verifier: Verifier
  /** Key and role administration. */
  readonly admin: KeyAdmin
  /** The audit trail: pages of events, chain verification, pruning. */
  readonly audit: AuditTrail
  private readonly changes: ChangeFeed | null
  private unsubscribe: () => void = () => {}
  private listening = false
  private readonly onError: (error: unknown) => void
  /** Who hears every change, made here or heard on `changes` (see `subscribe`). */
  private readonly watchers = new ChangeListeners()

  /** Prefer `createKeyward`, which also checks the peppers against the store. */
  constructor(options: KeywardOptions) {
    const resolved = resolveKeywardOptions(options)
    const { store, hasher, clock, onError } = resolved.verifier
    this.store = store
    this.hasher = hasher
    this.verifier = new Verifier(resolved.verifier)
    const verifier = this.verifier
    this.changes = resolved.changes
    this.onError = onError
    // Without a cache there is nothing to drop: publish only (the CLI), and listen only once
    // someone subscribes.
    if (resolved.verifier.cache !== false) this.listen()
    this.admin = new KeyAdmin({
      store: this.store,
      hasher: this.hasher,
      clock,
      hooks: {
        invalidate: (change) => this.invalidate(change),
        secretAdded: (secret) => verifier.secretAdded(secret),
      },
    })
    this.audit = new AuditTrail(this.store, clock)
  }

  /**
   * Refuses to run with a pepper other than the one the store's secrets were hashed with:
   * a wrong pepper would silently verify nothing.
   *
   * @throws KeywardError `pepper_mismatch`, `store_unavailable`
   */
  checkPeppers(): Promise<void> {
    return checkPeppers(this.store, this.hasher)
  }

  /**
   * Verifies a credential: shape and checksum (no store access), cache, store lookup by keyed
   * hash, status, IP allowlist, scopes, then rate limits and quota. Never throws for a bad key.
   *
   * @example
   * const r = await keyward.verify(req.headers['x-api-key'], { scopes: ['orders:read'] })
   * if (!r.ok) return deny(r.code)
   */
  verify(credential: string | null | undefined, options?: VerifyOptions): Promise<VerifyResult> {
    return this.verifier.verify(credential, options)
  }

  /**
   * The synchronous part of `verify`: answers from the cache (and an in-process limiter such as
   * the memory one) alone, or returns `undefined` when the store or an out-of-process limiter
   * must be asked (then call `verify`, which charges nothing twice: `undefined` charged
   * nothing). Lets adapters skip promises on the hot path; the result is the one `verify`
   * would give.
   *
   * @example
   * const r = keyward.verifyCached(credential, { scopes }) ?? (await keyward.verify(credential, { scopes }))
   */
  verifyCached(
    credential: string | null | undefined,
    options?: VerifyOptions,
  ): VerifyResult | undefined {
    return this.verifier.verifyCached(credential, options)
  }

  /**
   * The stored key a secret belongs to, looked up under every configured pepper, or null. No
   * cache, no status check: for tools such as `keyward scan`; use `verify` to authenticate.
   *
   * @example
   * const found = await keyward.findSecret(leakedKey)
   * if (found) console.log(found.key.id, keyward.statusOf(found.key))
   */
  findSecret(secret: string): Promise<FoundKey | null> {
    return this.verifier.findSecret(secret)
  }

  /**
   * Creates a key and returns its secret, which is shown once and never stored.
   *
   * @example
   * const { key, record } = await keyward.createKey({ name: 'billing', ownerId: 'svc:billing', scopes: ['orders:read'], expiresInMs: 90 * 86_400_000 })
   * @throws KeywardError `invalid_argument` naming the bad field, `store_conflict`, `store_unavailable`
   */
  createKey(input: CreateKeyInput): Promise<CreatedKey> {
    return this.admin.createKey(input)
  }

  /**
   * Imports an existing secret (e.g. a UUID a service already uses); it is hashed and treated
   * like any other key, without a checksum check.
   *
   * @throws KeywardError `invalid_argument` for a secret that is too short, too long or not visible ASCII
   */
  importKey(secret: string, input: CreateKeyInput): Promise<KeyRecord> {
    return this.admin.importKey(secret, input)
  }

  /**
   * Issues a new secret for a key; the old ones keep verifying for `graceMs`, then stop. One
   * store transaction (with its audit event); of two concurrent rotations of a key one wins and
   * the other is refused with `store_conflict`, changing nothing.
   *
   * @example
   * const { key } = await keyward.rotateKey('key_0123456789abcdef', { graceMs: 7 * 86_400_000 })
   * @throws KeywardError `not_found`, `invalid_argument`, `store_conflict`, `store_unavailable`
   */
  rotateKey(id: string, options?: RotateKeyOptions): Promise<CreatedKey> {
    return this.admin.rotateKey(id, options)
  }

  /**
   * Ends the grace period of a key's old secrets now, once its callers use the new one.
   *
   * @example
   * const { ended } = await keyward.finishRotation('key_0123456789abcdef', { actor: 'ops' })
   * @throws KeywardError `not_found`, `store_unavailable`
   */
  finishRotation(id: string, options?: AdminContext): Promise<FinishedRotation> {
    return this.admin.finishRotation(id, options)
  }

  /** The maximum key age, global and per owner. */
  getExpiryPolicy(): Promise<ExpiryPolicy> {
    return this.admin.getExpiryPolicy()
  }

  /**
   * Sets or (with `maxAgeMs: null`) removes the maximum key age, global or of one owner.
   * Keys whose current secret is older are flagged (`pastPolicy`), not refused.
   *
   * @example
   * await keyward.setExpiryPolicy({ maxAgeMs: 90 * 86_400_000 }, { actor: 'ops' })
   * @throws KeywardError `invalid_argument`, `store_unavailable`
   */
  setExpiryPolicy(
    input: { ownerId?: string | null; maxAgeMs: number | null },
    options?: AdminContext,
  ): Promise<ExpiryPolicy> {
    return this.admin.setExpiryPolicy(input, options)
  }

  /**
   * Revokes a key: it stops verifying here at once, in other processes once they hear of it
   * on `changes` (about a second), at the latest within the cache TTL. The record stays for
   * the audit trail. Revoking twice is not an error (and tells the other processes again).
   *
   * @throws KeywardError `not_found`, `store_unavailable`
   */
  revokeKey(id: string, options?: AdminContext): Promise<KeyRecord> {
    return this.admin.revokeKey(id, options)
  }

  /**
   * Changes a key's name, owner, scopes, roles, limits, metadata, IP allowlist, expiry, or
   * disables/enables it.
   *
   * @throws KeywardError `not_found`, `invalid_argument`, `store_unavailable`
   */
  updateKey(id: string, input: UpdateKeyInput): Promise<KeyRecord> {
    return this.admin.updateKey(id, input)
  }

  /** One key by id, or null. */
  getKey(id: string): Promise<KeyRecord | null> {
    return this.admin.getKey(id)
  }

  /** Keys newest first, filtered by owner and status, in cursor pages. */
  listKeys(query?: ListKeysInput): Promise<KeyPage> {
    return this.admin.listKeys(query)
  }

  /** The state a user sees: revoked, disabled, expired or active. */
  statusOf(
    record: Pick<KeyRecord, 'state' | 'expiresAt'>,
  ): 'active' | 'revoked' | 'disabled' | 'expired' {
    return this.admin.statusOf(record)
  }

  /** Defines or replaces a role (a named set of scopes); returns the scopes stored (deduplicated). */
  setRole(name: string, scopes: readonly string[], options?: AdminContext): Promise<string[]> {
    return this.admin.setRole(name, scopes, options)
  }

  deleteRole(name: string, options?: AdminContext): Promise<boolean> {
    return this.admin.deleteRole(name, options)
  }

  listRoles(): Promise<Map<string, string[]>> {
    return this.admin.listRoles()
  }

  /** Audit events, newest first (default at most 100); `keyward.audit.page` for filters and pages. */
  listAudit(query?: Partial<AuditQuery>): Promise<StoredAuditEvent[]> {
    return this.store.listAudit({ ...query, limit: query?.limit ?? 100 })
  }

  /**
   * The one invalidation path, taken by every change that affects verification (the admin
   * methods call it): drops the key's (or, for roles, every) cached state in this process at
   * once, then publishes the change on `changes` and resolves when it is handed over.
   *
   * @example
   * await keyward.invalidate({ kind: 'key', keyId: 'key_0123456789abcdef' }) // after changing it with SQL
   * @throws KeywardError `invalid_argument`; `store_unavailable` when the change could not be
   * published (it is applied here; other processes see it within the cache TTL)
   */
  async invalidate(change: Change): Promise<void> {
    this.drop(checkChange(change))
    if (this.changes === null) return
    try {
      await this.changes.publish(change)
    } catch (error) {
      const what = change.kind === 'key' ? `key ${change.keyId}` : 'the roles'
      throw new KeywardError(
        'store_unavailable',
        `${what} changed, but other processes could not be told (${(error as Error)?.message ?? String(error)}): they see it within the cache TTL; repeat the operation to tell them now`,
        { cause: error },
      )
    }
  }

  /**
   * Hears every change that affects verification: the ones made through this instance (its
   * admin methods, `invalidate`) and the ones other processes publish on `changes`, and
   * `reset()` when the channel was lost and changes may have been missed. Listeners run
   * synchronously and must not throw. Token verifiers use it for their revocation list
   * (keyward/tokens `createRevocationList({ changes: keyward })`).
   *
   * @example
   * const stop = keyward.subscribe({ change: (c) => console.log(c), reset: () => {} })
   * @throws KeywardError `invalid_argument` for a listener without `change` and `reset`
   */
  subscribe(listener: ChangeListener): () => void {
    const stop = this.watchers.add(listener)
    this.listen()
    return stop
  }

  /** Subscribes to `changes` once (heard from another process: drop here, never publish back). */
  private listen(): void {
    if (this.changes === null || this.listening) return
    this.listening = true
    const verifier = this.verifier
    this.unsubscribe = this.changes.subscribe({
      change: (change) => this.drop(change),
      reset: () => {
        verifier.dropAll()
        this.watchers.reset()
      },
      error: (error) => {
        this.onError(error)
        this.watchers.error(error)
      },
    })
  }

  private drop(change: Change): void {
    if (change.kind === 'key') this.verifier.evict(change.keyId)
    else this.verifier.dropAll()
    this.watchers.deliver(change)
  }

  /** Writes buffered usage counters and denial events now. */
  flush(): Promise<void> {
    return this.verifier.flush()
  }

  /**
   * Flushes usage, stops timers and stops listening to `changes`. Does not close the store or
   * the feed, which the caller owns.
   */
  close(): Promise<void> {
    this.unsubscribe()
    return this.verifier.close()
  }

  /** Cache occupancy, for metrics. */
  cacheSize(): { found: number; notFound: number } {
    return this.verifier.cacheSize()
  }
}
