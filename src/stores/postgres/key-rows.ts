// Keys and secrets as the PostgreSQL store writes and reads them: JSON columns as jsonb, times
// as bigint, parameters in the column order of ../key-columns.ts.
import type { QueryResultRow } from 'pg'
import type { FoundKey, FoundKeyFields, KeyPatch, KeyRecord, SecretRecord } from '../types.js'
import { fromJson, toJson, toNumber, toNumberOrNull } from './values.js'

/** Patch field -> column and SQL cast; the only names that reach dynamic SQL. */
const PATCH_COLUMNS: Record<keyof KeyPatch, [column: string, cast: string]> = {
  name: ['name', 'text'],
  ownerId: ['owner_id', 'text'],
  hint: ['hint', 'text'],
  scopes: ['scopes', 'jsonb'],
  roles: ['roles', 'jsonb'],
  rateLimits: ['rate_limits', 'jsonb'],
  quota: ['quota', 'jsonb'],
  metadata: ['metadata', 'jsonb'],
  ipAllowlist: ['ip_allowlist', 'jsonb'],
  state: ['state', 'text'],
  expiresAt: ['expires_at', 'bigint'],
  revokedAt: ['revoked_at', 'bigint'],
  updatedAt: ['updated_at', 'bigint'],
}

/**
 * The SET list of an update by `patch`: each field it sets becomes a `$n` placeholder, its
 * value appended to `values`.
 */
export function patchSet(patch: KeyPatch, values: unknown[]): string {
  const fields = (Object.keys(patch) as (keyof KeyPatch)[]).filter(
    (f) => patch[f] !== undefined && f in PATCH_COLUMNS,
  )
  const set = fields.map((f) => {
    const [column, cast] = PATCH_COLUMNS[f]
    values.push(cast === 'jsonb' ? toJson(patch[f]) : patch[f])
    return `${column} = $${values.length}::${cast}`
  })
  return set.join(', ')
}

/** Insert parameters of a key, in `KEY_COLUMNS` order. */
export function keyParams(key: KeyRecord): unknown[] {
  return [
    key.id,
    key.name,
    key.ownerId,
    key.prefix,
    key.hint,
    JSON.stringify(key.scopes),
    JSON.stringify(key.roles),
    JSON.stringify(key.rateLimits),
    toJson(key.quota),
    JSON.stringify(key.metadata),
    JSON.stringify(key.ipAllowlist),
    key.state,
    key.createdAt,
    key.updatedAt,
    key.expiresAt,
    key.revokedAt,
    key.lastUsedAt,
    key.usageCount,
  ]
}

/** Insert parameters of a secret, in `SECRET_COLUMNS` order. */
export function secretParams(secret: SecretRecord): unknown[] {
  return [
    secret.hash,
    secret.keyId,
    secret.pepperVersion,
    secret.hint,
    secret.imported,
    secret.createdAt,
    secret.expiresAt,
  ]
}

/** The key columns verification reads (findByHash selects only these). */
function foundFieldsFromRow(r: QueryResultRow): FoundKeyFields {
  return {
    id: r.id,
    name: r.name,
    ownerId: r.owner_id,
    prefix: r.prefix,
    scopes: fromJson(r.scopes),
    roles: fromJson(r.roles),
    rateLimits: fromJson(r.rate_limits),
    quota: r.quota === null ? null : fromJson(r.quota),
    metadata: fromJson(r.metadata),
    ipAllowlist: fromJson(r.ip_allowlist),
    state: r.state,
    expiresAt: toNumberOrNull(r.expires_at),
  }
}

export function keyFromRow(r: QueryResultRow): KeyRecord {
  return {
    ...foundFieldsFromRow(r),
    hint: r.hint,
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
    revokedAt: toNumberOrNull(r.revoked_at),
    lastUsedAt: toNumberOrNull(r.last_used_at),
    usageCount: toNumber(r.usage_count),
    ...(r.rotated_at === null || r.rotated_at === undefined
      ? {}
      : { rotatedAt: toNumber(r.rotated_at) }),
  }
}

export function foundFromRow(r: QueryResultRow): FoundKey {
  return {
    key: foundFieldsFromRow(r),
    secret: { expiresAt: toNumberOrNull(r.s_expires_at) },
  }
}

export function secretFromRow(r: QueryResultRow): SecretRecord {
  return {
    hash: r.hash,
    keyId: r.key_id,
    pepperVersion: r.pepper_version,
    hint: r.hint,
    imported: r.imported,
    createdAt: toNumber(r.created_at),
    expiresAt: toNumberOrNull(r.expires_at),
    lastUsedAt: r.last_used_at === undefined ? null : toNumberOrNull(r.last_used_at),
  }
}
