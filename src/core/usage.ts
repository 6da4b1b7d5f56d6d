import type { Store, UsageEntry } from './types.js'

/**
 * Usage counters kept in memory and written in batches: the verify path never writes to the
 * store. A failed flush puts its counts back so nothing is lost.
 */
export class UsageBuffer {
  private pending = new Map<string, UsageEntry>()
  private readonly timer: NodeJS.Timeout
  private flushing: Promise<void> | null = null
  /** Flushes the store refused, for metrics. */
  failedFlushes = 0

  constructor(
    private readonly store: Store,
    intervalMs: number,
    private readonly onError: (error: unknown) => void,
  ) {
    this.timer = setInterval(() => {
      this.flush().catch(this.onError)
    }, intervalMs)
    this.timer.unref()
  }

  record(keyId: string, nowMs: number): void {
    const entry = this.pending.get(keyId)
    if (entry !== undefined) {
      entry.count++
      if (nowMs > entry.lastUsedAt) entry.lastUsedAt = nowMs
    } else {
      this.pending.set(keyId, { keyId, count: 1, lastUsedAt: nowMs })
    }
  }

  async flush(): Promise<void> {
    // one flush at a time, so counts are never written twice
    while (this.flushing !== null) await this.flushing
    if (this.pending.size === 0) return
    const batch = this.pending
    this.pending = new Map()
    this.flushing = this.store.recordUsage([...batch.values()]).then(
      () => {
        this.flushing = null
      },
      (error: unknown) => {
        this.flushing = null
        this.failedFlushes++
        for (const e of batch.values()) {
          const current = this.pending.get(e.keyId)
          if (current === undefined) this.pending.set(e.keyId, e)
          else {
            current.count += e.count
            current.lastUsedAt = Math.max(current.lastUsedAt, e.lastUsedAt)
          }
        }
        throw error
      },
    )
    await this.flushing
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }
}
