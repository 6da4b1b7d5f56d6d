import { type Clock, systemClock } from '../core/clock.js'
import {
  badOption,
  type CheckedRequest,
  checkPartition,
  checkRequest,
  decisionFromReply,
} from './rules.js'
import type { LimitDecision, LimitRequest, Limiter } from './types.js'

export interface MemoryLimiterOptions {
  /** Where time comes from; tests inject a fake one. Default: `Date.now`. */
  clock?: Clock
  /** How long an admitted decision is remembered per idempotency key. Default 24 h. */
  idempotencyTtlMs?: number
  /** How often expired state is swept out (it is also dropped lazily on access). Default 60 s. */
  sweepIntervalMs?: number
}

/** A memory limiter: the `Limiter` contract plus housekeeping for tests and metrics. */
export interface MemoryLimiter extends Limiter {
  /** Drops every partition and idempotency record that no longer matters; returns how many. */
  sweep(): number
  /** Partitions and idempotency records held, for metrics. */
  size(): { partitions: number; idempotencyRecords: number }
}

interface PartitionState {
  /** Theoretical arrival time per rule field, µs. */
  tats: Map<string, number>
  /** End of the quota period (µs) and credits used in it. */
  quotaResetUs: number
  quotaUsed: number
  /** µs after which nothing in this partition matters any more (the Redis key's TTL). */
  expiresUs: number
}

interface IdempotencyRecord {
  decision: LimitDecision
  expiresUs: number
}

const KNOWN = new Set(['clock', 'idempotencyTtlMs', 'sweepIntervalMs'])

/** Validates a positive integer ms option, naming it in the error. */
export function positiveMs(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw badOption(`"${name}" must be a positive integer, got ${JSON.stringify(value)}`)
  }
  return value
}

/** Throws `invalid_options` for an option name the factory does not know (a typo). */
export function rejectUnknown(options: object, known: ReadonlySet<string>, factory: string): void {
  for (const name of Object.keys(options)) {
    if (!known.has(name)) {
      throw badOption(
        `unknown option "${name}" for ${factory}: expected one of ${[...known].join(', ')}`,
      )
    }
  }
}

/**
 * Runs GCRA for every rule and the fixed-period quota against `state`, charging nothing unless
 * all of them admit the request. Mirrors the Redis Lua script line by line (docs/limits.md);
 * both produce the flat reply of `decisionFromReply`.
 */
export function decide(
  state: PartitionState | undefined,
  req: CheckedRequest,
  nowUs: number,
): { reply: number[]; allowed: boolean } {
  const { rules, quota, cost } = req
  const n = rules.length
  const reply: number[] = new Array(3 + 2 * n + (quota === null ? 0 : 2))
  const tats: number[] = new Array(n)
  let allowed = true
  let ruleRefused = false
  let waitUs = 0
  for (let i = 0; i < n; i++) {
    const rule = rules[i]!
    let tat = state?.tats.get(rule.field) ?? nowUs
    // A TAT beyond now + window cannot come from this rule: it is the state of an older rule
    // of the same name with a longer window. The changed rule starts afresh.
    if (tat < nowUs || tat > nowUs + rule.windowUs) tat = nowUs
    tats[i] = tat
    const next = tat + cost * rule.intervalUs
    if (next - nowUs > rule.windowUs) {
      allowed = false
      ruleRefused = true
      // A cost above the limit never fits: report the window rather than a wait that lies.
      const w =
        cost * rule.intervalUs > rule.windowUs ? rule.windowUs : next - rule.windowUs - nowUs
      if (w > waitUs) waitUs = w
    }
  }
  let quotaResetUs = 0
  let quotaUsed = 0
  if (quota !== null) {
    quotaResetUs = state?.quotaResetUs ?? 0
    quotaUsed = state?.quotaUsed ?? 0
    // The period starts at the first request after the previous one ended (or ever).
    if (quotaResetUs <= nowUs) {
      quotaResetUs = nowUs + quota.periodUs
      quotaUsed = 0
    }
    if (quotaUsed + cost > quota.limit) {
      allowed = false
      const w = quotaResetUs - nowUs
      if (w > waitUs) waitUs = w
    }
  }
  const charge = allowed ? cost : 0
  for (let i = 0; i < n; i++) {
    const rule = rules[i]!
    const ahead = tats[i]! + charge * rule.intervalUs - nowUs
    reply[3 + 2 * i] = Math.floor((rule.windowUs - ahead) / rule.intervalUs)
    reply[4 + 2 * i] = Math.ceil(ahead / 1000)
  }
  if (quota !== null) {
    const left = quota.limit - quotaUsed - charge
    reply[3 + 2 * n] = Math.max(left, 0)
    reply[4 + 2 * n] = Math.ceil((quotaResetUs - nowUs) / 1000)
  }
  reply[0] = allowed ? 1 : 0
  reply[1] = allowed ? 0 : ruleRefused ? 1 : 2
  reply[2] = allowed ? 0 : Math.ceil(waitUs / 1000)
  if (allowed && cost > 0 && state !== undefined) {
    let expiresUs = state.expiresUs
    for (let i = 0; i < n; i++) {
      const rule = rules[i]!
      const tat = tats[i]! + cost * rule.intervalUs
      state.tats.set(rule.field, tat)
      if (tat > expiresUs) expiresUs = tat
    }
    if (quota !== null) {
      state.quotaResetUs = quotaResetUs
      state.quotaUsed = quotaUsed + cost
      if (quotaResetUs > expiresUs) expiresUs = quotaResetUs
    }
    state.expiresUs = expiresUs
  }
  return { reply, allowed }
}

function replay(decision: LimitDecision): LimitDecision {
  return { ...decision, policies: decision.policies.map((p) => ({ ...p })), replayed: true }
}

/**
 * A limiter for one process: GCRA rate limits and fixed-period quotas held in a `Map`.
 * Expired state is dropped lazily on access and by an unref'd sweep timer.
 *
 * @example
 * const limiter = createMemoryLimiter()
 * const d = await limiter.consume({ partition: 'key:key_abc', rules: [{ name: 'default', limit: 100, windowMs: 60_000 }] })
 * if (!d.allowed) console.log(`retry in ${d.retryAfterMs} ms`)
 * @throws KeywardError `invalid_options` naming the bad option
 */
export function createMemoryLimiter(options: MemoryLimiterOptions = {}): MemoryLimiter {
  rejectUnknown(options, KNOWN, 'createMemoryLimiter')
  const clock = options.clock ?? systemClock
  if (typeof clock.now !== 'function') throw badOption('"clock" must have a now() method')
  const idempotencyTtlUs =
    positiveMs(options.idempotencyTtlMs, 'idempotencyTtlMs', 86_400_000) * 1000
  const sweepIntervalMs = positiveMs(options.sweepIntervalMs, 'sweepIntervalMs', 60_000)
  const partitions = new Map<string, PartitionState>()
  const idempotency = new Map<string, IdempotencyRecord>()

  function sweep(): number {
    const nowUs = clock.now() * 1000
    let dropped = 0
    for (const [name, state] of partitions) {
      if (state.expiresUs <= nowUs) {
        partitions.delete(name)
        dropped++
      }
    }
    for (const [name, record] of idempotency) {
      if (record.expiresUs <= nowUs) {
        idempotency.delete(name)
        dropped++
      }
    }
    return dropped
  }

  let timer: NodeJS.Timeout | null = setInterval(sweep, sweepIntervalMs)
  // A limiter must never keep a process alive on its own.
  timer.unref()

  function consumeSync(request: LimitRequest): LimitDecision {
    const req = checkRequest(request)
    if (req.rules.length === 0 && req.quota === null) return { allowed: true, policies: [] }
    const nowUs = (req.nowMs ?? clock.now()) * 1000
    let idempotencyName: string | undefined
    if (req.idempotencyKey !== undefined) {
      idempotencyName = `${req.partition}\n${req.idempotencyKey}`
      const record = idempotency.get(idempotencyName)
      if (record !== undefined) {
        if (record.expiresUs > nowUs) return replay(record.decision)
        idempotency.delete(idempotencyName)
      }
    }
    let state = partitions.get(req.partition)
    if (state !== undefined && state.expiresUs <= nowUs) {
      partitions.delete(req.partition)
      state = undefined
    }
    if (state === undefined && req.cost > 0) {
      // Created before deciding so `decide` can charge it; removed again if refused.
      state = { tats: new Map(), quotaResetUs: 0, quotaUsed: 0, expiresUs: 0 }
      partitions.set(req.partition, state)
    }
    const { reply, allowed } = decide(state, req, nowUs)
    if (state !== undefined && state.expiresUs === 0) partitions.delete(req.partition)
    const decision = decisionFromReply(reply, req.rules, req.quota)
    if (allowed && idempotencyName !== undefined) {
      idempotency.set(idempotencyName, {
        decision: replay(decision),
        expiresUs: nowUs + idempotencyTtlUs,
      })
    }
    return decision
  }

  return {
    kind: 'memory',
    consume(request) {
      try {
        return Promise.resolve(consumeSync(request))
      } catch (error) {
        return Promise.reject(error)
      }
    },
    async reset(partition) {
      partitions.delete(checkPartition(partition))
    },
    async close() {
      if (timer !== null) clearInterval(timer)
      timer = null
      partitions.clear()
      idempotency.clear()
    },
    sweep,
    size: () => ({ partitions: partitions.size, idempotencyRecords: idempotency.size }),
  }
}
