// Usage, counted in memory on the verify path and written in batches: per-key counters,
// per-secret last use, and per-minute analytics cells (key, minute, outcome, tag, first and last
// client IP). The verify path never writes to the store and allocates only when a new cell
// starts; what is held is bounded (see UsageLimits).
import { KeywardError } from './errors.js'
import { rejectUnknownOptions } from './options.js'
import type { SecretUse, Store, UsageCell, UsageEntry } from './types.js'

/** What usage analytics may hold in memory, and when they write. */
export interface UsageOptions {
  /** Record per-minute analytics (outcomes, tags, client IPs). Default true. */
  analytics?: boolean
  /**
   * Distinct cells (key, minute, outcome, tag) waiting for a write. Past it, a verification
   * that would start a new cell is not recorded in analytics (the key's counters still are),
   * and is counted in `stats().usage.dropped`. A write in flight holds its own batch besides,
   * so at most twice this many cells are in memory. Default 50,000 (about 10 MB).
   */
  maxCells?: number
  /**
   * Distinct tags per key and minute; further tags are merged into the tag `other` (counted
   * in `stats().usage.tagsMerged`). Default 20.
   */
  maxTagsPerKey?: number
  /** A write starts as soon as this many cells are pending, before the interval. Default 5,000. */
  flushCells?: number
}

export interface ResolvedUsageOptions {
  readonly analytics: boolean
  readonly maxCells: number
  readonly maxTagsPerKey: number
  readonly flushCells: number
}

const USAGE_OPTIONS: ReadonlySet<string> = new Set([
  'analytics',
  'maxCells',
  'maxTagsPerKey',
  'flushCells',
])

/** Longest tag kept as given; a longer one is cut (tags are names, not data). */
export const MAX_TAG_LENGTH = 128
/** Where tags past `maxTagsPerKey` go. */
export const OTHER_TAG = 'other'
const MINUTE_MS = 60_000

function wholeNumber(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw new KeywardError(
      'invalid_options',
      `"usage.${name}" must be a whole number >= ${min}, got ${JSON.stringify(value)}`,
    )
  return value
}

/**
 * Checks the `usage` option of `createKeyward` once.
 *
 * @example
 * resolveUsageOptions({ maxCells: 10_000 })
 * @throws KeywardError `invalid_options` naming the bad field
 */
export function resolveUsageOptions(input: UsageOptions | undefined): ResolvedUsageOptions {
  if (input !== undefined && (typeof input !== 'object' || input === null))
    throw new KeywardError('invalid_options', '"usage" must be an object, e.g. { maxCells: 50000 }')
  const o = input ?? {}
  rejectUnknownOptions(o, USAGE_OPTIONS, 'createKeyward', 'usage.')
  if (o.analytics !== undefined && typeof o.analytics !== 'boolean')
    throw new KeywardError(
      'invalid_options',
      `"usage.analytics" must be true or false, got ${JSON.stringify(o.analytics)}`,
    )
  const maxCells = wholeNumber(o.maxCells, 'maxCells', 50_000, 1)
  return Object.freeze({
    analytics: o.analytics ?? true,
    maxCells,
    maxTagsPerKey: wholeNumber(o.maxTagsPerKey, 'maxTagsPerKey', 20, 1),
    flushCells: Math.min(wholeNumber(o.flushCells, 'flushCells', 5_000, 1), maxCells),
  })
}

/**
 * One secret as the verifier's cache entry holds it: its last use is raised in place, and it
 * joins the pending list once per flush.
 */
export interface SecretSlot {
  readonly keyId: string
  readonly hint: string
  lastUsedAt: number
  pending: boolean
  /**
   * The cell this secret counted in last, valid while `cellEpoch` is the buffer's epoch: a
   * caller that keeps hitting one route with one outcome skips the map lookups.
   */
  cell?: UsageCell | null
  cellEpoch?: number
}

/** A key's cells of the current minute: tag, then outcome code. */
type KeyCells = Map<string, Map<string, UsageCell>>

/** Counts of what the memory bound did, for metrics. */
export interface UsageBoundCounts {
  /** Verifications not recorded in analytics: the cell cap was reached. */
  dropped: number
  /** Verifications recorded under `other` instead of their own tag. */
  tagsMerged: number
}

/**
 * Usage counters kept in memory and written in batches: the verify path never writes to the
 * store. A failed write puts its counts back (within the cell cap) so nothing is lost while
 * the store is briefly down.
 */
export class UsageBuffer {
  private keys = new Map<string, UsageEntry>()
  private secrets: SecretSlot[] = []
  /** Cells of the minute `minute`, by key. */
  private current = new Map<string, KeyCells>()
  private minute = -1
  /** Cells of earlier minutes, and cells put back after a failed write. */
  private older: UsageCell[] = []
  /** Cells held now (current and older), against `maxCells`. */
  private cells = 0
  /** Bumped whenever `current` is replaced: slots' remembered cells are stale then. */
  private epoch = 0
  private readonly timer: NodeJS.Timeout
  private flushing: Promise<void> | null = null
  private readonly options: ResolvedUsageOptions
  /** Flushes the store refused, for metrics. */
  failedFlushes = 0
  readonly bound: UsageBoundCounts = { dropped: 0, tagsMerged: 0 }

  constructor(
    private readonly store: Store,
    intervalMs: number,
    private readonly onError: (error: unknown) => void,
    options: ResolvedUsageOptions = resolveUsageOptions(undefined),
  ) {
    this.options = options
    this.timer = setInterval(() => {
      this.flush().catch(this.onError)
    }, intervalMs)
    this.timer.unref()
  }

  /** Cells waiting for the next write. */
  get pendingCells(): number {
    return this.cells
  }

  /**
   * Counts one verification of a known key: `code` is `valid` or the denial's code. A valid
   * one adds to the key's counter; every one raises the secret's last use and, with analytics
   * on, adds to the minute's cell.
   */
  record(
    slot: SecretSlot,
    code: string,
    ip: string | undefined,
    tag: string | undefined,
    nowMs: number,
  ): void {
    const keyId = slot.keyId
    if (nowMs > slot.lastUsedAt) slot.lastUsedAt = nowMs
    if (!slot.pending) {
      slot.pending = true
      this.secrets.push(slot)
    }
    if (code === 'valid') {
      const entry = this.keys.get(keyId)
      if (entry !== undefined) {
        entry.count++
        if (nowMs > entry.lastUsedAt) entry.lastUsedAt = nowMs
      } else {
        this.keys.set(keyId, { keyId, count: 1, lastUsedAt: nowMs })
      }
    }
    if (this.options.analytics) this.count(slot, code, ip, tag ?? '', nowMs)
  }

  private count(
    slot: SecretSlot,
    code: string,
    ip: string | undefined,
    tag: string,
    nowMs: number,
  ): void {
    const minute = nowMs - (nowMs % MINUTE_MS)
    if (minute !== this.minute) {
      // a new minute (or, rarely, a verification stamped before the turn of the minute that
      // ends after it): the open cells go to the write list, the store adds rows up
      this.closeMinute()
      this.minute = minute
    }
    const last = slot.cell
    if (
      last !== undefined &&
      last !== null &&
      slot.cellEpoch === this.epoch &&
      last.code === code &&
      last.tag === tag
    ) {
      last.count++
      if (ip !== undefined) {
        last.lastIp = ip
        if (last.firstIp === null) last.firstIp = ip
      }
      return
    }
    const keyId = slot.keyId
    let byTag = this.current.get(keyId)
    if (byTag === undefined) {
      byTag = new Map()
      this.current.set(keyId, byTag)
    }
    let byCode = byTag.get(tag)
    if (byCode === undefined) {
      if (tag.length > MAX_TAG_LENGTH) tag = tag.slice(0, MAX_TAG_LENGTH)
      // a cut tag may have its cell already: it is not a new tag then
      if (byTag.size >= this.options.maxTagsPerKey && tag !== OTHER_TAG && !byTag.has(tag)) {
        this.bound.tagsMerged++
        tag = OTHER_TAG
      }
      byCode = byTag.get(tag)
      if (byCode === undefined) {
        byCode = new Map()
        byTag.set(tag, byCode)
      }
    }
    let cell = byCode.get(code)
    const address = ip ?? null
    if (cell !== undefined) {
      cell.count++
      if (address !== null) {
        cell.lastIp = address
        if (cell.firstIp === null) cell.firstIp = address
      }
    } else {
      if (this.cells >= this.options.maxCells) {
        this.bound.dropped++
        return
      }
      cell = { keyId, at: this.minute, code, tag, count: 1, firstIp: address, lastIp: address }
      byCode.set(code, cell)
      this.cells++
    }
    slot.cell = cell
    slot.cellEpoch = this.epoch
    if (this.cells >= this.options.flushCells && this.flushing === null)
      this.flush().catch(this.onError)
  }

  /** Moves the current minute's cells to `older`, to be written with the next batch. */
  private closeMinute(): void {
    if (this.current.size === 0) return
    for (const byTag of this.current.values())
      for (const byCode of byTag.values()) for (const cell of byCode.values()) this.older.push(cell)
    this.current = new Map()
    this.epoch++
  }

  async flush(): Promise<void> {
    // one flush at a time, so counts are never written twice
    while (this.flushing !== null) await this.flushing
    this.closeMinute()
    if (this.keys.size === 0 && this.secrets.length === 0 && this.older.length === 0) return
    const keys = this.keys
    const slots = this.secrets
    const cells = this.older
    this.keys = new Map()
    this.secrets = []
    this.older = []
    this.cells = 0
    const secrets: SecretUse[] = slots.map((s) => {
      s.pending = false
      return { keyId: s.keyId, hint: s.hint, lastUsedAt: s.lastUsedAt }
    })
    this.flushing = this.store.recordUsage([...keys.values()], { secrets, cells }).then(
      () => {
        this.flushing = null
        // a batch that filled up during the write goes now, as one filled between writes does
        if (this.cells >= this.options.flushCells) this.flush().catch(this.onError)
      },
      (error: unknown) => {
        this.flushing = null
        this.failedFlushes++
        this.putBack(keys, slots, cells)
        throw error
      },
    )
    await this.flushing
  }

  /** A failed write's counts go back into the buffer; cells only as far as the cap allows. */
  private putBack(keys: Map<string, UsageEntry>, slots: SecretSlot[], cells: UsageCell[]): void {
    for (const e of keys.values()) {
      const current = this.keys.get(e.keyId)
      if (current === undefined) this.keys.set(e.keyId, e)
      else {
        current.count += e.count
        current.lastUsedAt = Math.max(current.lastUsedAt, e.lastUsedAt)
      }
    }
    for (const s of slots) {
      if (!s.pending) {
        s.pending = true
        this.secrets.push(s)
      }
    }
    for (const cell of cells) {
      if (this.cells >= this.options.maxCells) {
        this.bound.dropped += cell.count
        continue
      }
      this.older.push(cell)
      this.cells++
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }
}
