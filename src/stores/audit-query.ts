// Rules of the audit, rotation and expiry-policy parts of the Store contract, in plain code:
// the memory store applies them as they are, and the SQL stores' statements must agree with
// them (the contract suite holds them to it).
import { KeywardError } from '../core/errors.js'
import type { AuditQuery, StoredAuditEvent } from '../core/types.js'

export { isExpiringWithin, isPastPolicy } from '../core/policy.js'

/** True when an event passes every filter of `query` (limit aside). */
export function auditMatches(e: StoredAuditEvent, q: AuditQuery): boolean {
  if (q.keyId !== undefined && e.keyId !== q.keyId) return false
  if (q.actor !== undefined && e.actor !== q.actor) return false
  if (q.action !== undefined && e.action !== q.action) return false
  if (q.since !== undefined && e.at < q.since) return false
  if (q.until !== undefined && e.at >= q.until) return false
  if (q.before !== undefined && !(e.at < q.before.at || (e.at === q.before.at && e.seq < q.before.seq)))
    return false
  return true
}

/** The refusal of a rotation that lost a race with another one (or with a revocation). */
export function rotationConflict(keyId: string, revoked: boolean): KeywardError {
  return new KeywardError(
    'store_conflict',
    revoked
      ? `key ${keyId} was revoked while it was being rotated: nothing was changed`
      : `key ${keyId} was rotated by someone else at the same time: nothing was changed; show the key to see its current secret, and rotate again only if you still need to`,
  )
}
