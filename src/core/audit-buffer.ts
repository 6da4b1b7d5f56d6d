// Denials of known keys as audit events, without the verify path ever waiting on the store:
// `record` is a map update in memory; identical denials (same key, code and minute) merge into
// one event with a count; batches are written by a timer, or sooner once `batchSize` distinct
// events wait, and on close. A failed write puts its events back. Memory is bounded: at most
// `maxPending` distinct events wait; a denial that would need another one is dropped and
// counted (`dropped`), while denials matching a waiting event keep merging into it.
import { newEventId } from './audit-events.js'
import { normalizeIp } from './ip-address.js'
import type { AuditEvent, Store } from './types.js'

/** Denial codes recorded: a known key was refused for one of these reasons. */
export const AUDITED_DENIALS: ReadonlySet<string> = new Set([
  'key_revoked',
  'key_expired',
  'key_disabled',
  'ip_not_allowed',
  'insufficient_scope',
  'rate_limited',
  'quota_exhausted',
])

/** Settings of the denial audit (`createKeyward({ audit })`). */
export interface AuditBufferOptions {
  /** Record denials of known keys at all. Default true. */
  denials?: boolean
  /** How often waiting events are written. Default 5 s. */
  flushIntervalMs?: number
  /** Distinct waiting events that start a write at once. Default 500. */
  batchSize?: number
  /** Distinct events held in memory at most; beyond, new ones are dropped. Default 10 000. */
  maxPending?: number
}

interface Pending {
  keyId: string
  code: string
  /** First denial of the minute. */
  at: number
  /** Its client address, and the last one when another address was seen. */
  ip: string | null
  lastIp: string | null
  lastAt: number
  count: number
}

const MINUTE_MS = 60_000

/** Counts of the buffer since it was created, for metrics. */
export interface AuditBufferStats {
  /** Denials not recorded because `maxPending` distinct events were already waiting. */
  dropped: number
  /** Writes the store refused (their events were put back). */
  failedFlushes: number
  /** Distinct events waiting now. */
  pending: number
}

/** See the file comment. The verifier owns one. */
export class AuditBuffer {
  private pending = new Map<string, Pending>()
  private readonly timer: NodeJS.Timeout | null
  private flushing: Promise<void> | null = null
  private readonly batchSize: number
  private readonly maxPending: number
  private readonly enabled: boolean
  private dropped = 0
  private failedFlushes = 0

  constructor(
    private readonly store: Store,
    options: Required<AuditBufferOptions>,
    private readonly onError: (error: unknown) => void,
  ) {
    this.enabled = options.denials
    this.batchSize = options.batchSize
    this.maxPending = options.maxPending
    if (this.enabled) {
      this.timer = setInterval(() => {
        this.flush().catch(this.onError)
      }, options.flushIntervalMs)
      this.timer.unref()
    } else this.timer = null
  }

  /** Notes one denial of a known key. Synchronous, no I/O; codes outside AUDITED_DENIALS are ignored. */
  record(keyId: string, code: string, ip: string | undefined, nowMs: number): void {
    if (!this.enabled || !AUDITED_DENIALS.has(code)) return
    const slot = `${keyId} ${code} ${Math.floor(nowMs / MINUTE_MS)}`
    const entry = this.pending.get(slot)
    if (entry !== undefined) {
      entry.count++
      entry.lastAt = nowMs
      if (ip !== undefined && ip !== entry.ip) entry.lastIp = ip
      return
    }
    if (this.pending.size >= this.maxPending) {
      this.dropped++
      return
    }
    this.pending.set(slot, {
      keyId,
      code,
      at: nowMs,
      ip: ip ?? null,
      lastIp: null,
      lastAt: nowMs,
      count: 1,
    })
    if (this.pending.size >= this.batchSize && this.flushing === null)
      this.flush().catch(this.onError)
  }

  stats(): AuditBufferStats {
    return { dropped: this.dropped, failedFlushes: this.failedFlushes, pending: this.pending.size }
  }

  /** Writes every waiting event now (one batch, one transaction). */
  async flush(): Promise<void> {
    // one write at a time, so an event is never written twice
    while (this.flushing !== null) await this.flushing
    if (this.pending.size === 0) return
    const batch = this.pending
    this.pending = new Map()
    const events: AuditEvent[] = [...batch.values()].map(toEvent)
    this.flushing = this.store.appendAudit(events).then(
      () => {
        this.flushing = null
        // a batch that filled up during the write goes now, as one filled between writes does
        if (this.pending.size >= this.batchSize) this.flush().catch(this.onError)
      },
      (error: unknown) => {
        this.flushing = null
        this.failedFlushes++
        this.putBack(batch)
        throw error
      },
    )
    await this.flushing
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    await this.flush()
  }

  /** A failed batch goes back, merged with what arrived meanwhile, within `maxPending`. */
  private putBack(batch: Map<string, Pending>): void {
    for (const [slot, e] of batch) {
      const current = this.pending.get(slot)
      if (current !== undefined) {
        current.count += e.count
        current.at = Math.min(current.at, e.at)
        current.ip = e.ip
        continue
      }
      if (this.pending.size >= this.maxPending) {
        this.dropped += e.count
        continue
      }
      this.pending.set(slot, e)
    }
  }
}

/**
 * An address as adapters hand it over (`::ffff:10.0.0.1`, with a port, …) in one spelling,
 * at flush time: off the verify path. Anything that is not an address is not recorded.
 */
const address = (ip: string | null): string | null =>
  ip === null ? null : (normalizeIp(ip) ?? null)

function toEvent(e: Pending): AuditEvent {
  const details: Record<string, unknown> = { code: e.code }
  if (e.count > 1) details.lastAt = e.lastAt
  const lastIp = address(e.lastIp)
  if (lastIp !== null) details.lastIp = lastIp
  return {
    id: newEventId(),
    at: e.at,
    action: 'key.denied',
    keyId: e.keyId,
    actor: null,
    ip: address(e.ip),
    details,
    count: e.count,
  }
}
