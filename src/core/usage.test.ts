import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Store, UsageDetail, UsageEntry } from './types.js'
import {
  MAX_TAG_LENGTH,
  OTHER_TAG,
  resolveUsageOptions,
  type SecretSlot,
  UsageBuffer,
  type UsageOptions,
} from './usage.js'

/** The one store method the buffer calls, recording each batch; `fail` makes the next writes throw. */
function usageStore() {
  const batches: UsageEntry[][] = []
  const details: UsageDetail[] = []
  const state = { fail: false, hold: null as Promise<void> | null }
  const store = {
    async recordUsage(entries: readonly UsageEntry[], detail?: UsageDetail) {
      if (state.hold) await state.hold
      if (state.fail) throw new Error('store down')
      batches.push(entries.map((e) => ({ ...e })))
      if (detail !== undefined)
        details.push({
          secrets: detail.secrets.map((x) => ({ ...x })),
          cells: detail.cells.map((x) => ({ ...x })),
        })
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
  return { store, batches, details, state, holdWrites }
}

/** One slot per key (its only secret), as the verifier's cache entries hold them. */
const slots = new Map<string, SecretSlot>()
const slotOf = (keyId: string, hint = 'kw_test_AbCd…wxyz'): SecretSlot => {
  let slot = slots.get(`${keyId} ${hint}`)
  if (slot === undefined) {
    slot = { keyId, hint, lastUsedAt: 0, pending: false }
    slots.set(`${keyId} ${hint}`, slot)
  }
  return slot
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
  /** A buffer whose `record(keyId, now)` counts a valid verification (analytics off). */
  const make = (store: Store, intervalMs = 60_000, onError = (_: unknown) => {}) => {
    const buffer = new UsageBuffer(
      store,
      intervalMs,
      onError,
      resolveUsageOptions({ analytics: false }),
    )
    buffers.push(buffer)
    return {
      record: (keyId: string, now: number) =>
        buffer.record(slotOf(keyId), 'valid', undefined, undefined, now),
      flush: () => buffer.flush(),
      close: () => buffer.close(),
    }
  }
  afterEach(async () => {
    vi.useRealTimers()
    for (const b of buffers.splice(0)) await b.close().catch(() => {})
    slots.clear()
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

describe('UsageBuffer analytics', () => {
  const buffers: UsageBuffer[] = []
  const make = (store: Store, options: UsageOptions = {}, onError = (_: unknown) => {}) => {
    const buffer = new UsageBuffer(store, 60_000, onError, resolveUsageOptions(options))
    buffers.push(buffer)
    return buffer
  }
  afterEach(async () => {
    for (const b of buffers.splice(0)) await b.close().catch(() => {})
    slots.clear()
  })
  const M = 60_000
  const T = 1_700_000_000_000 - (1_700_000_000_000 % M)

  it('counts per key, minute, outcome and tag, with the first and last client IP', async () => {
    const { store, details } = usageStore()
    const buffer = make(store)
    const a = slotOf('key_a')
    buffer.record(a, 'valid', '192.0.2.1', '/orders', T + 1)
    buffer.record(a, 'valid', undefined, '/orders', T + 2) // no IP: the last known one stays
    buffer.record(a, 'valid', '192.0.2.2', '/orders', T + 3)
    buffer.record(a, 'insufficient_scope', '192.0.2.3', '/orders', T + 4)
    buffer.record(a, 'valid', '192.0.2.4', undefined, T + 5)
    buffer.record(slotOf('key_b'), 'key_revoked', '192.0.2.5', '/orders', T + 6)
    buffer.record(a, 'valid', '192.0.2.6', '/orders', T + M + 1) // the next minute
    await buffer.flush()
    expect(details).toHaveLength(1)
    const cells = details[0]!.cells
    expect(cells).toEqual([
      {
        keyId: 'key_a',
        at: T,
        code: 'valid',
        tag: '/orders',
        count: 3,
        firstIp: '192.0.2.1',
        lastIp: '192.0.2.2',
      },
      {
        keyId: 'key_a',
        at: T,
        code: 'insufficient_scope',
        tag: '/orders',
        count: 1,
        firstIp: '192.0.2.3',
        lastIp: '192.0.2.3',
      },
      {
        keyId: 'key_a',
        at: T,
        code: 'valid',
        tag: '',
        count: 1,
        firstIp: '192.0.2.4',
        lastIp: '192.0.2.4',
      },
      {
        keyId: 'key_b',
        at: T,
        code: 'key_revoked',
        tag: '/orders',
        count: 1,
        firstIp: '192.0.2.5',
        lastIp: '192.0.2.5',
      },
      {
        keyId: 'key_a',
        at: T + M,
        code: 'valid',
        tag: '/orders',
        count: 1,
        firstIp: '192.0.2.6',
        lastIp: '192.0.2.6',
      },
    ])
    // a secret's last use is any outcome's; the key's counter counts valid ones only
    expect(details[0]!.secrets).toEqual([
      { keyId: 'key_a', hint: 'kw_test_AbCd…wxyz', lastUsedAt: T + M + 1 },
      { keyId: 'key_b', hint: 'kw_test_AbCd…wxyz', lastUsedAt: T + 6 },
    ])
  })

  it('never adds to a cell already handed to a write (the remembered cell goes stale)', async () => {
    const { store, details } = usageStore()
    const buffer = make(store)
    const a = slotOf('key_a')
    buffer.record(a, 'valid', '192.0.2.1', '/x', T)
    buffer.record(a, 'valid', '192.0.2.2', '/x', T)
    await buffer.flush()
    buffer.record(a, 'valid', '192.0.2.3', '/x', T + 1)
    buffer.record(a, 'valid', '192.0.2.4', '/x', T + M) // the next minute
    buffer.record(a, 'valid', '192.0.2.5', '/x', T + M)
    await buffer.flush()
    expect(details.map((d) => d.cells.map((c) => [c.at, c.count, c.firstIp, c.lastIp]))).toEqual([
      [[T, 2, '192.0.2.1', '192.0.2.2']],
      [
        [T, 1, '192.0.2.3', '192.0.2.3'],
        [T + M, 2, '192.0.2.4', '192.0.2.5'],
      ],
    ])
  })

  it('holds one cell for a million denials of one key in one minute', () => {
    const { store } = usageStore()
    const buffer = make(store, { flushCells: 1_000_000 })
    const a = slotOf('key_a')
    for (let i = 0; i < 1_000_000; i++)
      buffer.record(a, 'rate_limited', '192.0.2.1', '/x', T + (i % M))
    expect(buffer.pendingCells).toBe(1)
  })

  it('merges tags past maxTagsPerKey into "other", and counts them', async () => {
    const { store, details } = usageStore()
    const buffer = make(store, { maxTagsPerKey: 2 })
    const a = slotOf('key_a')
    for (const tag of ['/a', '/b', '/c', '/d', '/a']) buffer.record(a, 'valid', undefined, tag, T)
    // another key has tags of its own
    buffer.record(slotOf('key_b'), 'valid', undefined, '/z', T)
    expect(buffer.bound.tagsMerged).toBe(2)
    await buffer.flush()
    expect(details[0]!.cells.map((c) => [c.keyId, c.tag, c.count])).toEqual([
      ['key_a', '/a', 2],
      ['key_a', '/b', 1],
      ['key_a', 'other', 2],
      ['key_b', '/z', 1],
    ])
  })

  it('drops what would start a cell past maxCells, counts it, and still counts the keys', async () => {
    const { store, batches, details, holdWrites } = usageStore()
    const buffer = make(store, { maxCells: 2 })
    const release = holdWrites()
    // two cells reach the cap: a write starts (and hangs), and the buffer has room again
    buffer.record(slotOf('key_a'), 'valid', undefined, '/x', T)
    buffer.record(slotOf('key_b'), 'valid', undefined, '/x', T)
    expect(buffer.pendingCells).toBe(0)
    // while it hangs, the next two fill the buffer and the rest is dropped
    for (const k of ['key_c', 'key_d', 'key_e', 'key_f'])
      buffer.record(slotOf(k), 'valid', undefined, '/x', T)
    buffer.record(slotOf('key_c'), 'valid', undefined, '/x', T) // an existing cell still counts
    buffer.record(slotOf('key_e'), 'valid', undefined, '/x', T)
    expect(buffer.bound.dropped).toBe(3)
    expect(buffer.pendingCells).toBe(2)
    release()
    await buffer.flush()
    expect(details.flatMap((d) => d.cells).map((c) => [c.keyId, c.count])).toEqual([
      ['key_a', 1],
      ['key_b', 1],
      ['key_c', 2],
      ['key_d', 1],
    ])
    // the per-key counters are not capped: they hold one entry per key
    expect(batches.flat().map((e) => [e.keyId, e.count])).toEqual([
      ['key_a', 1],
      ['key_b', 1],
      ['key_c', 2],
      ['key_d', 1],
      ['key_e', 2],
      ['key_f', 1],
    ])
  })

  it('starts a write once flushCells cells are pending, before the interval', async () => {
    const { store, details } = usageStore()
    const buffer = make(store, { flushCells: 3 })
    buffer.record(slotOf('key_a'), 'valid', undefined, '/a', T)
    buffer.record(slotOf('key_a'), 'valid', undefined, '/b', T)
    await new Promise(setImmediate)
    expect(details).toHaveLength(0)
    buffer.record(slotOf('key_a'), 'valid', undefined, '/c', T)
    await new Promise(setImmediate)
    expect(details).toHaveLength(1)
    expect(details[0]!.cells).toHaveLength(3)
  })

  it('puts the cells and secrets of a failed write back, as far as the cap allows', async () => {
    const { store, details, state } = usageStore()
    const buffer = make(store, { maxCells: 3 })
    buffer.record(slotOf('key_a'), 'valid', '192.0.2.1', '/a', T)
    buffer.record(slotOf('key_b'), 'valid', '192.0.2.2', '/a', T)
    state.fail = true
    await expect(buffer.flush()).rejects.toThrow('store down')
    expect(buffer.pendingCells).toBe(2)
    // the same cell again is a second one (the store adds them up)
    // the cap reached: a write starts, fails too, and puts its three cells back
    buffer.record(slotOf('key_a'), 'valid', '192.0.2.3', '/a', T + 1)
    await new Promise(setImmediate)
    expect(buffer.pendingCells).toBe(3)
    buffer.record(slotOf('key_c'), 'valid', undefined, '/a', T + 2) // past the cap: dropped
    expect(buffer.bound.dropped).toBe(1)
    state.fail = false
    await buffer.flush()
    const cells = details[0]!.cells
    expect(cells.reduce((n, c) => n + c.count, 0)).toBe(3)
    expect(cells.map((c) => [c.keyId, c.firstIp])).toEqual([
      ['key_a', '192.0.2.1'],
      ['key_b', '192.0.2.2'],
      ['key_a', '192.0.2.3'],
    ])
    expect(details[0]!.secrets.map((x) => x.keyId).sort()).toEqual(['key_a', 'key_b', 'key_c'])
  })

  it("with analytics off, writes no cells but still the secrets' last use", async () => {
    const { store, details } = usageStore()
    const buffer = make(store, { analytics: false })
    buffer.record(slotOf('key_a'), 'key_expired', '192.0.2.1', '/a', T)
    await buffer.flush()
    expect(details).toEqual([
      { cells: [], secrets: [{ keyId: 'key_a', hint: 'kw_test_AbCd…wxyz', lastUsedAt: T }] },
    ])
  })

  it("keeps a secret's latest use when an earlier time arrives late", async () => {
    const { store, details } = usageStore()
    const buffer = make(store)
    const a = slotOf('key_a')
    buffer.record(a, 'valid', undefined, '/x', T + 5)
    buffer.record(a, 'key_expired', undefined, '/x', T + 1) // stamped earlier, counted later
    await buffer.flush()
    expect(details[0]!.secrets).toEqual([
      { keyId: 'key_a', hint: 'kw_test_AbCd…wxyz', lastUsedAt: T + 5 },
    ])
  })

  it('keeps the first and last client IP of a cell it comes back to from another outcome', async () => {
    const { store, details } = usageStore()
    const buffer = make(store)
    const a = slotOf('key_a')
    // a caller alternating outcomes: each return to `valid` looks its cell up again
    const steps: [string, string | undefined][] = [
      ['valid', undefined], // the cell starts without an address
      ['insufficient_scope', '192.0.2.9'],
      ['valid', '192.0.2.2'], // the first address it sees
      ['insufficient_scope', '192.0.2.9'],
      ['valid', '192.0.2.3'],
      ['insufficient_scope', '192.0.2.9'],
      ['valid', undefined], // no address: the last known one stays
    ]
    for (const [code, ip] of steps) buffer.record(a, code, ip, '/x', T)
    await buffer.flush()
    expect(details[0]!.cells.map((c) => [c.code, c.count, c.firstIp, c.lastIp])).toEqual([
      ['valid', 4, '192.0.2.2', '192.0.2.3'],
      ['insufficient_scope', 3, '192.0.2.9', '192.0.2.9'],
    ])
  })

  it('cuts a tag longer than MAX_TAG_LENGTH, and counts its repeats in the cut tag', async () => {
    const { store, details } = usageStore()
    const buffer = make(store, { maxTagsPerKey: 1 })
    const a = slotOf('key_a')
    const long = `/${'x'.repeat(MAX_TAG_LENGTH + 50)}`
    const exact = `/${'y'.repeat(MAX_TAG_LENGTH - 1)}`
    buffer.record(a, 'valid', undefined, long, T)
    buffer.record(a, 'valid', undefined, long, T)
    buffer.record(a, 'key_expired', undefined, long, T)
    buffer.record(slotOf('key_b'), 'valid', undefined, exact, T)
    await buffer.flush()
    // the key's one tag is the cut one: its repeats are not merged into "other"
    expect(buffer.bound.tagsMerged).toBe(0)
    expect(details[0]!.cells.map((c) => [c.keyId, c.code, c.tag, c.count])).toEqual([
      ['key_a', 'valid', long.slice(0, MAX_TAG_LENGTH), 2],
      ['key_a', 'key_expired', long.slice(0, MAX_TAG_LENGTH), 1],
      ['key_b', 'valid', exact, 1], // exactly MAX_TAG_LENGTH: kept whole
    ])
  })

  it('does not count a verification tagged "other" as merged', async () => {
    const { store, details } = usageStore()
    const buffer = make(store, { maxTagsPerKey: 2 })
    const a = slotOf('key_a')
    for (const tag of ['/a', '/b', OTHER_TAG, '/c']) buffer.record(a, 'valid', undefined, tag, T)
    expect(buffer.bound.tagsMerged).toBe(1) // only /c
    await buffer.flush()
    expect(details[0]!.cells.map((c) => [c.tag, c.count])).toEqual([
      ['/a', 1],
      ['/b', 1],
      ['other', 2],
    ])
  })

  it('writes the secret of a failed write once, when it was used again during that write', async () => {
    const { store, details, state, holdWrites } = usageStore()
    const buffer = make(store)
    const a = slotOf('key_a')
    const release = holdWrites()
    state.fail = true
    buffer.record(a, 'valid', undefined, '/x', T + 1)
    const failing = buffer.flush()
    buffer.record(a, 'valid', undefined, '/x', T + 2)
    release()
    await expect(failing).rejects.toThrow('store down')
    state.hold = null
    state.fail = false
    await buffer.flush()
    expect(details).toHaveLength(1)
    expect(details[0]!.secrets).toEqual([
      { keyId: 'key_a', hint: 'kw_test_AbCd…wxyz', lastUsedAt: T + 2 },
    ])
  })

  it('drops the cells of a failed write past maxCells, counting every verification in them', async () => {
    const { store, details, state, holdWrites } = usageStore()
    const buffer = make(store, { maxCells: 2 }) // flushCells is capped at 2 as well
    const release = holdWrites()
    state.fail = true
    for (let i = 0; i < 3; i++) buffer.record(slotOf('key_a'), 'valid', undefined, '/x', T)
    buffer.record(slotOf('key_b'), 'valid', undefined, '/x', T) // two cells: a write starts
    expect(buffer.pendingCells).toBe(0)
    // while it hangs, two new cells fill the buffer again, and a third is dropped
    buffer.record(slotOf('key_c'), 'valid', undefined, '/x', T)
    buffer.record(slotOf('key_d'), 'valid', undefined, '/x', T)
    buffer.record(slotOf('key_e'), 'valid', undefined, '/x', T)
    expect(buffer.bound.dropped).toBe(1)
    release()
    await new Promise(setImmediate) // the write fails; its cells find the buffer full
    expect(buffer.failedFlushes).toBe(1)
    expect(buffer.pendingCells).toBe(2)
    expect(buffer.bound.dropped).toBe(1 + 3 + 1) // key_e, then key_a's three and key_b's one
    state.hold = null
    state.fail = false
    await buffer.flush()
    expect(details[0]!.cells.map((c) => [c.keyId, c.count])).toEqual([
      ['key_c', 1],
      ['key_d', 1],
    ])
  })

  it('writes a batch that filled up during a write right after it, and waits for the next one', async () => {
    const { store, details, holdWrites } = usageStore()
    const buffer = make(store, { flushCells: 2 })
    const a = slotOf('key_a')
    const releaseFirst = holdWrites()
    buffer.record(a, 'valid', undefined, '/1', T)
    buffer.record(a, 'valid', undefined, '/2', T) // flushCells reached: a write starts
    buffer.record(a, 'valid', undefined, '/3', T)
    buffer.record(a, 'valid', undefined, '/4', T) // flushCells reached again, during the write
    const releaseSecond = holdWrites()
    releaseFirst()
    await new Promise(setImmediate)
    expect(details.map((d) => d.cells.map((c) => c.tag))).toEqual([['/1', '/2']])
    // the second write (of /3 and /4) has started and hangs; one cell is not a batch
    buffer.record(a, 'valid', undefined, '/5', T)
    releaseSecond()
    await new Promise(setImmediate)
    await new Promise(setImmediate)
    expect(details.map((d) => d.cells.map((c) => c.tag))).toEqual([
      ['/1', '/2'],
      ['/3', '/4'],
    ])
    expect(buffer.pendingCells).toBe(1)
  })

  it('rejects bad options, naming them', () => {
    expect(() => resolveUsageOptions({ maxCells: 0 })).toThrow(
      '"usage.maxCells" must be a whole number >= 1, got 0',
    )
    expect(() => resolveUsageOptions({ analytics: 'yes' as never })).toThrow(
      '"usage.analytics" must be true or false',
    )
    expect(() => resolveUsageOptions({ maxcells: 1 } as never)).toThrow(
      'unknown option "usage.maxcells" for createKeyward',
    )
    expect(() => resolveUsageOptions({ maxTagsPerKey: 0 })).toThrow(
      '"usage.maxTagsPerKey" must be a whole number >= 1, got 0',
    )
    expect(() => resolveUsageOptions({ flushCells: 1.5 })).toThrow(
      '"usage.flushCells" must be a whole number >= 1, got 1.5',
    )
    for (const bad of [null, 5, 'x', true])
      expect(() => resolveUsageOptions(bad as never)).toThrow(
        '"usage" must be an object, e.g. { maxCells: 50000 }',
      )
  })

  it('accepts 1 as the least of every count', () => {
    expect(resolveUsageOptions({ maxCells: 1, maxTagsPerKey: 1, flushCells: 1 })).toEqual({
      analytics: true,
      maxCells: 1,
      maxTagsPerKey: 1,
      flushCells: 1,
    })
  })
})
