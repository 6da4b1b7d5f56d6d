// Column values as pg hands them over, turned into keyward's types.
import { KeywardError } from '../../core/errors.js'

/** bigint columns arrive as strings (pg's default) or numbers (a custom type parser). */
export function toNumber(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v)
  if (!Number.isSafeInteger(n))
    throw new KeywardError(
      'store_corrupt',
      `a keyward table holds ${String(v)} where a whole number of ms or a count belongs: restore it from a backup`,
    )
  return n
}
export const toNumberOrNull = (v: unknown): number | null => (v === null ? null : toNumber(v))
/** jsonb arrives parsed, unless the caller replaced pg's jsonb parser. */
export const fromJson = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T
export const toJson = (v: unknown): string | null => (v === null ? null : JSON.stringify(v))

