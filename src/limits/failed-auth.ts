import { clientNetwork } from '../core/ip-address.js'
import { rejectUnknownOptions } from '../core/options.js'
import { createMemoryLimiter, positiveMs } from './memory.js'
import { badOption } from './rules.js'
import type { Limiter, RateLimitRule } from './types.js'

export interface FailedAuthLimiterOptions {
  /**
   * Where failures are counted. Default: a private memory limiter (per process). Pass a Redis
   * limiter to count failures across servers; its partitions (`failed-auth:…`) never meet
   * those of keys (`key:…`, `owner:…`), so failures never charge any key.
   */
  limiter?: Limiter
  /** Failed authentications allowed per client per window before it is blocked. Default 20. */
  limit?: number
  /** Default 60 000 (one minute): with GCRA, one more attempt is earned every windowMs / limit. */
  windowMs?: number
  /**
   * IPv6 clients are counted per network of this many leading bits (default 64, one customer
   * site): a single host can use any address of its /64.
   */
  ipv6PrefixBits?: number
}

/** Whether a client may try to authenticate now. */
export interface FailedAuthCheck {
  blocked: boolean
  /** When blocked: ms until one more attempt is allowed (for Retry-After). */
  retryAfterMs?: number
}

/** Slows down key guessing per client IP, before any store access. */
export interface FailedAuthLimiter {
  /** Is this client blocked? Reads, charges nothing. Unknown address: never blocked. */
  check(ip: string | undefined): Promise<FailedAuthCheck>
  /** `(await check(ip)).blocked` */
  isBlocked(ip: string | undefined): Promise<boolean>
  /** Counts one failed authentication (a `key_invalid`) against the client. */
  recordFailure(ip: string | undefined): Promise<void>
  /** Forgets a client's failures (e.g. after an operator unblocks it). */
  reset(ip: string): Promise<void>
  /** Closes the limiter only if it created it. */
  close(): Promise<void>
}

const KNOWN = new Set(['limiter', 'limit', 'windowMs', 'ipv6PrefixBits'])

/**
 * A per-client-IP limiter on failed authentications: check it before touching the key store,
 * record each `key_invalid`. Too many bad keys from one client -> 429 without a store lookup.
 *
 * @example
 * const failedAuth = createFailedAuthLimiter({ limit: 20, windowMs: 60_000 })
 * const ip = clientIp(req.socket.remoteAddress, req.headers['x-forwarded-for'], trusted)
 * const status = await failedAuth.check(ip)
 * if (status.blocked) return tooManyRequests(status.retryAfterMs)
 * const result = await keyward.verify(credential)
 * if (!result.ok && result.code === 'key_invalid') await failedAuth.recordFailure(ip)
 * @throws KeywardError `invalid_options` naming the bad option
 */
export function createFailedAuthLimiter(options: FailedAuthLimiterOptions = {}): FailedAuthLimiter {
  rejectUnknownOptions(options, KNOWN, 'createFailedAuthLimiter')
  const limit = positiveMs(options.limit, 'limit', 20)
  const windowMs = positiveMs(options.windowMs, 'windowMs', 60_000)
  const bits = options.ipv6PrefixBits ?? 64
  if (!Number.isSafeInteger(bits) || bits < 1 || bits > 128) {
    throw badOption(
      `"ipv6PrefixBits" must be an integer from 1 to 128, got ${JSON.stringify(bits)}`,
    )
  }
  if (options.limiter !== undefined && typeof options.limiter.consume !== 'function') {
    throw badOption('"limiter" must be a Limiter (createMemoryLimiter() or createRedisLimiter())')
  }
  const ownsLimiter = options.limiter === undefined
  const limiter = options.limiter ?? createMemoryLimiter()
  const rules: readonly RateLimitRule[] = Object.freeze([
    Object.freeze({ name: 'failed-auth', limit, windowMs }),
  ])
  const intervalMs = windowMs / limit

  function partitionOf(ip: string | undefined): string | undefined {
    const network = clientNetwork(ip, bits)
    return network === undefined ? undefined : `failed-auth:${network}`
  }

  async function check(ip: string | undefined): Promise<FailedAuthCheck> {
    const partition = partitionOf(ip)
    if (partition === undefined) return { blocked: false }
    const d = await limiter.consume({ partition, rules, cost: 0 })
    const state = d.policies[0]
    // No state: the backend is down under fail-closed. Locking every client out is not this
    // limiter's call; the key limiter's own policy answers those requests.
    if (state === undefined || state.remaining >= 1) return { blocked: false }
    // resetMs is the time until all attempts are back; one is back an emission interval
    // after the bucket falls below full.
    const retryAfterMs = Math.max(1, Math.ceil(state.resetMs - windowMs + intervalMs))
    return { blocked: true, retryAfterMs }
  }

  return {
    check,
    isBlocked: async (ip) => (await check(ip)).blocked,
    async recordFailure(ip) {
      const partition = partitionOf(ip)
      if (partition !== undefined) await limiter.consume({ partition, rules })
    },
    async reset(ip) {
      const partition = partitionOf(ip)
      if (partition !== undefined) await limiter.reset(partition)
    },
    async close() {
      if (ownsLimiter) await limiter.close()
    },
  }
}
