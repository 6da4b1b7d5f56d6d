// The audit trail's hash chain: each stored event carries the hash of the one before it and its
// own, SHA-256 over the previous hash and a canonical serialization of the event. Stores call
// `chainEvents` inside the transaction that holds the chain's head; `verifyAuditChain` walks
// the stored chain from its anchor and names the first event that was deleted, edited or moved.
import { createHash } from 'node:crypto'
import type {
  AuditChainPoint,
  AuditEvent,
  AuditChainState,
  StoredAuditEvent,
  Store,
} from './types.js'

/** The `prevHash` of the first event ever appended. */
export const GENESIS_HASH = '0'.repeat(64)

/** The chain's state before anything was appended. */
export const EMPTY_CHAIN: Readonly<AuditChainPoint> = Object.freeze({ seq: 0, hash: GENESIS_HASH })

/**
 * JSON with object keys sorted at every depth, so that a store that reorders keys (PostgreSQL
 * jsonb does) still hashes to the same text.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const keys = Object.keys(value).sort()
  const parts: string[] = []
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k]
    if (v === undefined) continue
    parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`)
  }
  return `{${parts.join(',')}}`
}

/**
 * The hash of an event that follows `prevHash`. Covers every field a reader sees (id, time,
 * action, key, actor, IP, count, details) but not `seq`: a moved event then shows as a broken
 * link (its own hash still matches), an edited one as a hash that no longer matches.
 */
export function auditEventHash(prevHash: string, event: AuditEvent): string {
  const body = canonicalJson([
    event.id,
    event.at,
    event.action,
    event.keyId,
    event.actor,
    event.ip ?? null,
    event.count ?? 1,
    event.details,
  ])
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex')
}

/** `events` as they are stored after `head`: numbered, linked and hashed. */
export function chainEvents(
  head: AuditChainPoint,
  events: readonly AuditEvent[],
): StoredAuditEvent[] {
  let { seq, hash: prevHash } = head
  return events.map((given) => {
    // hashed as it will be read back: JSON drops undefined fields and turns Dates into text
    const e: AuditEvent = { ...given, details: JSON.parse(JSON.stringify(given.details ?? {})) }
    seq++
    const hash = auditEventHash(prevHash, e)
    const stored: StoredAuditEvent = {
      ...e,
      ip: e.ip ?? null,
      count: e.count ?? 1,
      seq,
      prevHash,
      hash,
    }
    prevHash = hash
    return stored
  })
}

/** What `verifyAuditChain` found wrong first. */
export interface AuditChainBreak {
  /** `deleted`: events are missing; `edited`: an event no longer matches its hash; `moved`:
   * an event does not follow the one before it (reordered, replaced, or the one before it was
   * deleted and the rest renumbered). */
  kind: 'deleted' | 'edited' | 'moved'
  /** The seq where the chain breaks (the first missing one, or the event found wrong). */
  seq: number
  /** The id of the event found wrong, when one is stored there. */
  id: string | null
  /** One sentence for a person. */
  message: string
}

export interface AuditChainReport {
  ok: boolean
  /** Events checked (all of them when ok). */
  checked: number
  anchor: AuditChainPoint
  head: AuditChainPoint
  /** The first break, when not ok. */
  break?: AuditChainBreak
}

/**
 * Checks the stored chain from its anchor to its head, reading `pageSize` events at a time.
 *
 * @example
 * const report = await verifyAuditChain(store)
 * if (!report.ok) console.error(report.break!.message)
 */
export async function verifyAuditChain(
  store: Pick<Store, 'readAuditChain' | 'auditChainState'>,
  options: { pageSize?: number } = {},
): Promise<AuditChainReport> {
  const pageSize = options.pageSize ?? 1000
  const state: AuditChainState = await store.auditChainState()
  let prev: AuditChainPoint = state.anchor
  let checked = 0
  const broken = (b: AuditChainBreak): AuditChainReport => ({
    ok: false,
    checked,
    anchor: state.anchor,
    head: state.head,
    break: b,
  })
  for (;;) {
    const page = await store.readAuditChain(prev.seq, pageSize)
    for (const e of page) {
      if (e.seq !== prev.seq + 1) {
        const last = e.seq - 1
        return broken({
          kind: 'deleted',
          seq: prev.seq + 1,
          id: null,
          message: `event${last > prev.seq + 1 ? 's' : ''} seq ${prev.seq + 1}${last > prev.seq + 1 ? `-${last}` : ''} ${last > prev.seq + 1 ? 'are' : 'is'} missing: deleted before event seq ${e.seq} (${e.id})`,
        })
      }
      if (auditEventHash(e.prevHash, e) !== e.hash) {
        return broken({
          kind: 'edited',
          seq: e.seq,
          id: e.id,
          message: `event seq ${e.seq} (${e.id}) was edited: its content no longer matches its hash`,
        })
      }
      if (e.prevHash !== prev.hash) {
        return broken({
          kind: 'moved',
          seq: e.seq,
          id: e.id,
          message: `event seq ${e.seq} (${e.id}) does not follow event seq ${prev.seq}: events were reordered, replaced, or deleted and renumbered`,
        })
      }
      prev = { seq: e.seq, hash: e.hash }
      checked++
    }
    if (page.length < pageSize) break
  }
  if (prev.seq < state.head.seq) {
    return broken({
      kind: 'deleted',
      seq: prev.seq + 1,
      id: null,
      message: `events seq ${prev.seq + 1}-${state.head.seq} are missing: the newest events were deleted (the chain's head is seq ${state.head.seq})`,
    })
  }
  if (prev.seq === state.head.seq && prev.hash !== state.head.hash) {
    return broken({
      kind: 'edited',
      seq: prev.seq,
      id: null,
      message: `the newest event (seq ${prev.seq}) is not the one the chain's head recorded: it was replaced`,
    })
  }
  if (prev.seq > state.head.seq) {
    return broken({
      kind: 'moved',
      seq: state.head.seq + 1,
      id: null,
      message: `events after the chain's head (seq ${state.head.seq}) are stored: they were added outside keyward`,
    })
  }
  return { ok: true, checked, anchor: state.anchor, head: state.head }
}
