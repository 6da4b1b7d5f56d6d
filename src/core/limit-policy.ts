// Verify step 6's configuration: which limiter decides, whose counters a key uses, and the
// limits of keys that have none of their own.
import { KeywardError } from './errors.js'
import { rejectUnknownOptions } from './options.js'
import type {
  FoundKeyFields,
  LimitDecision,
  LimitRequest,
  QuotaRule,
  RateLimiter,
  RateLimitRule,
} from './types.js'
import { checkPositiveInt, checkRateLimits, isPlainObject } from './validate.js'
import type { VerifyOptions } from './verify-types.js'

/** Rate limits and quotas (verify step 6). */
export interface KeywardLimitsOptions {
  /** The backend: `createMemoryLimiter()` or `createRedisLimiter({ client })` from `keyward/limits`. */
  limiter: RateLimiter
  /** Whose counters a key uses: its own (`key`, default) or its owner's, shared by all their keys. */
  shareBy?: 'key' | 'owner'
  /** Limits of keys that have none of their own. */
  defaultRateLimits?: readonly RateLimitRule[]
  /** Quota of keys that have none of their own. */
  defaultQuota?: QuotaRule | null
}

/** The options after checking, with the limiter's synchronous form when it has one. */
export interface LimitPolicy {
  readonly limiter: RateLimiter
  readonly consumeSync: ((request: LimitRequest) => LimitDecision) | null
  readonly shareBy: 'key' | 'owner'
  readonly defaultRateLimits: readonly RateLimitRule[]
  readonly defaultQuota: QuotaRule | null
}

const LIMITS_OPTIONS: ReadonlySet<string> = new Set([
  'limiter',
  'shareBy',
  'defaultRateLimits',
  'defaultQuota',
])

/**
 * Checks the `limits` option once; null when limits are off.
 *
 * @throws KeywardError `invalid_options` naming the bad setting
 */
export function resolveLimitPolicy(options: KeywardLimitsOptions | undefined): LimitPolicy | null {
  if (options === undefined) return null
  if (!isPlainObject(options) || typeof options.limiter?.consume !== 'function') {
    throw new KeywardError(
      'invalid_options',
      '"limits.limiter" must be a limiter (createMemoryLimiter() or createRedisLimiter({ client }) from keyward/limits)',
    )
  }
  rejectUnknownOptions(options, LIMITS_OPTIONS, 'createKeyward', 'limits.')
  const shareBy = options.shareBy ?? 'key'
  if (shareBy !== 'key' && shareBy !== 'owner') {
    throw new KeywardError(
      'invalid_options',
      `"limits.shareBy" must be "key" or "owner", got ${JSON.stringify(shareBy)}`,
    )
  }
  try {
    const defaultRateLimits = Object.freeze(
      checkRateLimits(options.defaultRateLimits ?? []).map((r) => Object.freeze(r)),
    )
    const q = options.defaultQuota ?? null
    const defaultQuota =
      q === null
        ? null
        : Object.freeze({
            limit: checkPositiveInt(q.limit, 'quota limit'),
            periodMs: checkPositiveInt(q.periodMs, 'quota period'),
          })
    const limiter = options.limiter
    const consumeSync =
      typeof limiter.consumeSync === 'function' ? limiter.consumeSync.bind(limiter) : null
    return Object.freeze({ limiter, consumeSync, shareBy, defaultRateLimits, defaultQuota })
  } catch (error) {
    throw new KeywardError('invalid_options', `"limits": ${(error as Error).message}`)
  }
}

/**
 * A key's limiter request for a plain request (cost 1, no idempotency key), built once per
 * cached key: the partition (`key:<id>` or `owner:<owner>`, never the secret), its rules (or the
 * defaults) and quota. Null when the key has no limits.
 */
export function keyLimitRequest(
  policy: LimitPolicy,
  key: Pick<FoundKeyFields, 'id' | 'ownerId' | 'rateLimits' | 'quota'>,
): Readonly<LimitRequest> | null {
  const rules = key.rateLimits.length > 0 ? key.rateLimits : policy.defaultRateLimits
  const quota = key.quota ?? policy.defaultQuota
  if (rules.length === 0 && quota === null) return null
  const partition =
    policy.shareBy === 'owner' && key.ownerId !== null ? `owner:${key.ownerId}` : `key:${key.id}`
  return Object.freeze({ partition, rules, quota })
}

/** The key's prebuilt request, or a copy with this request's cost and idempotency key. */
export function requestWith(
  base: Readonly<LimitRequest>,
  options: VerifyOptions | undefined,
): LimitRequest {
  if (options?.cost === undefined && options?.idempotencyKey === undefined) return base
  const request: LimitRequest = { ...base }
  if (options?.cost !== undefined) request.cost = options.cost
  if (options?.idempotencyKey !== undefined) request.idempotencyKey = options.idempotencyKey
  return request
}
