// The audit trail's hash chain: how events are numbered, linked and hashed, and what
// verifyAuditChain reports for a chain whose events were deleted, edited, moved or added.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  auditEventHash,
  canonicalJson,
  chainEvents,
  EMPTY_CHAIN,
  GENESIS_HASH,
  verifyAuditChain,
} from './audit-chain.js'
import type { AuditChainPoint, AuditEvent, StoredAuditEvent } from './types.js'

const T = Date.UTC(2026, 0, 1)

function event(n: number): AuditEvent {
  return {
    id: `evt_${String(n).padStart(16, '0')}`,
    at: T + n,
    action: 'key.updated',
    keyId: 'key_0123456789abcdef',
    actor: 'cli:alice',
    details: { n },
  }
}

/** A store holding `events` (by seq) with the given anchor and head, read in pages. */
function chainStore(
  events: StoredAuditEvent[],
  state?: { anchor?: AuditChainPoint; head?: AuditChainPoint },
) {
  const last = events[events.length - 1]
  const head = state?.head ?? (last ? { seq: last.seq, hash: last.hash } : EMPTY_CHAIN)
  const anchor = state?.anchor ?? EMPTY_CHAIN
  const reads: number[] = []
  return {
    reads,
    async auditChainState() {
      return { anchor, head }
    },
    async readAuditChain(afterSeq: number, limit: number) {
      reads.push(afterSeq)
      return events.filter((e) => e.seq > afterSeq).slice(0, limit)
    },
  }
}

const chain = (n: number) =>
  chainEvents(
    EMPTY_CHAIN,
    Array.from({ length: n }, (_, i) => event(i + 1)),
  )

describe('canonicalJson', () => {
  it('sorts keys at every depth and leaves out undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, undefined, 'x'], c: null }, u: undefined })).toBe(
      '{"a":{"c":null,"d":[1,null,"x"]},"b":1}',
    )
    expect(canonicalJson(undefined)).toBe('null')
    expect(canonicalJson([])).toBe('[]')
    expect(canonicalJson({})).toBe('{}')
  })
})

describe('chainEvents', () => {
  it('numbers events after the head, links each to the one before and hashes it', () => {
    const [first, second] = chainEvents(EMPTY_CHAIN, [event(1), event(2)])
    expect(first).toMatchObject({ seq: 1, prevHash: GENESIS_HASH, ip: null, count: 1 })
    expect(first!.hash).toBe(auditEventHash(GENESIS_HASH, event(1)))
    expect(first!.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(second).toMatchObject({ seq: 2, prevHash: first!.hash })
    const [third] = chainEvents({ seq: 2, hash: second!.hash }, [event(3)])
    expect(third).toMatchObject({ seq: 3, prevHash: second!.hash })
  })

  it('hashes details as they are read back: no undefined fields, dates as text', () => {
    const given = { ...event(1), details: { when: new Date(0), gone: undefined } }
    const [stored] = chainEvents(EMPTY_CHAIN, [given])
    expect(stored!.details).toEqual({ when: '1970-01-01T00:00:00.000Z' })
    const [bare] = chainEvents(EMPTY_CHAIN, [{ ...event(1), details: undefined as never }])
    expect(bare!.details).toEqual({})
  })

  it('keeps the stored format: SHA-256 of the previous hash, a newline and the fields as sorted JSON', () => {
    // chains written by earlier versions must still verify, and anyone can recompute a hash
    const e = {
      id: 'evt_0001',
      at: 1_767_225_600_000,
      action: 'key.created',
      keyId: 'key_0123456789abcdef',
      actor: 'admin',
      ip: '203.0.113.7',
      count: 1,
      details: { scopes: ['orders:read'], name: 'billing' },
    } as AuditEvent
    const body =
      '["evt_0001",1767225600000,"key.created","key_0123456789abcdef","admin","203.0.113.7",1,{"name":"billing","scopes":["orders:read"]}]'
    const expected = createHash('sha256').update(`${GENESIS_HASH}\n${body}`).digest('hex')
    expect(expected).toBe('bfc79cc9863153c19d0b4bd06c61b8d9dca0b90584e7fae04d8a4698c9c513ae')
    expect(auditEventHash(GENESIS_HASH, e)).toBe(expected)
  })

  it('hashes a missing ip and count as null and 1, and every field a reader sees', () => {
    const e = event(1)
    const h = auditEventHash(GENESIS_HASH, e)
    expect(auditEventHash(GENESIS_HASH, { ...e, ip: null, count: 1 })).toBe(h)
    expect(auditEventHash(GENESIS_HASH, { ...e, count: 2 })).not.toBe(h)
    expect(auditEventHash(GENESIS_HASH, { ...e, ip: '10.0.0.1' })).not.toBe(h)
    expect(auditEventHash('1'.repeat(64), e)).not.toBe(h)
  })
})

describe('verifyAuditChain', () => {
  it('checks a whole chain, page by page', async () => {
    const events = chain(5)
    const store = chainStore(events)
    const report = await verifyAuditChain(store, { pageSize: 2 })
    expect(report).toEqual({
      ok: true,
      checked: 5,
      anchor: EMPTY_CHAIN,
      head: { seq: 5, hash: events[4]!.hash },
    })
    expect(store.reads).toEqual([0, 2, 4])
    // a last page that is full: one more read finds it was the last
    const even = chainStore(chain(4))
    await expect(verifyAuditChain(even, { pageSize: 2 })).resolves.toMatchObject({
      ok: true,
      checked: 4,
    })
    expect(even.reads).toEqual([0, 2, 4])
    await expect(verifyAuditChain(chainStore([]))).resolves.toMatchObject({ ok: true, checked: 0 })
  })

  it('starts at the anchor once older events were pruned', async () => {
    const events = chain(5)
    const anchor = { seq: 2, hash: events[1]!.hash }
    const report = await verifyAuditChain(chainStore(events.slice(2), { anchor }))
    expect(report).toMatchObject({ ok: true, checked: 3, anchor })
  })

  it('names an event deleted in the middle', async () => {
    const events = chain(5)
    const report = await verifyAuditChain(chainStore(events.filter((e) => e.seq !== 3)))
    expect(report).toMatchObject({
      ok: false,
      checked: 2,
      break: {
        kind: 'deleted',
        seq: 3,
        id: null,
        message: `event seq 3 is missing: deleted before event seq 4 (${events[3]!.id})`,
      },
    })
  })

  it('names a run of deleted events', async () => {
    const events = chain(5)
    const report = await verifyAuditChain(chainStore(events.filter((e) => e.seq < 2 || e.seq > 4)))
    expect(report.break).toEqual({
      kind: 'deleted',
      seq: 2,
      id: null,
      message: `events seq 2-4 are missing: deleted before event seq 5 (${events[4]!.id})`,
    })
  })

  it('names an edited event', async () => {
    const events = chain(3)
    events[1] = { ...events[1]!, details: { n: 99 } }
    const report = await verifyAuditChain(chainStore(events))
    expect(report).toMatchObject({
      ok: false,
      checked: 1,
      break: {
        kind: 'edited',
        seq: 2,
        id: events[1]!.id,
        message: `event seq 2 (${events[1]!.id}) was edited: its content no longer matches its hash`,
      },
    })
  })

  it('names an event that does not follow the one before it (deleted and renumbered)', async () => {
    const events = chain(3)
    const renumbered = [events[0]!, { ...events[2]!, seq: 2 }]
    const report = await verifyAuditChain(
      chainStore(renumbered, { head: { seq: 2, hash: events[2]!.hash } }),
    )
    expect(report).toMatchObject({
      ok: false,
      checked: 1,
      break: {
        kind: 'moved',
        seq: 2,
        id: events[2]!.id,
        message: `event seq 2 (${events[2]!.id}) does not follow event seq 1: events were reordered, replaced, or deleted and renumbered`,
      },
    })
  })

  it('names the newest events deleted', async () => {
    const events = chain(5)
    const head = { seq: 5, hash: events[4]!.hash }
    const report = await verifyAuditChain(chainStore(events.slice(0, 3), { head }))
    expect(report).toEqual({
      ok: false,
      checked: 3,
      anchor: EMPTY_CHAIN,
      head,
      break: {
        kind: 'deleted',
        seq: 4,
        id: null,
        message:
          "events seq 4-5 are missing: the newest events were deleted (the chain's head is seq 5)",
      },
    })
  })

  it('names a newest event that is not the one the head recorded', async () => {
    const events = chain(3)
    const report = await verifyAuditChain(
      chainStore(events, { head: { seq: 3, hash: 'f'.repeat(64) } }),
    )
    expect(report).toMatchObject({
      ok: false,
      checked: 3,
      break: {
        kind: 'edited',
        seq: 3,
        id: null,
        message:
          "the newest event (seq 3) is not the one the chain's head recorded: it was replaced",
      },
    })
  })

  it('names events stored after the head', async () => {
    const events = chain(4)
    const report = await verifyAuditChain(
      chainStore(events, { head: { seq: 2, hash: events[1]!.hash } }),
    )
    expect(report).toMatchObject({
      ok: false,
      checked: 4,
      break: {
        kind: 'moved',
        seq: 3,
        id: null,
        message:
          "events after the chain's head (seq 2) are stored: they were added outside keyward",
      },
    })
  })
})
