// Reading usage: the `since` / `step` a caller asks for, checked once, and the summary a store
// returns shaped as the API and the CLI show it. Shared by `GET /v1/keys/:id/usage`,
// `GET /v1/usage` and `keyward usage`, so that they agree.
import { parseDuration } from './duration.js'
import { KeywardError } from './errors.js'
import type { Store, UsageSummary } from './types.js'

/** The steps a series may have. */
export const USAGE_STEPS: Readonly<Record<string, number>> = Object.freeze({
  '1m': 60_000,
  '1h': 3_600_000,
  '1d': 86_400_000,
})

/** Most points a series may have: a finer step over a longer range is refused. */
export const MAX_USAGE_POINTS = 5_000

/** Most tags (`routes`) a key's report lists. */
export const USAGE_TAG_LIMIT = 50

export interface UsageRange {
  /** Start, epoch ms, aligned down to the step (buckets are whole steps, UTC). */
  since: number
  /** End (exclusive), epoch ms: now. */
  until: number
  step: string
  stepMs: number
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/

const bad = (message: string) => new KeywardError('invalid_argument', message)

/**
 * Resolves `since` (a duration back from now, `24h`, or an ISO time) and `step` (`1m`, `1h`,
 * `1d`; default by range: minutes up to 6 hours, hours up to 7 days, else days).
 *
 * @example
 * parseUsageRange({ since: '24h', step: '1h' }, Date.now())
 * @throws KeywardError `invalid_argument` naming the bad parameter and what is accepted
 */
export function parseUsageRange(
  query: { since?: string | undefined; step?: string | undefined },
  now: number,
): UsageRange {
  const sinceText = query.since ?? '24h'
  let start: number
  if (ISO_RE.test(sinceText)) {
    start = Date.parse(sinceText)
    if (Number.isNaN(start))
      throw bad(
        `since ${JSON.stringify(sinceText)} is not a valid time: use e.g. "2026-01-31T00:00:00Z"`,
      )
    if (start >= now)
      throw bad(`since ${JSON.stringify(sinceText)} is in the future: use a past time`)
  } else {
    let back: number
    try {
      back = parseDuration(sinceText, 'since')
    } catch {
      throw bad(
        `since ${JSON.stringify(sinceText)} is neither a duration nor a time: use e.g. "1h", "24h", "30d" or "2026-01-31T00:00:00Z"`,
      )
    }
    start = now - back
  }
  const span = now - start
  const step = query.step ?? (span <= 6 * 3_600_000 ? '1m' : span <= 7 * 86_400_000 ? '1h' : '1d')
  const stepMs = USAGE_STEPS[step]
  if (stepMs === undefined)
    throw bad(`step ${JSON.stringify(step)} is not supported: use 1m, 1h or 1d`)
  const since = start - (((start % stepMs) + stepMs) % stepMs)
  if ((now - since) / stepMs > MAX_USAGE_POINTS)
    throw bad(
      `since ${sinceText} with step ${step} makes more than ${MAX_USAGE_POINTS} points: use a larger step or a shorter range`,
    )
  return { since, until: now + 1, step, stepMs }
}

/** A series point as the API sends it: the bucket's start and its counts by outcome. */
export interface UsagePoint {
  at: string
  counts: Record<string, number>
}

/** Series and totals of a summary, times as ISO text. */
export function usageSeries(summary: UsageSummary): {
  series: UsagePoint[]
  totals: Record<string, number>
} {
  const series: UsagePoint[] = []
  const totals: Record<string, number> = {}
  let last: UsagePoint | undefined
  let lastAt = Number.NaN
  for (const row of summary.series) {
    if (row.at !== lastAt) {
      last = { at: new Date(row.at).toISOString(), counts: {} }
      lastAt = row.at
      series.push(last)
    }
    last!.counts[row.code] = (last!.counts[row.code] ?? 0) + row.count
    totals[row.code] = (totals[row.code] ?? 0) + row.count
  }
  return { series, totals }
}

/** One key's report: `GET /v1/keys/:id/usage` and `keyward usage --json`. */
export function keyUsageReport(keyId: string, range: UsageRange, summary: UsageSummary) {
  return {
    keyId,
    since: new Date(range.since).toISOString(),
    until: new Date(range.until - 1).toISOString(),
    step: range.step,
    ...usageSeries(summary),
    firstIp: summary.firstIp,
    lastIp: summary.lastIp,
    routes: summary.tags.map((t) => ({ tag: t.tag, total: t.total })),
  }
}

/** One key's report read from the store: what `keyUsageReport` shapes. */
export async function readKeyUsage(store: Store, keyId: string, range: UsageRange) {
  const summary = await store.summarizeUsage({
    keyId,
    since: range.since,
    until: range.until,
    stepMs: range.stepMs,
    tagLimit: USAGE_TAG_LIMIT,
  })
  return keyUsageReport(keyId, range, summary)
}

/** Busiest keys first, then by id; `denied` ranks by denials and leaves out keys without any. */
export function topKeys(
  keys: UsageSummary['keys'],
  by: 'total' | 'denied',
  top: number,
): UsageSummary['keys'] {
  return keys
    .filter((k) => k[by] > 0)
    .sort((a, b) => b[by] - a[by] || (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0))
    .slice(0, top)
}
