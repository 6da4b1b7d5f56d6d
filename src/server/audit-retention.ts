// Deletes audit events past the retention period, in the background: batches of 1000, each
// its own short transaction, the event loop free between them, so verification never waits.
// The store moves the chain's anchor to the last deleted event: `keyward audit verify` still
// checks everything that is left.
import type { AuditTrail } from '../core/audit-trail.js'

export interface AuditPruning {
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>
  /** Runs one pass now (tests, and the first pass at start-up). */
  runOnce(): Promise<number>
}

export function startAuditPruning(options: {
  audit: Pick<AuditTrail, 'prune'>
  retentionMs: number
  /** Between passes. Default 10 minutes. */
  intervalMs?: number
  batchSize?: number
  onPruned?: (deleted: number) => void
  onError: (error: unknown) => void
}): AuditPruning {
  let running: Promise<number> | null = null
  let stopped = false
  const runOnce = (): Promise<number> => {
    running ??= options.audit
      .prune(options.retentionMs, { batchSize: options.batchSize ?? 1000 })
      .then(
        (n) => {
          if (n > 0) options.onPruned?.(n)
          return n
        },
        (error: unknown) => {
          options.onError(error)
          return 0
        },
      )
      .finally(() => {
        running = null
      })
    return running
  }
  const timer = setInterval(() => {
    if (!stopped) void runOnce()
  }, options.intervalMs ?? 600_000)
  timer.unref()
  const first = setTimeout(() => {
    if (!stopped) void runOnce()
  }, 0)
  first.unref()
  return {
    runOnce,
    async stop() {
      stopped = true
      clearInterval(timer)
      clearTimeout(first)
      await running
    },
  }
}
