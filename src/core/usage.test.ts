import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Store, UsageEntry } from './types.js'
import { UsageBuffer } from './usage.js'

/** The one store method the buffer calls, recording each batch; `fail` makes the next writes throw. */
function usageStore() {
  const batches: UsageEntry[][] = []
  const state = { fail: false, hold: null as Promise<void> | null }
  const store = {
    async recordUsage(entries: readonly UsageEntry[]) {
      if (state.hold) await state.hold
      if (state.fail) throw new Error('store down')
      batches.push(entries.map((e) => ({ ...e })))
    },
  } as unknown as Store
  /** Holds every write until the returned function is called. */
  const holdWrites = () => {
    let release = () => {}
    state.hold = new Promise((resolve) => {
      release = resolve
    })
    return release
  }
  return { store, batches, state, holdWrites }
}

const totals = (batches: UsageEntry[][]) => {
  const out: Record<string, { count: number; lastUsedAt: number }> = {}
  for (const e of batches.flat()) {
    const t = out[e.keyId] ?? { count: 0, lastUsedAt: 0 }
    out[e.keyId] = { count: t.count + e.count, lastUsedAt: Math.max(t.lastUsedAt, e.lastUsedAt) }
  }
  return out
}

describe('UsageBuffer', () => {
  const buffers: UsageBuffer[] = []
  const make = (store: Store, intervalMs = 60_000, onError = (_: unknown) => {}) => {
    const buffer = new UsageBuffer(store, intervalMs, onError)
    buffers.push(buffer)
    return buffer
  }
  afterEach(async () => {
    vi.useRealTimers()
    for (const b of buffers.splice(0)) await b.close().catch(() => {})
  })

  it('writes one entry per key with its count and latest use, in one batch', async () => {
    const { store, batches } = usageStore()
    const buffer = make(store)
    buffer.record('key_a', 1000)
    buffer.record('key_b', 1500)
    buffer.record('key_a', 3000)
    buffer.record('key_a', 2000) // an earlier time arriving late does not move lastUsedAt back
    await buffer.flush()
    expect(batches).toEqual([
      [
        { keyId: 'key_a', count: 3, lastUsedAt: 3000 },
        { keyId: 'key_b', count: 1, lastUsedAt: 1500 },
      ],
    ])
  })

  it('writes nothing when nothing was used, and each use once', async () => {
    const { store, batches } = usageStore()
    const buffer = make(store)
    await buffer.flush()
    expect(batches).toEqual([])
    buffer.record('key_a', 1000)
    await buffer.flush()
    await buffer.flush()
    expect(batches).toEqual([[{ keyId: 'key_a', count: 1, lastUsedAt: 1000 }]])
  })

  it('keeps the counts of a failed write and adds them to the next one', async () => {
    const { store, batches, state } = usageStore()
    const buffer = make(store)
    buffer.record('key_a', 1000)
    buffer.record('key_b', 5000)
    state.fail = true
    await expect(buffer.flush()).rejects.toThrow('store down')
    buffer.record('key_a', 4000)
    buffer.record('key_b', 2000)
    state.fail = false
    await buffer.flush()
    expect(batches).toEqual([
      [
        { keyId: 'key_a', count: 2, lastUsedAt: 4000 },
        { keyId: 'key_b', count: 2, lastUsedAt: 5000 },
      ],
    ])
  })

  it('counts uses that arrive while a failing write is under way', async () => {
    const { store, batches, state, holdWrites } = usageStore()
    const buffer = make(store)
    const release = holdWrites()
    state.fail = true
    buffer.record('key_a', 1000)
    const failing = buffer.flush()
    buffer.record('key_a', 2000)
    buffer.record('key_c', 3000)
    release()
    await expect(failing).rejects.toThrow('store down')
    state.hold = null
    state.fail = false
    await buffer.flush()
    expect(totals(batches)).toEqual({
      key_a: { count: 2, lastUsedAt: 2000 },
      key_c: { count: 1, lastUsedAt: 3000 },
    })
  })

  it('runs one write at a time, so no use is written twice', async () => {
    const { store, batches, holdWrites } = usageStore()
    const buffer = make(store)
    const release = holdWrites()
    buffer.record('key_a', 1000)
    const first = buffer.flush()
    buffer.record('key_a', 2000)
    const second = buffer.flush()
    const third = buffer.flush()
    release()
    await Promise.all([first, second, third])
    expect(batches).toEqual([
      [{ keyId: 'key_a', count: 1, lastUsedAt: 1000 }],
      [{ keyId: 'key_a', count: 1, lastUsedAt: 2000 }],
    ])
  })

  it('close waits for a write under way before it returns', async () => {
    const { store, holdWrites } = usageStore()
    const buffer = make(store)
    const events: string[] = []
    const release = holdWrites()
    buffer.record('key_a', 1000)
    const writing = buffer.flush().then(() => events.push('written'))
    const closing = buffer.close().then(() => events.push('closed'))
    await new Promise(setImmediate) // every pending promise step has run
    release()
    await Promise.all([writing, closing])
    expect(events).toEqual(['written', 'closed'])
  })

  it('writes on its interval, reports a failed write, and retries it on the next tick', async () => {
    vi.useFakeTimers()
    const { store, batches, state } = usageStore()
    const errors: unknown[] = []
    const buffer = make(store, 1000, (e) => errors.push(e))
    buffer.record('key_a', 1)
    await vi.advanceTimersByTimeAsync(999)
    expect(batches).toEqual([])
    state.fail = true
    await vi.advanceTimersByTimeAsync(1)
    expect(errors).toEqual([new Error('store down')])
    state.fail = false
    await vi.advanceTimersByTimeAsync(1000)
    expect(batches).toEqual([[{ keyId: 'key_a', count: 1, lastUsedAt: 1 }]])
  })

  it('writes what is left on close, then stops its timer', async () => {
    vi.useFakeTimers()
    const { store, batches } = usageStore()
    const buffer = make(store, 1000)
    buffer.record('key_a', 1)
    await buffer.close()
    expect(batches).toEqual([[{ keyId: 'key_a', count: 1, lastUsedAt: 1 }]])
    buffer.record('key_b', 2)
    await vi.advanceTimersByTimeAsync(5000)
    expect(batches).toHaveLength(1)
  })

  it('does not keep the process alive', () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const { store } = usageStore()
    make(store, 1000)
    // an unref'd timer is not listed as an active resource
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(before)
  })
})
