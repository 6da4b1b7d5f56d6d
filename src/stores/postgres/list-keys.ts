import { decodeCursor } from '../cursor.js'
import { KEY_SELECT } from '../key-columns.js'
import type { ListKeysQuery } from '../types.js'

/** The SQL and values of one `Store.listKeys` page from `s`.keys: one row past the limit. */
export function listKeysSql(s: string, query: ListKeysQuery): { text: string; values: unknown[] } {
  const where: string[] = []
  const values: unknown[] = []
  const param = (v: unknown): string => {
    values.push(v)
    return `$${values.length}`
  }
  if (query.ownerId !== undefined) where.push(`owner_id = ${param(query.ownerId)}`)
  if (query.status === 'active') {
    const now = param(query.now)
    where.push(`state = 'active' AND (expires_at IS NULL OR expires_at > ${now})`)
  } else if (query.status === 'expired') {
    const now = param(query.now)
    where.push(`state = 'active' AND expires_at IS NOT NULL AND expires_at <= ${now}`)
  } else if (query.status !== undefined) where.push(`state = ${param(query.status)}`)
  if (query.prefix !== undefined) where.push(`prefix = ${param(query.prefix)}`)
  if (query.scope !== undefined)
    where.push(`scopes @> ${param(JSON.stringify([query.scope]))}::jsonb`)
  if (query.expiringBefore !== undefined) {
    const now = param(query.now)
    where.push(`expires_at > ${now} AND expires_at < ${param(query.expiringBefore)}`)
  }
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor)
    where.push(`(created_at, id) < (${param(after.createdAt)}, ${param(after.id)})`)
  }
  const text = `SELECT ${KEY_SELECT} FROM ${s}.keys ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY created_at DESC, id DESC LIMIT ${param(query.limit + 1)}`
  return { text, values }
}
