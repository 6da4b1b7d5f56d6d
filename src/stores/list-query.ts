import type { KeyRecord, ListKeysQuery } from '../core/types.js'

// The filters of `Store.listKeys`, in plain code: the memory store applies them as they are, and
// the SQL stores' WHERE clauses must agree with them (the contract suite holds them to it).

/** True when a key passes every filter of `query` (cursor and limit aside). */
export function matchesListQuery(key: KeyRecord, query: ListKeysQuery): boolean {
  const { now } = query
  if (query.ownerId !== undefined && key.ownerId !== query.ownerId) return false
  if (query.prefix !== undefined && key.prefix !== query.prefix) return false
  if (query.scope !== undefined && !key.scopes.includes(query.scope)) return false
  if (
    query.expiringBefore !== undefined &&
    !(key.expiresAt !== null && key.expiresAt > now && key.expiresAt < query.expiringBefore)
  )
    return false
  const { status } = query
  if (status === undefined) return true
  const expired = key.expiresAt !== null && key.expiresAt <= now
  if (status === 'expired') return key.state === 'active' && expired
  if (status === 'active') return key.state === 'active' && !expired
  return key.state === status
}
