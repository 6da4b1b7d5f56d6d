// Column lists of the keys and secrets tables that both SQL stores insert and select in this
// order: their parameter builders and row readers count on it.

/** Inserted columns of a key, in the order of the SQL stores' key parameters. */
export const KEY_COLUMNS =
  'id, name, owner_id, prefix, hint, scopes, roles, rate_limits, quota, metadata, ip_allowlist, state, created_at, updated_at, expires_at, revoked_at, last_used_at, usage_count'
/** What reads select of a key: the inserted columns, then those later migrations added. */
export const KEY_SELECT = `${KEY_COLUMNS}, rotated_at`
/** Inserted columns of a secret, in the order of the SQL stores' secret parameters. */
export const SECRET_COLUMNS = 'hash, key_id, pepper_version, hint, imported, created_at, expires_at'
