// How long to wait before a retry, and which requests may be retried at all: pure rules.

/** Methods whose repetition has the effect of one request (RFC 9110 §9.2.2). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
  'TRACE',
])

/** Methods that get an automatic `Idempotency-Key` (those keyward's servers honour it on). */
export const AUTO_IDEMPOTENCY_METHODS: ReadonlySet<string> = new Set(['POST', 'PATCH'])

/**
 * Whether a request may be sent again after a failure: an idempotent method, or any method
 * carrying an `Idempotency-Key` (the server then treats a repeat as the same operation).
 */
export function isRetryable(method: string, hasIdempotencyKey: boolean): boolean {
  return hasIdempotencyKey || IDEMPOTENT_METHODS.has(method)
}

// RFC 9110 §10.2.3: an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms,
// all starting with a day name) or delta-seconds. Date.parse alone would accept "1.5".
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /i
const DELTA_SECONDS = /^\d+$/

/**
 * The wait a `Retry-After` value asks for, in ms (0 for a date in the past), or `undefined`
 * when it is absent or malformed.
 *
 * @example
 * retryAfterMs('2', Date.now()) // 2000
 * retryAfterMs('Wed, 21 Oct 2037 07:28:00 GMT', Date.now())
 */
export function retryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined
  const text = value.trim()
  if (DELTA_SECONDS.test(text)) return Number(text) * 1000
  if (!HTTP_DATE.test(text)) return undefined
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs)
}

/**
 * "Full jitter" backoff: a uniformly random wait up to `baseDelayMs * 2^retryIndex`, capped
 * at `maxDelayMs`. Spreading retries over the whole interval keeps clients that failed
 * together from retrying together.
 *
 * @param retryIndex 0 before the first retry
 * @param random a number in [0, 1), `Math.random()` by default
 */
export function backoffDelayMs(
  retryIndex: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: number = Math.random(),
): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(retryIndex, 30))
  return Math.floor(random * ceiling)
}
