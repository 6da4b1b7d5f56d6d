import {
  USAGE_HOUR_MS,
  USAGE_MINUTE_MS,
  type UsageCell,
  type UsageSummary,
  type UsageSummaryQuery,
} from '../../core/types.js'

/** A stored usage row: a cell of a minute, or of an hour once rolled up. */
interface UsageRow extends UsageCell {
  spanMs: number
}

const rowKey = (keyId: string, at: number, spanMs: number, code: string, tag: string) =>
  `${keyId}\u0000${at}\u0000${spanMs}\u0000${code}\u0000${tag}`

/** Adds `cell` to `row`: counts add up, the earlier first IP stays, the later last IP wins. */
function merge(row: UsageRow, cell: UsageCell): void {
  row.count += cell.count
  if (row.firstIp === null) row.firstIp = cell.firstIp
  if (cell.lastIp !== null) row.lastIp = cell.lastIp
}

/** The usage table of the memory store, with the same semantics as the SQL ones. */
export function memoryUsage() {
  const rows = new Map<string, UsageRow>()

  function add(cell: UsageCell, at: number, spanMs: number): void {
    const k = rowKey(cell.keyId, at, spanMs, cell.code, cell.tag)
    const row = rows.get(k)
    if (row === undefined) rows.set(k, { ...cell, at, spanMs })
    else merge(row, cell)
  }

  return {
    record(cells: readonly UsageCell[]): void {
      for (const c of cells) add(c, c.at - (c.at % USAGE_MINUTE_MS), USAGE_MINUTE_MS)
    },

    summarize(q: UsageSummaryQuery): UsageSummary {
      const series = new Map<number, Map<string, number>>()
      const keys = new Map<string, { keyId: string; total: number; denied: number }>()
      const tags = new Map<string, number>()
      let first: UsageRow | null = null
      let last: UsageRow | null = null
      for (const r of rows.values()) {
        if (r.at < q.since || r.at >= q.until) continue
        if (q.keyId !== undefined && r.keyId !== q.keyId) continue
        const at = r.at - (r.at % q.stepMs)
        let codes = series.get(at)
        if (codes === undefined) {
          codes = new Map()
          series.set(at, codes)
        }
        codes.set(r.code, (codes.get(r.code) ?? 0) + r.count)
        let k = keys.get(r.keyId)
        if (k === undefined) {
          k = { keyId: r.keyId, total: 0, denied: 0 }
          keys.set(r.keyId, k)
        }
        k.total += r.count
        if (r.code !== 'valid') k.denied += r.count
        tags.set(r.tag, (tags.get(r.tag) ?? 0) + r.count)
        if (r.firstIp !== null && (first === null || r.at < first.at)) first = r
        if (r.lastIp !== null && (last === null || r.at > last.at)) last = r
      }
      return {
        series: [...series.entries()]
          .sort(([a], [b]) => a - b)
          .flatMap(([at, codes]) =>
            [...codes.entries()]
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([code, count]) => ({ at, code, count })),
          ),
        keys: [...keys.values()].sort((a, b) =>
          a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0,
        ),
        tags: [...tags.entries()]
          .map(([tag, total]) => ({ tag, total }))
          .sort((a, b) => b.total - a.total || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0))
          .slice(0, q.tagLimit),
        firstIp: first?.firstIp ?? null,
        lastIp: last?.lastIp ?? null,
      }
    },

    rollUp(before: number, limit: number): number {
      const due = [...rows.entries()]
        .filter(([, r]) => r.spanMs === USAGE_MINUTE_MS && r.at < before)
        .sort(([, a], [, b]) => a.at - b.at)
        .slice(0, limit)
      // oldest first, so that the hour keeps the first IP of its earliest minute
      for (const [k, r] of due) {
        rows.delete(k)
        add(r, r.at - (r.at % USAGE_HOUR_MS), USAGE_HOUR_MS)
      }
      return due.length
    },

    prune(before: number, limit: number): number {
      let n = 0
      for (const [k, r] of rows) {
        if (n >= limit) break
        if (r.at < before) {
          rows.delete(k)
          n++
        }
      }
      return n
    },
  }
}
