// The one JSON shape of a key and of an audit event, shared by the CLI's `--json` output and
// the service's API.
import { formatDuration } from './duration.js'
import type { KeyRecord, SecretRecord, StoredAuditEvent } from './types.js'

/** A key's state as users see it: `expired` is derived from the expiry at read time. */
export type KeyStatus = 'active' | 'revoked' | 'disabled' | 'expired'

/** Epoch ms as an ISO 8601 UTC string, or null. */
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString()
}

/**
 * The JSON shape of a key: owner, status, durations as `1m`/`30d`, times as ISO 8601. Never
 * contains a secret or a hash; the hint is the only trace of the secret.
 *
 * @example
 * keyToJson(record, keyward.statusOf(record)) // { id: 'key_…', name: 'billing', status: 'active', … }
 */
export function keyToJson(record: KeyRecord, status: KeyStatus): Record<string, unknown> {
  return {
    id: record.id,
    name: record.name,
    owner: record.ownerId,
    status,
    prefix: record.prefix,
    hint: record.hint,
    scopes: record.scopes,
    roles: record.roles,
    rateLimits: record.rateLimits.map((r) => ({
      name: r.name,
      limit: r.limit,
      window: formatDuration(r.windowMs),
    })),
    quota: record.quota
      ? { limit: record.quota.limit, period: formatDuration(record.quota.periodMs) }
      : null,
    metadata: record.metadata,
    ipAllowlist: record.ipAllowlist,
    createdAt: isoTime(record.createdAt),
    updatedAt: isoTime(record.updatedAt),
    expiresAt: isoTime(record.expiresAt),
    revokedAt: isoTime(record.revokedAt),
    lastUsedAt: isoTime(record.lastUsedAt),
    usageCount: record.usageCount,
    rotatedAt: isoTime(record.rotatedAt ?? null),
  }
}

/** Where a secret stands at `now`: the current one, in its grace period, or expired. */
export type SecretState = 'current' | 'grace' | 'expired'

/**
 * The JSON shape of one secret of a key: its hint, when it was created, until when it works
 * (null: no end), whether it is the current one, and when it last verified (null: never, or
 * not recorded). Never the hash.
 *
 * @example
 * secretToJson(secret, Date.now()) // { hint: 'kw_live_AbCd…wxyz', state: 'grace', … }
 */
export function secretToJson(secret: SecretRecord, now: number): Record<string, unknown> {
  const state: SecretState =
    secret.expiresAt === null ? 'current' : secret.expiresAt > now ? 'grace' : 'expired'
  return {
    hint: secret.hint,
    state,
    current: state === 'current',
    createdAt: isoTime(secret.createdAt),
    expiresAt: isoTime(secret.expiresAt),
    lastUsedAt: isoTime(secret.lastUsedAt ?? null),
    imported: secret.imported,
    pepperVersion: secret.pepperVersion,
  }
}

/**
 * A key's standing against the expiry policy: the maximum age that applies (`90d`, or null)
 * and whether its current secret is older.
 */
export function policyToJson(
  maxAgeMs: number | null,
  pastPolicy: boolean,
): {
  maxAge: string | null
  pastPolicy: boolean
} {
  return { maxAge: maxAgeMs === null ? null : formatDuration(maxAgeMs), pastPolicy }
}

/** An audit event as the API and the CLI show it: `type` is the stored action, times are ISO 8601. */
export function auditEventToJson(e: StoredAuditEvent): Record<string, unknown> {
  return {
    id: e.id,
    seq: e.seq,
    at: isoTime(e.at),
    type: e.action,
    keyId: e.keyId,
    actor: e.actor,
    ip: e.ip,
    details: e.details,
    count: e.count,
  }
}
