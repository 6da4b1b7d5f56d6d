// The expiry policy: a maximum age for keys, global or per owner. Keys past it are flagged
// (lists, metrics), not refused: verification never reads the policy.
import type { ExpiryPolicy, KeyRecord } from './types.js'

/** The maximum age that applies to a key: its owner's, else the global one, else none. */
export function maxAgeOf(key: Pick<KeyRecord, 'ownerId'>, policy: ExpiryPolicy): number | null {
  if (key.ownerId !== null) {
    const own = policy.owners[key.ownerId]
    if (own !== undefined) return own
  }
  return policy.maxAgeMs
}

/**
 * True for an active, unexpired key whose current secret (issued at `rotatedAt`, else at
 * `createdAt`) is at least as old as its maximum age at `now`.
 */
export function isPastPolicy(
  key: Pick<KeyRecord, 'ownerId' | 'state' | 'expiresAt' | 'createdAt' | 'rotatedAt'>,
  policy: ExpiryPolicy,
  now: number,
): boolean {
  if (key.state !== 'active' || (key.expiresAt !== null && key.expiresAt <= now)) return false
  const maxAge = maxAgeOf(key, policy)
  return maxAge !== null && (key.rotatedAt ?? key.createdAt) <= now - maxAge
}

/** True for an active key that expires after `now` and at most `withinMs` later. */
export function isExpiringWithin(
  key: Pick<KeyRecord, 'state' | 'expiresAt'>,
  now: number,
  withinMs: number,
): boolean {
  return (
    key.state === 'active' &&
    key.expiresAt !== null &&
    key.expiresAt > now &&
    key.expiresAt <= now + withinMs
  )
}

