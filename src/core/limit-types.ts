// The rate-limit contract: the rules a key carries, and the request and decision of a limiter
// backend (src/limits), which the verify pipeline's step 6 is written against.

/** A named rate limit of a key: at most `limit` requests per `windowMs`. */
export interface RateLimitRule {
  name: string
  limit: number
  windowMs: number
}

/** A quota of credits refilled every `periodMs`. */
export interface QuotaRule {
  limit: number
  periodMs: number
}

// Rate limiting (verify step 6): the request and decision of a limiter backend (src/limits).

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
   * The request's `Idempotency-Key`. The first admitted request with it is charged in full and
   * leaves a record (per partition, for `idempotencyTtlMs`) bound to `operation`. A repeat with
   * the same `operation` is a replay: charged to every rate limit (they protect capacity), not
   * to the quota, `replayed: true`. A repeat with another `operation` is refused with
   * `idempotency_key_reused` and charged nothing. Needs `operation`.
   */
  idempotencyKey?: string
  /**
   * What the request does, e.g. `POST /orders` and a hash of its body: required with
   * `idempotencyKey`, ignored without. Only a hash of it is stored (never paths or bodies).
   */
  operation?: string
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

/**
 * Why a request was refused. `store_unavailable` only under the `fail-closed` policy;
 * `idempotency_key_reused` for an `idempotencyKey` already used for another `operation`.
 */
export type LimitDenyCode =
  | 'rate_limited'
  | 'quota_exhausted'
  | 'store_unavailable'
  | 'idempotency_key_reused'

/** The outcome of `consume`: a value, never an exception, for an over-limit request. */
export interface LimitDecision {
  allowed: boolean
  /**
   * Set when refused: `idempotency_key_reused` first, else `rate_limited` when a rate limit
   * refused, else `quota_exhausted`.
   */
  code?: LimitDenyCode
  /** Every rule in request order, then the quota. Empty for `store_unavailable`. */
  policies: PolicyState[]
  /**
   * When refused: ms until the same request can be admitted (every refusing policy allows it).
   * Absent for `idempotency_key_reused`: waiting does not help, a new idempotency key does.
   */
  retryAfterMs?: number
  /**
   * True when admitted as a replay: the idempotency key and operation of an earlier admitted
   * request, charged to the rate limits but not to the quota.
   */
  replayed?: true
  /** True when Redis could not be used and a local memory limiter decided instead. */
  degraded?: true
}

/** What the verify pipeline needs of a limiter: one atomic decision per request. */
export interface RateLimiter {
  consume(request: LimitRequest): Promise<LimitDecision>
  /**
   * The same decision without a promise, for backends that decide in process (memory): lets a
   * cached key with limits be verified synchronously.
   */
  consumeSync?(request: LimitRequest): LimitDecision
}
