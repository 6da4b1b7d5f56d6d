import { formatDuration } from '../core/duration.js'
import type { KeyRecord } from '../core/types.js'

/** `2025-03-01 14:05Z` (UTC, minutes), or `-` for null. */
export function formatTime(ms: number | null, empty = '-'): string {
  if (ms === null) return empty
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`
}

/** `2025-03-01 14:05Z (in 90d)` / `(2h ago)`. */
export function formatTimeRelative(ms: number | null, now: number, empty = 'never'): string {
  if (ms === null) return empty
  const diff = ms - now
  const rounded = roundDuration(Math.abs(diff))
  return `${formatTime(ms)} (${diff >= 0 ? `in ${rounded}` : `${rounded} ago`})`
}

function roundDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ]
  for (const [unit, size] of units) if (ms >= size) return `${Math.round(ms / size)}${unit}`
  return '0s'
}

/** Scopes and roles in one column: `orders:read,@reader`. */
export function formatScopes(record: Pick<KeyRecord, 'scopes' | 'roles'>): string {
  const parts = [...record.scopes, ...record.roles.map((r) => `@${r}`)]
  return parts.length === 0 ? '-' : parts.join(',')
}

export function formatRates(record: Pick<KeyRecord, 'rateLimits' | 'quota'>): string {
  const parts = record.rateLimits.map((r) => `${r.name}=${r.limit}/${formatDuration(r.windowMs)}`)
  if (record.quota)
    parts.push(`quota ${record.quota.limit}/${formatDuration(record.quota.periodMs)}`)
  return parts.length === 0 ? '-' : parts.join(', ')
}

/** A plain text table: a header row, then rows, columns padded with two spaces between. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(header.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n')
}

/** Aligned `label  value` lines. */
export function formatFields(
  fields: readonly (readonly [string, string])[],
  indent = '  ',
): string {
  const width = Math.max(...fields.map(([label]) => label.length))
  return fields.map(([label, value]) => `${indent}${label.padEnd(width)}  ${value}`).join('\n')
}
