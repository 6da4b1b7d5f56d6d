// What verification keeps of a found key (the cache's entries): built once per cache miss, so
// that a cached verification allocates nothing.
import { compileIpAllowlist, type IpAllowlist } from './ip.js'
import { keyLimitRequest, type LimitPolicy } from './limit-policy.js'
import { compileScopes, type ScopeSet } from './scopes.js'
import type { FoundKey, LimitRequest, SecretRecord } from './types.js'
import type { SecretSlot } from './usage.js'
import type { SecretDeprecation, VerifiedKey, VerifySuccess } from './verify-types.js'

export interface CacheEntry {
  key: FoundKey['key']
  secret: FoundKey['secret']
  scopes: ScopeSet
  ips: IpAllowlist | null
  success: VerifySuccess
  /** Step 6 for a plain request, built once; null when the key has no limits. */
  limitRequest: Readonly<LimitRequest> | null
  /** Where usage of this secret is counted. */
  slot: SecretSlot
  /** Set for an old secret inside a rotation grace period (it is also on `success`). */
  deprecation: SecretDeprecation | null
}

// Verified keys are shared by every request that hits the same cache entry: freeze what a
// handler could reach, so one request cannot change what the next one sees.
function freezeVerified(key: VerifiedKey): VerifiedKey {
  Object.freeze(key.scopes)
  Object.freeze(key.roles)
  for (const rule of key.rateLimits) Object.freeze(rule)
  Object.freeze(key.rateLimits)
  if (key.quota !== null) Object.freeze(key.quota)
  Object.freeze(key.metadata)
  return Object.freeze(key)
}

/**
 * When the secret with `hint` that expires at `sunsetAt` was superseded: its successor's
 * creation; null when it has none (not an old secret of a rotation).
 */
export function supersession(
  secrets: readonly SecretRecord[],
  hint: string,
  sunsetAt: number,
): SecretDeprecation | null {
  const own = secrets.find((s) => s.hint === hint && s.expiresAt === sunsetAt)
  if (own === undefined) return null
  // the successor: the earliest secret created since this one that lives as long (creation
  // times alone cannot order a rotation made in the same millisecond as the creation)
  let deprecatedAt: number | null = null
  for (const s of secrets) {
    if (s === own || s.createdAt < own.createdAt) continue
    if (s.expiresAt !== null && s.expiresAt < sunsetAt) continue
    if (deprecatedAt === null || s.createdAt < deprecatedAt) deprecatedAt = s.createdAt
  }
  return deprecatedAt === null ? null : Object.freeze({ deprecatedAt, sunsetAt })
}

/** The entry of a found key whose effective scopes (roles and implied scopes expanded) are `scopes`. */
export function cacheEntry(
  row: FoundKey,
  hint: string,
  scopes: readonly string[],
  deprecation: SecretDeprecation | null,
  limits: LimitPolicy | null,
): CacheEntry {
  const verified: VerifiedKey = freezeVerified({
    id: row.key.id,
    name: row.key.name,
    ownerId: row.key.ownerId,
    prefix: row.key.prefix,
    hint,
    scopes,
    roles: row.key.roles,
    metadata: row.key.metadata,
    expiresAt: row.key.expiresAt,
    rateLimits: row.key.rateLimits,
    quota: row.key.quota,
  })
  return {
    key: row.key,
    secret: row.secret,
    scopes: compileScopes(scopes),
    ips: row.key.ipAllowlist.length > 0 ? compileIpAllowlist(row.key.ipAllowlist) : null,
    success: Object.freeze(
      deprecation === null ? { ok: true, key: verified } : { ok: true, key: verified, deprecation },
    ),
    limitRequest: limits === null ? null : keyLimitRequest(limits, row.key),
    slot: { keyId: row.key.id, hint, lastUsedAt: 0, pending: false },
    deprecation,
  }
}
