// Usage rows age in two steps, off the verify path: minute rows older than `minuteRowsForMs`
// are folded into hour rows, and rows older than `retentionMs` are deleted. Both run in
// bounded batches (each its own short transaction), yielding between them, so that neither
// verification nor the usage flush waits long on the store.
import type { Clock } from './clock.js'
import { KeywardError } from './errors.js'
import type { Store } from './types.js'

export interface UsageRetentionOptions {
  store: Store
  clock: Clock
  /** Minute rows older than this are rolled up into hour rows. */
  minuteRowsForMs: number
  /** Rows (minute or hour) older than this are deleted. At least `minuteRowsForMs`. */
  retentionMs: number
  /** Rows per transaction. Default 2,000. */
  batchRows?: number
  /** Most batches of each kind per run; the rest waits for the next run. Default 50. */
  maxBatches?: number
  /** How often it runs. Default every 5 minutes. */
  intervalMs?: number
  /** Errors of a run (the store was unreachable): the next run tries again. */
  onError: (error: unknown) => void
}

/** What one run did. */
export interface UsageRetentionRun {
  rolledUp: number
  pruned: number
}

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * Rolls up and prunes usage rows on a timer (unref'd). `runOnce` does one run now.
 *
 * @example
 * const retention = new UsageRetention({ store, clock: systemClock, minuteRowsForMs: 48 * 3_600_000, retentionMs: 90 * 86_400_000, onError: console.error })
 * retention.start()
 * // … on shutdown
 * await retention.stop()
 * @throws KeywardError `invalid_options` for ages or sizes that are not positive whole numbers
 */
export class UsageRetention {
  private readonly options: Required<UsageRetentionOptions>
  private timer: NodeJS.Timeout | null = null
  private running: Promise<UsageRetentionRun> | null = null
  private stopped = false

  constructor(options: UsageRetentionOptions) {
    const o = {
      batchRows: 2_000,
      maxBatches: 50,
      intervalMs: 300_000,
      ...options,
    }
    for (const name of [
      'minuteRowsForMs',
      'retentionMs',
      'batchRows',
      'maxBatches',
      'intervalMs',
    ] as const) {
      const v = o[name]
      if (!Number.isSafeInteger(v) || v < 1)
        throw new KeywardError(
          'invalid_options',
          `"${name}" must be a whole number >= 1, got ${JSON.stringify(v)}`,
        )
    }
    if (o.retentionMs < o.minuteRowsForMs)
      throw new KeywardError(
        'invalid_options',
        `usage retention (${o.retentionMs} ms) is shorter than the time minute rows are kept (${o.minuteRowsForMs} ms): keep usage at least as long as its minute rows`,
      )
    this.options = o
  }

  start(): void {
    if (this.timer !== null || this.stopped) return
    this.timer = setInterval(() => {
      this.runOnce().catch(this.options.onError)
    }, this.options.intervalMs)
    this.timer.unref()
  }

  /** One run: roll-up, then pruning, each up to `maxBatches` batches. One run at a time. */
  runOnce(): Promise<UsageRetentionRun> {
    this.running ??= this.run().finally(() => {
      this.running = null
    })
    return this.running
  }

  /** Stops the timer and waits for a run under way. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    await this.running?.catch(() => {})
  }

  private async run(): Promise<UsageRetentionRun> {
    const { store, clock, batchRows, maxBatches } = this.options
    const now = clock.now()
    const result: UsageRetentionRun = { rolledUp: 0, pruned: 0 }
    for (let i = 0; i < maxBatches && !this.stopped; i++) {
      const n = await store.rollUpUsage(now - this.options.minuteRowsForMs, batchRows)
      result.rolledUp += n
      if (n < batchRows) break
      await yieldTurn()
    }
    for (let i = 0; i < maxBatches && !this.stopped; i++) {
      const n = await store.pruneUsage(now - this.options.retentionMs, batchRows)
      result.pruned += n
      if (n < batchRows) break
      await yieldTurn()
    }
    return result
  }
}
