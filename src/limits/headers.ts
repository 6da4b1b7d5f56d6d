import { toRetryAfterSeconds } from '../core/retry.js'
import type { LimitDecision } from './types.js'

/**
 * The IETF rate limit fields of a decision (draft-ietf-httpapi-ratelimit-headers, structured
 * fields syntax), one list item per rule and the quota, in the decision's order:
 * `RateLimit-Policy: "burst";q=20;w=1, "quota";q=10000;w=2592000` and
 * `RateLimit: "burst";r=19;t=1, "quota";r=9999;t=2592000`. Windows and resets are whole seconds,
 * rounded up. Empty when the decision has no policies (nothing limited, or `store_unavailable`).
 *
 * @example
 * const d = await limiter.consume({ partition: `key:${key.id}`, rules: key.rateLimits })
 * for (const [name, value] of Object.entries(rateLimitHeaders(d))) res.setHeader(name, value)
 */
export function rateLimitHeaders(decision: LimitDecision): Record<string, string> {
  const { policies } = decision
  if (policies.length === 0) return {}
  let policy = ''
  let state = ''
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i]!
    const sep = i === 0 ? '' : ', '
    // Names are validated to [a-z0-9_-], so they need no escaping inside the quoted string.
    policy += `${sep}"${p.name}";q=${decimal(p.limit)};w=${decimal(Math.ceil(p.windowMs / 1000))}`
    state += `${sep}"${p.name}";r=${decimal(p.remaining)};t=${decimal(Math.ceil(p.resetMs / 1000))}`
  }
  return { 'ratelimit-policy': policy, ratelimit: state }
}

/** `Retry-After` in whole seconds (rounded up, at least 1) for a refused decision, else undefined. */
export function retryAfterSeconds(decision: LimitDecision): number | undefined {
  if (decision.allowed || decision.retryAfterMs === undefined) return undefined
  return toRetryAfterSeconds(decision.retryAfterMs)
}

// V8 keeps number-to-string conversions in a table in the old generation, so converting a new
// number on every response (`r=` counts down) promotes garbage there: under load that tripled
// scavenge times and added full collections. Joining precomputed 3-digit strings does not.
const SMALL: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i))
const PADDED: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'))

/** `String(n)`, without V8's number-string cache for non-negative safe integers. */
export function decimal(n: number): string {
  if (!(Number.isSafeInteger(n) && n >= 0)) return String(n)
  if (n < 1000) return SMALL[n]!
  let out = PADDED[n % 1000]!
  for (n = Math.floor(n / 1000); n >= 1000; n = Math.floor(n / 1000)) out = PADDED[n % 1000]! + out
  return SMALL[n]! + out
}
