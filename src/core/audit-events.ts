// The audit events of admin changes: who, when, from where, and what changed (field names, and
// old -> new values of the fields that are not secret). A secret or its hash never gets here;
// the hint (first and last 4 characters, shown everywhere) is the only trace of a secret.
import { randomBase62 } from './base62.js'
import type { AuditEvent, KeyRecord } from './types.js'

/** Who made a change, for the audit trail. */
export interface AdminContext {
  /** An admin key id, `cli:<os user>`, or any name the caller gives; absent: null. */
  actor?: string
  /** The client address of the request that made the change. */
  ip?: string
}

/** Key fields an update may change, as the audit trail names them. */
const KEY_FIELDS = [
  'name',
  'ownerId',
  'scopes',
  'roles',
  'rateLimits',
  'quota',
  'metadata',
  'ipAllowlist',
  'state',
  'expiresAt',
  'revokedAt',
] as const satisfies readonly (keyof KeyRecord)[]

/** A new event id, `evt_<16 base62>`. */
export function newEventId(): string {
  return `evt_${randomBase62(16)}`
}

/** One admin event at `at`, by `ctx`. */
export function adminEvent(
  action: string,
  keyId: string | null,
  ctx: AdminContext,
  at: number,
  details: Record<string, unknown>,
): AuditEvent {
  return {
    id: newEventId(),
    at,
    action,
    keyId,
    actor: ctx.actor ?? null,
    ip: ctx.ip ?? null,
    details,
  }
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/**
 * The fields that differ between two versions of a key: `{ field: { from, to } }`. Times stay
 * epoch ms. `updatedAt` and usage counters are not changes an admin made.
 */
export function keyChanges(
  before: KeyRecord,
  after: KeyRecord,
): Record<string, { from: unknown; to: unknown }> {
  const changes: Record<string, { from: unknown; to: unknown }> = {}
  for (const f of KEY_FIELDS) {
    if (!same(before[f], after[f])) changes[f] = { from: before[f], to: after[f] }
  }
  return changes
}

/** The fields of a new key worth recording (what `keyChanges` would list against nothing). */
export function createdFields(record: KeyRecord): Record<string, unknown> {
  return {
    name: record.name,
    ownerId: record.ownerId,
    prefix: record.prefix,
    hint: record.hint,
    scopes: record.scopes,
    roles: record.roles,
    rateLimits: record.rateLimits,
    quota: record.quota,
    metadata: record.metadata,
    ipAllowlist: record.ipAllowlist,
    expiresAt: record.expiresAt,
  }
}
