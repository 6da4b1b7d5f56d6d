// A usage chart: one line per outcome code over time, drawn by uPlot on a canvas, with a table
// of the same numbers for screen readers and keyboard users.
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { UsagePoint } from '../api'
import { formatNumber, OUTCOMES, outcomeLabel } from '../format'

const STEP_MS: Record<string, number> = { '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 }

// one colour per outcome, readable on light and dark backgrounds
const COLOURS: Record<string, string> = {
  valid: '#2f9e44',
  key_invalid: '#e03131',
  key_revoked: '#a61e4d',
  key_expired: '#868e96',
  key_disabled: '#495057',
  insufficient_scope: '#f08c00',
  ip_not_allowed: '#c2255c',
  rate_limited: '#1c7ed6',
  quota_exhausted: '#7048e8',
  idempotency_key_reused: '#0c8599',
  store_unavailable: '#5c940d',
}

export interface Series {
  /** Bucket starts, seconds (uPlot's unit). */
  times: number[]
  /** Code -> count per bucket, gaps filled with 0. */
  counts: Map<string, number[]>
}

/** Buckets from `since` to `until` every `step`; buckets the server left out count 0. */
export function fillSeries(points: UsagePoint[], since: string, until: string, step: string): Series {
  const stepMs = STEP_MS[step] ?? 60_000
  const start = Math.floor(Date.parse(since) / stepMs) * stepMs
  const end = Date.parse(until)
  const times: number[] = []
  for (let t = start; t <= end; t += stepMs) times.push(t / 1000)
  const index = new Map(times.map((t, i) => [t, i]))
  const counts = new Map<string, number[]>()
  for (const point of points) {
    const t = Math.floor(Date.parse(point.at) / stepMs) * stepMs
    let i = index.get(t / 1000)
    if (i === undefined) {
      // a bucket outside the range (clock skew): keep it rather than drop traffic
      times.push(t / 1000)
      i = times.length - 1
      for (const row of counts.values()) row.push(0)
      index.set(t / 1000, i)
    }
    for (const [code, n] of Object.entries(point.counts)) {
      let row = counts.get(code)
      if (row === undefined) {
        row = new Array<number>(times.length).fill(0)
        counts.set(code, row)
      }
      while (row.length < times.length) row.push(0)
      row[i] = (row[i] ?? 0) + n
    }
  }
  for (const row of counts.values()) while (row.length < times.length) row.push(0)
  return { times, counts }
}

function ordered(codes: Iterable<string>): string[] {
  const known = OUTCOMES.map(([c]) => c)
  return [...codes].sort((a, b) => {
    const ia = known.indexOf(a)
    const ib = known.indexOf(b)
    return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib) || a.localeCompare(b)
  })
}


export function UsageChart(props: { series: Series; label: string; totals: Record<string, number> }) {
  const box = useRef<HTMLDivElement>(null)
  const { series, label, totals } = props
  const codes = ordered(series.counts.keys())

  useEffect(() => {
    const el = box.current
    if (el === null) return
    // the colours are light-dark() pairs: read the one resolved for the current scheme
    const axis = getComputedStyle(el).color
    const grid = 'rgba(128, 128, 128, 0.2)'
    const data: uPlot.AlignedData = [series.times, ...codes.map((c) => series.counts.get(c)!)]
    const width = () => Math.max(280, el.clientWidth)
    const plot = new uPlot(
      {
        width: width(),
        height: 240,
        series: [
          {},
          ...codes.map((code) => ({
            label: outcomeLabel(code),
            stroke: COLOURS[code] ?? '#888',
            width: 2,
            points: { show: series.times.length < 60 },
          })),
        ],
        axes: [
          { stroke: axis, grid: { stroke: grid } },
          { stroke: axis, grid: { stroke: grid }, size: 50 },
        ],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
      },
      data,
      el,
    )
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: 240 }))
    resize.observe(el)
    return () => {
      resize.disconnect()
      plot.destroy()
    }
  }, [series, codes.join(',')])

  const total = Object.values(totals).reduce((a, b) => a + b, 0)
  return (
    <figure class="chart">
      <div ref={box} class="chart-canvas" role="img" aria-label={`${label}: ${formatNumber(total)} verifications`} />
      <figcaption>
        <table class="totals">
          <caption class="visually-hidden">{label}: totals by outcome</caption>
          <thead>
            <tr>
              <th scope="col">Outcome</th>
              <th scope="col">Verifications</th>
            </tr>
          </thead>
          <tbody>
            {ordered(Object.keys(totals)).map((code) => (
              <tr key={code} data-code={code}>
                <td>
                  <span class="swatch" data-code={code} />
                  {outcomeLabel(code)}
                </td>
                <td class="num">{formatNumber(totals[code] ?? 0)}</td>
              </tr>
            ))}
            {total === 0 && (
              <tr>
                <td colSpan={2}>No verifications in this period.</td>
              </tr>
            )}
          </tbody>
        </table>
      </figcaption>
    </figure>
  )
}
