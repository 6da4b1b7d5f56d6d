// How times, durations and codes read on screen.

const UNITS: [string, number][] = [
  ['y', 365 * 86_400_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
]

/** "in 3 d", "5 h ago", "just now". */
export function relative(iso: string | null, now = Date.now()): string {
  if (iso === null) return '—'
  const ms = Date.parse(iso) - now
  const abs = Math.abs(ms)
  if (abs < 30_000) return 'just now'
  for (const [unit, size] of UNITS) {
    if (abs >= size) {
      const n = Math.floor(abs / size)
      return ms > 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`
    }
  }
  return 'just now'
}

/** "2026-06-01 14:03 UTC". */
export function absolute(iso: string | null): string {
  if (iso === null) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

/** Durations as the API writes them ("90d"), in milliseconds; null when not one. */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,9})(ms|s|m|h|d|w|y)$/.exec(text.trim())
  if (m === null) return null
  const size: Record<string, number> = {
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
    w: 7 * 86_400_000,
    y: 365 * 86_400_000,
  }
  const ms = Number(m[1]) * size[m[2]!]!
  return ms > 0 ? ms : null
}

/** Outcome codes in the order charts and tables list them, with their labels. */
export const OUTCOMES: [string, string][] = [
  ['valid', 'valid'],
  ['key_invalid', 'invalid key'],
  ['key_revoked', 'revoked'],
  ['key_expired', 'expired'],
  ['key_disabled', 'disabled'],
  ['insufficient_scope', 'missing scope'],
  ['ip_not_allowed', 'IP not allowed'],
  ['rate_limited', 'rate limited'],
  ['quota_exhausted', 'quota exhausted'],
  ['idempotency_key_reused', 'idempotency key reused'],
  ['store_unavailable', 'store unavailable'],
]

export function outcomeLabel(code: string): string {
  return OUTCOMES.find(([c]) => c === code)?.[1] ?? code.replace(/_/g, ' ')
}

export function formatNumber(n: number): string {
  return n.toLocaleString('en-US')
}
