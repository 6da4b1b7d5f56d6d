// When a refused caller may try again: the one rule for `Retry-After` values.

/** Seconds to wait when the key store or the limiter's backend cannot be reached. */
export const STORE_RETRY_AFTER_SECONDS = 5

/**
 * `Retry-After` delta seconds for a wait in ms: whole seconds rounded up, at least 1 (a
 * `Retry-After: 0` invites an immediate retry that is refused again).
 *
 * @example
 * toRetryAfterSeconds(1200) // 2
 */
export function toRetryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000))
}
