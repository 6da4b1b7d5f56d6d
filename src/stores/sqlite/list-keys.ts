import type Database from 'better-sqlite3'
import { decodeCursor } from '../cursor.js'
import { KEY_SELECT } from '../key-columns.js'
import type { ListKeysQuery } from '../types.js'
import type { Stmt } from './statements.js'

/**
 * The statement of `Store.listKeys` for the filters `q` uses, on the keys table prefixed `p`;
 * `cache` keeps one per combination of filters in use. It takes `listKeysParams(q)`.
 */
export function listKeysStmt(
  db: Database.Database,
  p: string,
  cache: Map<string, Stmt>,
  q: ListKeysQuery,
): Stmt {
  const cacheKey = `${q.ownerId !== undefined}:${q.status ?? ''}:${q.prefix !== undefined}:${q.scope !== undefined}:${q.expiringBefore !== undefined}:${q.cursor !== undefined}`
  let stmt = cache.get(cacheKey)
  if (stmt === undefined) {
    const where: string[] = []
    if (q.ownerId !== undefined) where.push('owner_id = @owner')
    if (q.status === 'active')
      where.push("state = 'active' AND (expires_at IS NULL OR expires_at > @now)")
    else if (q.status === 'expired')
      where.push("state = 'active' AND expires_at IS NOT NULL AND expires_at <= @now")
    else if (q.status !== undefined) where.push('state = @status')
    if (q.prefix !== undefined) where.push('prefix = @prefix')
    if (q.scope !== undefined)
      where.push("scopes <> '[]' AND EXISTS (SELECT 1 FROM json_each(scopes) WHERE value = @scope)")
    if (q.expiringBefore !== undefined)
      where.push('expires_at > @now AND expires_at < @expiringBefore')
    if (q.cursor !== undefined) where.push('(created_at, id) < (@afterCreatedAt, @afterId)')
    stmt = db
      .prepare(
        `SELECT ${KEY_SELECT} FROM ${p}keys ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY created_at DESC, id DESC LIMIT @limit`,
      )
      .raw(true)
    cache.set(cacheKey, stmt)
  }
  return stmt
}

/** The named parameters of `listKeysStmt`'s statement: one row past the limit, for `keyPage`. */
export function listKeysParams(query: ListKeysQuery): Record<string, unknown> {
  const params: Record<string, unknown> = { limit: query.limit + 1 }
  if (query.ownerId !== undefined) params.owner = query.ownerId
  if (query.status === 'active' || query.status === 'expired') params.now = query.now
  else if (query.status !== undefined) params.status = query.status
  if (query.prefix !== undefined) params.prefix = query.prefix
  if (query.scope !== undefined) params.scope = query.scope
  if (query.expiringBefore !== undefined) {
    params.now = query.now
    params.expiringBefore = query.expiringBefore
  }
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor)
    params.afterCreatedAt = after.createdAt
    params.afterId = after.id
  }
  return params
}
