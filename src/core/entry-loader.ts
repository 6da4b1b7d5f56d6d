// What the verifier keeps of a stored key, read from the store: the key by keyed hash under
// every pepper, the definitions of its roles (read again once per cache TTL), and, for an old
// secret in its grace period, when it was superseded. The verifier decides; this reads.
import { type CacheEntry, cacheEntry, supersession } from './cache-entry.js'
import type { Hasher } from './hash.js'
import type { LimitPolicy } from './limit-policy.js'
import { expandImplied, expandRoles } from './scopes.js'
import type { FoundKey, SecretRecord, Store } from './types.js'
import type { SecretDeprecation } from './verify-types.js'

export class EntryLoader {
  private roles: Map<string, string[]> | null = null
  private rolesLoadedAt = 0
  /** Bumped when roles change, so that a load in flight does not put old definitions back. */
  private rolesVersion = 0

  constructor(
    private readonly store: Store,
    private readonly hasher: Hasher,
    private readonly limits: LimitPolicy | null,
    /** Scopes that grant others (`compileImpliedScopes`); null: none. */
    private readonly impliedScopes: ReadonlyMap<string, readonly string[]> | null,
    /** How long role definitions are kept: the cache's TTL, 0 without a cache. */
    private readonly rolesTtlMs: number,
  ) {}

  /** The stored key a secret belongs to, under every configured pepper, or null. */
  async findSecret(secret: string): Promise<FoundKey | null> {
    for (const version of this.hasher.versions) {
      const row = await this.store.findByHash(this.hasher.hash(secret, version))
      if (row !== null) return row
    }
    return null
  }

  /** The entry of a key and one of its secrets (by hint), both read now; null when either is gone. */
  async established(keyId: string, hint: string, now: number): Promise<CacheEntry | null> {
    const [key, secrets] = await Promise.all([
      this.store.getKey(keyId),
      this.store.listSecrets(keyId),
    ])
    const secret = secrets.find((s) => s.hint === hint)
    return key === null || secret === undefined
      ? null
      : this.entryFor({ key, secret }, hint, now, secrets)
  }

  /** What verification needs of a found key: effective scopes, IP allowlist, limits. */
  async entryFor(
    row: FoundKey,
    hint: string,
    now: number,
    secrets?: readonly SecretRecord[],
  ): Promise<CacheEntry> {
    const deprecation = await this.deprecationOf(row, hint, secrets)
    const roles = row.key.roles.length > 0 ? await this.roleDefinitions(now) : null
    const own = roles === null ? row.key.scopes : expandRoles(row.key.scopes, row.key.roles, roles)
    const scopes = this.impliedScopes === null ? own : expandImplied(own, this.impliedScopes)
    return cacheEntry(row, hint, scopes, deprecation, this.limits)
  }

  /** Roles changed: read their definitions again on the next entry that needs them. */
  dropRoles(): void {
    this.roles = null
    this.rolesVersion++
  }

  /**
   * For an old secret in its grace period, when it was superseded (`supersession`); one more
   * read, on a cache miss of such a secret only; null for current secrets.
   */
  private async deprecationOf(
    row: FoundKey,
    hint: string,
    listed: readonly SecretRecord[] | undefined,
  ): Promise<SecretDeprecation | null> {
    const sunsetAt = row.secret.expiresAt
    if (sunsetAt === null) return null
    return supersession(listed ?? (await this.store.listSecrets(row.key.id)), hint, sunsetAt)
  }

  private async roleDefinitions(now: number): Promise<Map<string, string[]>> {
    if (this.roles !== null && now - this.rolesLoadedAt < this.rolesTtlMs) return this.roles
    const version = this.rolesVersion
    const roles = await this.store.listRoles()
    // a change while the load ran: use what was read for this lookup, but do not keep it
    if (version === this.rolesVersion) {
      this.roles = roles
      this.rolesLoadedAt = now
    }
    return roles
  }
}
