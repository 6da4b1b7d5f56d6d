// Keys and secrets as the SQLite store writes and reads them: JSON columns as text, booleans as
// 0/1, rows as arrays (statements run in raw mode) in the column order of ../key-columns.ts.
import type { FoundKey, KeyPatch, KeyRecord, SecretRecord } from '../types.js'

export type Row = unknown[]

/** Patch field -> column; the only names that reach dynamic SQL. */
const PATCH_COLUMNS: Record<keyof KeyPatch, string> = {
  name: 'name',
  ownerId: 'owner_id',
  hint: 'hint',
  scopes: 'scopes',
  roles: 'roles',
  rateLimits: 'rate_limits',
  quota: 'quota',
  metadata: 'metadata',
  ipAllowlist: 'ip_allowlist',
  state: 'state',
  expiresAt: 'expires_at',
  revokedAt: 'revoked_at',
  updatedAt: 'updated_at',
}
const JSON_FIELDS = new Set(['scopes', 'roles', 'rateLimits', 'metadata', 'ipAllowlist'])

// Most keys have empty lists and metadata: skip JSON entirely for them, on both sides.
export const encodeList = (v: readonly unknown[]): string =>
  v.length === 0 ? '[]' : JSON.stringify(v)
function encodeObject(v: Readonly<Record<string, unknown>>): string {
  for (const _ in v) return JSON.stringify(v)
  return '{}'
}
export const decodeList = (s: string): never[] => (s === '[]' ? [] : JSON.parse(s))
const decodeObject = (s: string): Record<string, unknown> => (s === '{}' ? {} : JSON.parse(s))

export function keyParams(k: KeyRecord): unknown[] {
  return [
    k.id,
    k.name,
    k.ownerId,
    k.prefix,
    k.hint,
    encodeList(k.scopes),
    encodeList(k.roles),
    encodeList(k.rateLimits),
    k.quota === null ? null : JSON.stringify(k.quota),
    encodeObject(k.metadata),
    encodeList(k.ipAllowlist),
    k.state,
    k.createdAt,
    k.updatedAt,
    k.expiresAt,
    k.revokedAt,
    k.lastUsedAt,
    k.usageCount,
  ]
}

export function secretParams(s: SecretRecord): unknown[] {
  return [s.hash, s.keyId, s.pepperVersion, s.hint, s.imported ? 1 : 0, s.createdAt, s.expiresAt]
}

export function keyFromRow(r: Row): KeyRecord {
  const quota = r[8] as string | null
  return {
    id: r[0] as string,
    name: r[1] as string,
    ownerId: r[2] as string | null,
    prefix: r[3] as string,
    hint: r[4] as string,
    scopes: decodeList(r[5] as string),
    roles: decodeList(r[6] as string),
    rateLimits: decodeList(r[7] as string),
    quota: quota === null ? null : JSON.parse(quota),
    metadata: decodeObject(r[9] as string),
    ipAllowlist: decodeList(r[10] as string),
    state: r[11] as KeyRecord['state'],
    createdAt: r[12] as number,
    updatedAt: r[13] as number,
    expiresAt: r[14] as number | null,
    revokedAt: r[15] as number | null,
    lastUsedAt: r[16] as number | null,
    usageCount: r[17] as number,
    ...(r[18] === null || r[18] === undefined ? {} : { rotatedAt: r[18] as number }),
  }
}

/** findByHash's columns of the lookup table, in `foundFromRow`'s order. */
export const FOUND_COLUMNS =
  'key_id, name, owner_id, prefix, scopes, state, expires_at, secret_expires_at, extras'

/** The lookup table's `extras` of a key without roles, limits, quota, metadata or allowlist. */
const NO_EXTRAS: Readonly<
  Pick<FoundKey['key'], 'roles' | 'rateLimits' | 'quota' | 'metadata' | 'ipAllowlist'>
> = Object.freeze({
  roles: Object.freeze([]),
  rateLimits: Object.freeze([]),
  quota: null,
  metadata: Object.freeze({}),
  ipAllowlist: Object.freeze([]),
})

export function foundFromRow(r: Row): FoundKey {
  const extras = r[8] === null ? NO_EXTRAS : (JSON.parse(r[8] as string) as typeof NO_EXTRAS)
  return {
    key: {
      id: r[0] as string,
      name: r[1] as string,
      ownerId: r[2] as string | null,
      prefix: r[3] as string,
      scopes: decodeList(r[4] as string),
      roles: extras.roles,
      rateLimits: extras.rateLimits,
      quota: extras.quota,
      metadata: extras.metadata,
      ipAllowlist: extras.ipAllowlist,
      state: r[5] as KeyRecord['state'],
      expiresAt: r[6] as number | null,
    },
    secret: { expiresAt: r[7] as number | null },
  }
}

export function secretFromRow(r: Row): SecretRecord {
  return {
    hash: r[0] as string,
    keyId: r[1] as string,
    pepperVersion: r[2] as number,
    hint: r[3] as string,
    imported: r[4] === 1,
    createdAt: r[5] as number,
    expiresAt: r[6] as number | null,
    lastUsedAt: (r[7] as number | null | undefined) ?? null,
  }
}

/** The fields `patch` sets, sorted: one prepared statement serves every patch of those fields. */
export function patchFields(patch: KeyPatch): (keyof KeyPatch)[] {
  return (Object.keys(patch) as (keyof KeyPatch)[])
    .filter((f) => patch[f] !== undefined && f in PATCH_COLUMNS)
    .sort()
}

/** The SET list of an update of `fields`, one `?` each. */
export const patchSet = (fields: readonly (keyof KeyPatch)[]): string =>
  fields.map((f) => `${PATCH_COLUMNS[f]} = ?`).join(', ')

/** The values of `fields` in `patch`, encoded as stored, in `patchSet`'s order. */
export function patchValues(patch: KeyPatch, fields: readonly (keyof KeyPatch)[]): unknown[] {
  return fields.map((f) => {
    const v = patch[f]
    if (JSON_FIELDS.has(f))
      return Array.isArray(v) ? encodeList(v) : encodeObject(v as Readonly<Record<string, unknown>>)
    if (f === 'quota') return v === null ? null : JSON.stringify(v)
    return v
  })
}
