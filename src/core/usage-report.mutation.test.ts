// Usage reports: the range a caller asks for (`since`, `step`), the series and totals, one key's
// report as the API and `keyward usage` show it, and the busiest keys.
import { describe, expect, it } from 'vitest'
import { KeywardError } from './errors.js'
import type { Store, UsageSummary, UsageSummaryQuery } from './types.js'
import {
  keyUsageReport,
  MAX_USAGE_POINTS,
  parseUsageRange,
  readKeyUsage,
  topKeys,
  USAGE_TAG_LIMIT,
} from './usage-report.js'

const MIN = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000
// a whole day, 10:30:15.250 UTC: not aligned to any step
const NOW = Date.UTC(2026, 2, 10, 10, 30, 15, 250)

const refused = (message: string) => new KeywardError('invalid_argument', message)

describe('parseUsageRange', () => {
  it('defaults to the last 24 hours by the hour, aligned to whole hours, ending now', () => {
    expect(parseUsageRange({}, NOW)).toEqual({
      since: Date.UTC(2026, 2, 9, 10),
      until: NOW + 1,
      step: '1h',
      stepMs: HOUR,
    })
  })

  it('picks minutes up to 6 hours, hours up to 7 days, days beyond', () => {
    const step = (since: string) => parseUsageRange({ since }, NOW).step
    expect(step('6h')).toBe('1m')
    expect(step('361m')).toBe('1h')
    expect(step('7d')).toBe('1h')
    expect(step('169h')).toBe('1d')
    expect(parseUsageRange({ since: '6h' }, NOW)).toMatchObject({
      since: Date.UTC(2026, 2, 10, 4, 30),
      stepMs: MIN,
    })
    expect(parseUsageRange({ since: '30d' }, NOW)).toMatchObject({
      since: Date.UTC(2026, 1, 8),
      stepMs: DAY,
    })
  })

  it('takes a step given, and an ISO time as since', () => {
    expect(parseUsageRange({ since: '2026-03-10T08:00:30Z', step: '1m' }, NOW)).toEqual({
      since: Date.UTC(2026, 2, 10, 8, 0),
      until: NOW + 1,
      step: '1m',
      stepMs: MIN,
    })
    expect(parseUsageRange({ since: '2026-03-01', step: '1d' }, NOW)).toMatchObject({
      since: Date.UTC(2026, 2, 1),
    })
    expect(parseUsageRange({ since: '2026-03-10T09:00:00+01:00' }, NOW)).toMatchObject({
      since: Date.UTC(2026, 2, 10, 8),
      step: '1m',
    })
  })

  it('aligns a time before 1970 down, as every bucket is', () => {
    expect(parseUsageRange({ since: '1969-12-31T23:30:00Z', step: '1h' }, HOUR)).toEqual({
      since: -HOUR,
      until: HOUR + 1,
      step: '1h',
      stepMs: HOUR,
    })
  })

  it('allows at most 5,000 points', () => {
    const now = Date.UTC(2026, 2, 10, 10, 30)
    const since = (minutes: number) => `${minutes}m`
    expect(MAX_USAGE_POINTS).toBe(5000)
    expect(parseUsageRange({ since: since(5000), step: '1m' }, now).since).toBe(now - 5000 * MIN)
    expect(() => parseUsageRange({ since: since(5001), step: '1m' }, now)).toThrow(
      refused(
        'since 5001m with step 1m makes more than 5000 points: use a larger step or a shorter range',
      ),
    )
  })

  it('names a bad since or step and what is accepted', () => {
    expect(() => parseUsageRange({ since: 'yesterday' }, NOW)).toThrow(
      refused(
        'since "yesterday" is neither a duration nor a time: use e.g. "1h", "24h", "30d" or "2026-01-31T00:00:00Z"',
      ),
    )
    expect(() => parseUsageRange({ since: '2026-13-45' }, NOW)).toThrow(
      refused('since "2026-13-45" is not a valid time: use e.g. "2026-01-31T00:00:00Z"'),
    )
    expect(() => parseUsageRange({ since: '2026-03-10T10:30:15.250Z' }, NOW)).toThrow(
      refused('since "2026-03-10T10:30:15.250Z" is in the future: use a past time'),
    )
    expect(() => parseUsageRange({ since: '2026-03-10T10:30:15.249Z' }, NOW)).not.toThrow()
    expect(() => parseUsageRange({ since: '1h', step: '5m' }, NOW)).toThrow(
      refused('step "5m" is not supported: use 1m, 1h or 1d'),
    )
  })
})

const summary: UsageSummary = {
  series: [
    { at: Date.UTC(2026, 2, 10, 8), code: 'valid', count: 3 },
    { at: Date.UTC(2026, 2, 10, 8), code: 'key_revoked', count: 1 },
    { at: Date.UTC(2026, 2, 10, 9), code: 'valid', count: 2 },
  ],
  keys: [],
  tags: [
    { tag: 'GET /orders', total: 4 },
    { tag: 'POST /orders', total: 1 },
  ],
  firstIp: '198.51.100.1',
  lastIp: '198.51.100.2',
}

const report = {
  keyId: 'key_0123456789abcdef',
  since: '2026-03-10T08:00:00.000Z',
  until: '2026-03-10T10:30:15.250Z',
  step: '1h',
  series: [
    { at: '2026-03-10T08:00:00.000Z', counts: { valid: 3, key_revoked: 1 } },
    { at: '2026-03-10T09:00:00.000Z', counts: { valid: 2 } },
  ],
  totals: { valid: 5, key_revoked: 1 },
  firstIp: '198.51.100.1',
  lastIp: '198.51.100.2',
  routes: [
    { tag: 'GET /orders', total: 4 },
    { tag: 'POST /orders', total: 1 },
  ],
}

describe('keyUsageReport', () => {
  it('groups the series by bucket, sums the totals, and ends at now', () => {
    const range = parseUsageRange({ since: '2026-03-10T08:00:00Z', step: '1h' }, NOW)
    expect(keyUsageReport('key_0123456789abcdef', range, summary)).toEqual(report)
  })

  it('reads the summary of the key and range from the store, with at most 50 routes', async () => {
    const range = parseUsageRange({ since: '2026-03-10T08:00:00Z', step: '1h' }, NOW)
    const asked: UsageSummaryQuery[] = []
    const store = {
      async summarizeUsage(query: UsageSummaryQuery) {
        asked.push(query)
        return summary
      },
    } as unknown as Store
    await expect(readKeyUsage(store, 'key_0123456789abcdef', range)).resolves.toEqual(report)
    expect(asked).toEqual([
      {
        keyId: 'key_0123456789abcdef',
        since: Date.UTC(2026, 2, 10, 8),
        until: NOW + 1,
        stepMs: HOUR,
        tagLimit: 50,
      },
    ])
    expect(USAGE_TAG_LIMIT).toBe(50)
  })
})

describe('topKeys', () => {
  const keys = [
    { keyId: 'key_b', total: 5, denied: 0 },
    { keyId: 'key_a', total: 5, denied: 2 },
    { keyId: 'key_c', total: 9, denied: 1 },
    { keyId: 'key_d', total: 0, denied: 0 },
    { keyId: 'key_e', total: 1, denied: 2 },
  ]

  it('ranks the busiest keys first, then by id, and keeps the top ones', () => {
    expect(topKeys(keys, 'total', 10).map((k) => k.keyId)).toEqual([
      'key_c',
      'key_a',
      'key_b',
      'key_e',
    ])
    expect(topKeys(keys, 'total', 2).map((k) => k.keyId)).toEqual(['key_c', 'key_a'])
  })

  it('ranks by denials, leaving out keys without any', () => {
    expect(topKeys(keys, 'denied', 10).map((k) => k.keyId)).toEqual(['key_a', 'key_e', 'key_c'])
    expect(topKeys([...keys].reverse(), 'denied', 10).map((k) => k.keyId)).toEqual([
      'key_a',
      'key_e',
      'key_c',
    ])
  })
})
