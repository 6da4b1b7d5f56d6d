// keyward.audit: pages of events with filters and cursors, chain verification, and pruning in
// batches that keep the chain verifiable.
import { describe, expect, it } from 'vitest'
import { createMemoryStore } from '../stores/memory/index.js'
import { AuditTrail } from './audit-trail.js'
import { KeywardError } from './errors.js'
import type { AuditEvent } from './types.js'

const T = Date.UTC(2026, 0, 1)

function event(n: number, overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: `evt_${String(n).padStart(16, '0')}`,
    at: T + n * 1000,
    action: n % 2 === 0 ? 'key.updated' : 'key.rotated',
    keyId: n <= 3 ? 'key_aaaaaaaaaaaaaaaa' : 'key_bbbbbbbbbbbbbbbb',
    actor: n === 1 ? 'cli:alice' : 'cli:bob',
    details: {},
    ...overrides,
  }
}

/** A trail over 5 events, 1 s apart from T + 1 s, read at T + 10 s. */
async function trail() {
  const store = createMemoryStore()
  await store.appendAudit([1, 2, 3, 4, 5].map((n) => event(n)))
  return new AuditTrail(store, { now: () => T + 10_000 })
}

const ids = (items: { id: string }[]) => items.map((e) => Number(e.id.slice(4)))
const refused = (message: string) => new KeywardError('invalid_argument', message)

describe('AuditTrail.page', () => {
  it('lists newest first, filtered by key, actor, type and time', async () => {
    const audit = await trail()
    expect(ids((await audit.page()).items)).toEqual([5, 4, 3, 2, 1])
    expect((await audit.page()).nextCursor).toBeNull()
    expect(ids((await audit.page({ keyId: 'key_aaaaaaaaaaaaaaaa' })).items)).toEqual([3, 2, 1])
    expect(ids((await audit.page({ actor: 'cli:alice' })).items)).toEqual([1])
    expect(ids((await audit.page({ type: 'key.updated' })).items)).toEqual([4, 2])
    expect(ids((await audit.page({ since: T + 2000, until: T + 4000 })).items)).toEqual([3, 2])
    expect(ids((await audit.page({ since: 0, until: T + 2001 })).items)).toEqual([2, 1])
  })

  it('pages with the cursor of the previous page until the last one', async () => {
    const audit = await trail()
    const first = await audit.page({ limit: 2 })
    expect(ids(first.items)).toEqual([5, 4])
    expect(first.nextCursor).toEqual(expect.any(String))
    const second = await audit.page({ limit: 2, cursor: first.nextCursor! })
    expect(ids(second.items)).toEqual([3, 2])
    const third = await audit.page({ limit: 2, cursor: second.nextCursor! })
    expect(ids(third.items)).toEqual([1])
    expect(third.nextCursor).toBeNull()
    // a last page that is exactly full has no next one
    expect((await audit.page({ limit: 5 })).nextCursor).toBeNull()
    expect((await audit.page({ limit: 4 })).nextCursor).not.toBeNull()
    expect(ids((await audit.page({ limit: 1000 })).items)).toHaveLength(5)
  })

  it('names a bad limit, time or cursor', async () => {
    const audit = await trail()
    for (const limit of [0, 1001, 1.5])
      await expect(audit.page({ limit })).rejects.toThrow(
        refused(`limit must be 1-1000, got ${limit}`),
      )
    await expect(audit.page({ limit: 1 })).resolves.toMatchObject({ items: [expect.anything()] })
    for (const since of [-1, 1.5])
      await expect(audit.page({ since })).rejects.toThrow(
        refused(`since must be a time in epoch ms, got ${since}`),
      )
    await expect(audit.page({ until: -1 })).rejects.toThrow(
      refused('until must be a time in epoch ms, got -1'),
    )
    const cursor = (text: string) => Buffer.from(text).toString('base64url')
    for (const bad of [
      'garbage',
      cursor('1.2.3'),
      cursor('x1.2'),
      cursor('1.2x'),
      cursor('9999999999999999.1'),
      cursor('1.9999999999999999'),
    ])
      await expect(audit.page({ cursor: bad })).rejects.toThrow(
        refused('cursor is not valid: pass the nextCursor of the previous page unchanged'),
      )
    // a cursor made by hand to the same format works, whatever the length of its numbers
    expect(ids((await audit.page({ cursor: cursor(`${T + 3000}.3`) })).items)).toEqual([2, 1])
    expect(ids((await audit.page({ cursor: cursor(`${T + 3000}.13`) })).items)).toEqual([3, 2, 1])
    expect(ids((await audit.page({ cursor: cursor('9.9999999999999') })).items)).toEqual([])
  })
})

describe('AuditTrail.prune', () => {
  it('deletes events older than the retention in batches, and the chain still verifies', async () => {
    const audit = await trail()
    // now is T + 10 s: events at T + 1 s to T + 4 s are older than 5 s, the one at T + 5 s not
    await expect(audit.prune(5000, { batchSize: 2 })).resolves.toBe(4)
    expect(ids((await audit.page()).items)).toEqual([5])
    await expect(audit.verify()).resolves.toMatchObject({ ok: true, checked: 1 })
    await expect(audit.prune(5000)).resolves.toBe(0)
  })

  it('deletes a last batch that is exactly full, then stops', async () => {
    const audit = await trail()
    await expect(audit.prune(4000, { batchSize: 5 })).resolves.toBe(5)
    await expect(audit.verify({ pageSize: 1 })).resolves.toMatchObject({ ok: true, checked: 0 })
  })

  it('deletes in batches of 1,000 by default', async () => {
    const audit = await trail()
    await expect(audit.prune(4000)).resolves.toBe(5)
  })

  it('lets other work run between batches', async () => {
    const store = createMemoryStore()
    await store.appendAudit([1, 2, 3, 4, 5].map((n) => event(n)))
    const audit = new AuditTrail(store, { now: () => T + 10_000 })
    let seenBetween: number | undefined
    setImmediate(async () => {
      seenBetween = (await store.listAudit({ limit: 10 })).length
    })
    await expect(audit.prune(4000, { batchSize: 2 })).resolves.toBe(5)
    // the callback ran after the first batch, before the last
    expect(seenBetween).toBeGreaterThan(0)
    expect(seenBetween).toBeLessThan(5)
  })

  it('refuses a retention that is not a positive whole number of ms', async () => {
    const audit = await trail()
    for (const bad of [0, -1, 1.5])
      await expect(audit.prune(bad)).rejects.toThrow(
        refused(`retention must be a positive whole number of ms, got ${bad}`),
      )
  })
})
