import { KeywardError } from '../core/errors.js'

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
