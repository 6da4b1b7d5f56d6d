// Reading, checking and pruning the audit trail. Writing happens elsewhere: admin events in the
// transaction of their change (key-admin.ts), denials through the AuditBuffer (audit-buffer.ts).
import { type AuditChainReport, verifyAuditChain } from './audit-chain.js'
import type { Clock } from './clock.js'
import { KeywardError } from './errors.js'
import type { AuditQuery, StoredAuditEvent, Store } from './types.js'

/** Filters of `AuditTrail.page`; every filter given must match. */
export interface AuditListInput {
  keyId?: string
  actor?: string
  /** The event's action, e.g. `key.rotated`, `key.denied`, `policy.changed`. */
  type?: string
  /** Epoch ms, inclusive. */
  since?: number
  /** Epoch ms, exclusive. */
  until?: number
  /** `nextCursor` of the previous page. */
  cursor?: string
  /** 1-1000, default 100. */
  limit?: number
}

export interface AuditPage {
  /** Newest first. */
  items: StoredAuditEvent[]
  nextCursor: string | null
}

const MAX_PAGE = 1000

const bad = (message: string) => new KeywardError('invalid_argument', message)

function encodeCursor(e: StoredAuditEvent): string {
  return Buffer.from(`${e.at}.${e.seq}`).toString('base64url')
}

function decodeCursor(cursor: string): { at: number; seq: number } {
  const m = /^(\d{1,16})\.(\d{1,16})$/.exec(Buffer.from(cursor, 'base64url').toString())
  const at = Number(m?.[1])
  const seq = Number(m?.[2])
  if (m === null || !Number.isSafeInteger(at) || !Number.isSafeInteger(seq))
    throw bad('cursor is not valid: pass the nextCursor of the previous page unchanged')
  return { at, seq }
}

function checkTime(value: number | undefined, what: string): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0))
    throw bad(`${what} must be a time in epoch ms, got ${value}`)
}

/** The audit trail of a store; `Keyward` owns one as `keyward.audit`. */
export class AuditTrail {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /**
   * One page of events, newest first, filtered.
   *
   * @example
   * const { items, nextCursor } = await keyward.audit.page({ keyId, since: Date.now() - 3_600_000 })
   * @throws KeywardError `invalid_argument` for a bad limit, time or cursor
   */
  async page(input: AuditListInput = {}): Promise<AuditPage> {
    const limit = input.limit ?? 100
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE)
      throw bad(`limit must be 1-${MAX_PAGE}, got ${limit}`)
    checkTime(input.since, 'since')
    checkTime(input.until, 'until')
    const query: AuditQuery = { limit: limit + 1 }
    if (input.keyId !== undefined) query.keyId = input.keyId
    if (input.actor !== undefined) query.actor = input.actor
    if (input.type !== undefined) query.action = input.type
    if (input.since !== undefined) query.since = input.since
    if (input.until !== undefined) query.until = input.until
    if (input.cursor !== undefined) query.before = decodeCursor(input.cursor)
    const rows = await this.store.listAudit(query)
    const items = rows.slice(0, limit)
    const last = items[items.length - 1]
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null }
  }

  /**
   * Checks the hash chain from its anchor to its head: `ok`, or the first event that was
   * deleted, edited or moved.
   */
  verify(options: { pageSize?: number } = {}): Promise<AuditChainReport> {
    return verifyAuditChain(this.store, options)
  }

  /**
   * Deletes events older than `olderThanMs` in batches of `batchSize` (each its own short
   * transaction, the event loop free between them), keeping the chain verifiable: the anchor
   * moves to the last deleted event. Returns how many were deleted.
   */
  async prune(olderThanMs: number, options: { batchSize?: number } = {}): Promise<number> {
    if (!Number.isSafeInteger(olderThanMs) || olderThanMs <= 0)
      throw bad(`retention must be a positive whole number of ms, got ${olderThanMs}`)
    const batchSize = options.batchSize ?? 1000
    const before = this.clock.now() - olderThanMs
    let total = 0
    for (;;) {
      const n = await this.store.pruneAudit(before, batchSize)
      total += n
      if (n < batchSize) return total
      // let verification and other work run between batches
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}
