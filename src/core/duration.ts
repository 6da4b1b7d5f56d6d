import { KeywardError } from './errors.js'

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
}
const DURATION_RE = /^(\d{1,9})(ms|s|m|h|d|w|y)$/

/**
 * Parses `90d`, `24h`, `15m`, `30s`, `500ms`, `2w`, `1y` into milliseconds.
 *
 * @example
 * parseDuration('90d') // 7776000000
 * @throws KeywardError `invalid_argument` naming the bad value and the accepted units
 */
export function parseDuration(text: string, what = 'duration'): number {
  const match = DURATION_RE.exec(text.trim())
  const ms = match ? Number(match[1]) * UNIT_MS[match[2]!]! : 0
  if (!match || ms <= 0) {
    throw new KeywardError(
      'invalid_argument',
      `${what} ${JSON.stringify(text)} is not a duration: use a positive whole number and a unit (ms, s, m, h, d, w, y), e.g. "90d", "24h", "15m"`,
    )
  }
  return ms
}

/** Formats milliseconds back to the largest exact unit (`7776000000` -> `90d`). */
export function formatDuration(ms: number): string {
  for (const unit of ['y', 'w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
