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

  it('refuses a size or age that is not a whole number >= 1, naming it', () => {
    const base = {
      store: createMemoryStore(),
      clock: { now: () => NOW },
      minuteRowsForMs: 48 * H,
      retentionMs: 30 * 24 * H,
      onError: () => {},
    }
    for (const name of [
      'minuteRowsForMs',
      'retentionMs',
      'batchRows',
      'maxBatches',
      'intervalMs',
    ] as const) {
      expect(() => new UsageRetention({ ...base, [name]: 0 })).toThrow(
        `"${name}" must be a whole number >= 1, got 0`,
      )
      expect(() => new UsageRetention({ ...base, [name]: 1.5 })).toThrow(
        `"${name}" must be a whole number >= 1, got 1.5`,
      )
    }
  })

  it('accepts 1 for every size and age, and a retention equal to the minute rows age', async () => {
    const store = await storeWith([cell(NOW - 2), cell(NOW - 60_000)])
    const retention = new UsageRetention({
      store,
      clock: { now: () => NOW },
      minuteRowsForMs: 1,
      retentionMs: 1,
      batchRows: 1,
      maxBatches: 1,
      intervalMs: 1,
      onError: () => {},
    })
    retentions.push(retention)
    await expect(retention.runOnce()).resolves.toEqual({ rolledUp: 1, pruned: 1 })
  })
})

/** The two store methods a run calls, counting calls; `full` batches come back full first. */
function batchStore(full: { rollUp: number; prune: number }, batchRows: number) {
  const calls = { rollUp: 0, prune: 0 }
  const state = { hold: null as Promise<void> | null, entered: () => {} }
  const store = {
    async rollUpUsage() {
      calls.rollUp++
      state.entered()
      if (state.hold) await state.hold
      return calls.rollUp <= full.rollUp ? batchRows : 0
    },
    async pruneUsage() {
      calls.prune++
      return calls.prune <= full.prune ? batchRows : 0
    },
  } as unknown as Store
  return { store, calls, state }
}

describe('UsageRetention batches and timer', () => {
  it('prunes in full batches up to maxBatches, and stops at a short one', async () => {
    const a = batchStore({ rollUp: 0, prune: 10 }, 5)
    await expect(
      make(a.store, { batchRows: 5, maxBatches: 3 }).retention.runOnce(),
    ).resolves.toEqual({ rolledUp: 0, pruned: 15 })
    expect(a.calls.prune).toBe(3)
    const b = batchStore({ rollUp: 0, prune: 2 }, 5)
    await expect(
      make(b.store, { batchRows: 5, maxBatches: 4 }).retention.runOnce(),
    ).resolves.toEqual({ rolledUp: 0, pruned: 10 })
    expect(b.calls.prune).toBe(3) // two full batches, then one that finds nothing
  })

  it('stops between batches once stopped, and waits for the batch under way', async () => {
    const { store, calls, state } = batchStore({ rollUp: 10, prune: 10 }, 5)
    let release = () => {}
    state.hold = new Promise((resolve) => {
      release = resolve
    })
    const entered = new Promise<void>((resolve) => {
      state.entered = resolve
    })
    const { retention } = make(store, { batchRows: 5, maxBatches: 3 })
    const run = retention.runOnce()
    await entered
    const stopping = retention.stop()
    release()
    await stopping
    await expect(run).resolves.toEqual({ rolledUp: 5, pruned: 0 })
    expect(calls).toEqual({ rollUp: 1, prune: 0 })
  })

  it('runs once per interval when started twice, and not at all once stopped', async () => {
    vi.useFakeTimers()
    const { store, calls } = batchStore({ rollUp: 0, prune: 0 }, 5)
    const { retention } = make(store)
    retention.start()
    retention.start()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(calls).toEqual({ rollUp: 1, prune: 1 })
    await retention.stop()
    await vi.advanceTimersByTimeAsync(3 * 60_000)
    expect(calls).toEqual({ rollUp: 1, prune: 1 })
    expect(vi.getTimerCount()).toBe(0) // no timer left behind
    retention.start() // a stopped one stays stopped
    expect(vi.getTimerCount()).toBe(0)
  })
})
