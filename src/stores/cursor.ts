import { KeywardError } from '../core/errors.js'
import type { KeyPage, KeyRecord } from '../core/types.js'

/** Page cursors are opaque to callers: base64url of `<createdAt>:<id>` of the last row. */
export function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(`${createdAt}:${id}`).toString('base64url')
}

/**
 * @throws KeywardError `invalid_argument` for a cursor that was not made by `encodeCursor`
 */
export function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString()
  const m = /^(\d{1,16}):(key_[0-9A-Za-z]{16})$/.exec(text)
  if (!m)
    throw new KeywardError(
      'invalid_argument',
      'cursor is not valid: pass the nextCursor of a previous page unchanged',
    )
  return { createdAt: Number(m[1]), id: m[2]! }
}

/**
 * A page of `rows`, fetched with one row more than `limit`: that row, when there, says a next
 * page exists, and the cursor points past the last item kept.
 */
export function keyPage<R>(
  rows: readonly R[],
  limit: number,
  toKey: (row: R) => KeyRecord,
): KeyPage {
  const items = rows.slice(0, limit).map((r) => toKey(r))
  const last = items[items.length - 1]
  return {
    items,
    nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null,
  }
}
