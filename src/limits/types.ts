import type { QuotaRule, RateLimitRule } from '../core/types.js'

export type { QuotaRule, RateLimitRule }

/**
 * One decision request: every rate limit of a partition and its quota, judged together.
 *
 * @example
 * const decision = await limiter.consume({
 *   partition: `key:${key.id}`,
 *   rules: [{ name: 'burst', limit: 20, windowMs: 1000 }, { name: 'hour', limit: 1000, windowMs: 3_600_000 }],
 *   quota: { limit: 10_000, periodMs: 30 * 86_400_000 },
 * })
 */
export interface LimitRequest {
  /**
   * Whose counters to use: `key:<key id>` or `owner:<owner id>` (to share one allowance across
   * all keys of an owner). Never the API key itself: it would end up in Redis and in dumps.
   * 1-256 characters, no control characters.
   */
  partition: string
  /** Rate limits, all checked before any of them (or the quota) is charged. */
  rules: readonly RateLimitRule[]
  /** Credits for the period; absent or null: no quota. */
  quota?: QuotaRule | null
  /**
   * Units this request uses, charged to every rule and to the quota. Default 1. `0` reads the
   * state without charging anything.
   */
  cost?: number
  /**
   * The time to decide at, epoch ms. For tests and replays only: the memory backend defaults to
   * its clock, the Redis backend to Redis' own `TIME` so that every server agrees.
   */
  nowMs?: number
  /**
   * The request's `Idempotency-Key`: the first admitted request with this key is charged and
   * its decision remembered (per partition, for `idempotencyTtlMs`); a retry with the same key
   * gets that decision back (`replayed: true`) and is charged nothing.
   */
  idempotencyKey?: string
}

/** The state of one rule or of the quota after a decision. */
export interface PolicyState {
  /** `rate` for a rate limit, `quota` for the credits. */
  kind: 'rate' | 'quota'
  /** The rule's name; `quota` for the quota. */
  name: string
  limit: number
  /** The rule's window, or the quota's period. */
  windowMs: number
  /** Units a request could still use right now (after this decision was charged). */
  remaining: number
  /** Ms until `remaining` is back to `limit` (rate), or until the period ends (quota). */
  resetMs: number
}

/** Why a request was refused. `store_unavailable` only under the `fail-closed` policy. */
export type LimitDenyCode = 'rate_limited' | 'quota_exhausted' | 'store_unavailable'

/** The outcome of `consume`: a value, never an exception, for an over-limit request. */
export interface LimitDecision {
  allowed: boolean
  /** Set when refused: `rate_limited` when a rate limit refused, else `quota_exhausted`. */
  code?: LimitDenyCode
  /** Every rule in request order, then the quota. Empty for `store_unavailable`. */
  policies: PolicyState[]
  /** When refused: ms until the same request can be admitted (every refusing policy allows it). */
  retryAfterMs?: number
  /** True when an earlier decision was returned for the same idempotency key. */
  replayed?: true
  /** True when Redis could not be used and a local memory limiter decided instead. */
  degraded?: true
}

/**
 * A limiter backend. `consume` is one atomic step: all rules and the quota are judged before any
 * counter moves, so a refused request charges nothing.
 */
export interface Limiter {
  /** `memory` or `redis`, for logs and health. */
  readonly kind: string
  /**
   * Decides and charges in one atomic step.
   * @throws KeywardError `invalid_argument` for a malformed request (a caller bug)
   */
  consume(request: LimitRequest): Promise<LimitDecision>
  /** Forgets every counter of a partition (its idempotency records stay until they expire). */
  reset(partition: string): Promise<void>
  /** Stops timers. Never closes a client the caller passed in. */
  close(): Promise<void>
}

/** Where limiters report outages and recoveries. `console` fits; so does a pino logger. */
export interface LimiterLogger {
  warn(message: string): void
}
