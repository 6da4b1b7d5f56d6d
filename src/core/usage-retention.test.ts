import { afterEach, describe, expect, it, vi } from 'vitest'
import { createMemoryStore } from '../stores/memory/index.js'
import type { Store, UsageCell } from './types.js'
import { UsageRetention } from './usage-retention.js'

const H = 3_600_000
const NOW = Date.UTC(2026, 2, 1)

const cell = (at: number, count = 1): UsageCell => ({
  keyId: 'key_AAAAAAAAAAAAAAAA',
  at,
  code: 'valid',
  tag: '',
  count,
  firstIp: null,
  lastIp: null,
})

async function storeWith(cells: UsageCell[]): Promise<Store> {
  const store = createMemoryStore()
  await store.recordUsage([], { secrets: [], cells })
  return store
}

const series = async (store: Store) =>
  (
    await store.summarizeUsage({ since: 0, until: NOW + H, stepMs: 60_000, tagLimit: 1 })
  ).series.map((s) => [(NOW - s.at) / H, s.count])

const retentions: UsageRetention[] = []
afterEach(async () => {
  vi.useRealTimers()
  for (const r of retentions.splice(0)) await r.stop()
})

function make(store: Store, extra: { batchRows?: number; maxBatches?: number } = {}) {
  const errors: unknown[] = []
  const retention = new UsageRetention({
    store,
    clock: { now: () => NOW },
    minuteRowsForMs: 48 * H,
    retentionMs: 30 * 24 * H,
    onError: (e) => errors.push(e),
    intervalMs: 60_000,
    ...extra,
  })
  retentions.push(retention)
  return { retention, errors }
}

describe('UsageRetention', () => {
  it('rolls minute rows past the age into hours and prunes rows past the retention', async () => {
    const store = await storeWith([
      cell(NOW - 1 * H), // recent: stays a minute row
      cell(NOW - 50 * H + 60_000, 2), // two minutes of one hour, past 48 h: one hour row
      cell(NOW - 50 * H + 120_000, 3),
      cell(NOW - 31 * 24 * H, 7), // past the retention: deleted
    ])
    const { retention } = make(store)
    await expect(retention.runOnce()).resolves.toEqual({ rolledUp: 3, pruned: 1 })
    expect(await series(store)).toEqual([
      [50, 5],
      [1, 1],
    ])
  })

  it('works in bounded batches, leaving the rest to the next run', async () => {
    const cells = Array.from({ length: 7 }, (_, i) => cell(NOW - 100 * H - i * 60_000))
    const store = await storeWith(cells)
    const { retention } = make(store, { batchRows: 2, maxBatches: 2 })
    await expect(retention.runOnce()).resolves.toEqual({ rolledUp: 4, pruned: 0 })
    await expect(retention.runOnce()).resolves.toEqual({ rolledUp: 3, pruned: 0 })
    await expect(retention.runOnce()).resolves.toEqual({ rolledUp: 0, pruned: 0 })
  })

  it('runs on its timer and reports a failing store to onError', async () => {
    vi.useFakeTimers()
    const store = await storeWith([cell(NOW - 50 * H)])
    const { retention, errors } = make(store)
    retention.start()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(await series(store)).toEqual([[50, 1]])
    await store.close()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(errors).toHaveLength(1)
    expect(String(errors[0])).toContain('closed')
  })

  it('refuses a retention shorter than the minute rows age', () => {
    expect(
      () =>
        new UsageRetention({
          store: createMemoryStore(),
          clock: { now: () => NOW },
          minuteRowsForMs: 48 * H,
          retentionMs: 24 * H,
          onError: () => {},
        }),
    ).toThrow('keep usage at least as long as its minute rows')
  })
})
