import type { LimitDecision, LimitRequest, RateLimiter } from '../core/limit-types.js'

export type {
  LimitDecision,
  LimitDenyCode,
  LimitRequest,
  PolicyState,
  QuotaRule,
  RateLimitRule,
} from '../core/limit-types.js'

/**
 * A limiter backend. `consume` is one atomic step: all rules and the quota are judged before any
 * counter moves, so a refused request charges nothing.
 */
export interface Limiter extends RateLimiter {
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
