import type { Clock } from '../core/clock.js'
import { clientNetwork } from '../core/ip-address.js'
import {
  createFailedAuthLimiter,
  type FailedAuthCheck,
  type FailedAuthLimiter,
  type FailedAuthLimiterOptions,
} from '../limits/failed-auth.js'
import { createMemoryLimiter } from '../limits/memory.js'
import type { FailedAuthOptions } from './options.js'

/** The failed-authentication limiter as the request pipeline uses it. */
export interface FailedAuthGate {
  /**
   * Whether the client may authenticate now: `undefined` when it is known without asking the
   * limiter (no recent failure from its network in this process), else the limiter's answer.
   */
  check(ip: string | undefined): Promise<FailedAuthCheck> | undefined
  /** Counts one failed authentication; errors of the limiter are ignored. */
  record(ip: string | undefined): void
}

const DEFAULT_WINDOW_MS = 60_000
/** Past this many tracked networks, expired entries are swept on the next failure. */
const SWEEP_AT = 10_000
const ignore = () => {}

/**
 * A coarse bucket holding every address the limiter may count together: the IPv4 address, or
 * the network of the first 16 bits of an IPv6 address (never finer than the limiter's
 * networks). Coarser only means more requests ask the limiter; a blocked client never slips
 * through.
 */
function bucketOf(ip: string | undefined, ipv6Bits: number): string | undefined {
  return clientNetwork(ip, Math.min(16, ipv6Bits))
}

/**
 * A gate over a limiter the caller built (`createFailedAuthLimiter`, maybe on Redis and shared
 * with other servers): every request asks it, since failures may come from elsewhere.
 */
function sharedGate(limiter: FailedAuthLimiter): FailedAuthGate {
  return {
    check: (ip) => limiter.check(ip),
    record(ip) {
      limiter.recordFailure(ip).catch(ignore)
    },
  }
}

/**
 * A per-process gate for `{ limit, windowMs }`: its limiter counts only what this gate records,
 * so a client with no failure in the last window cannot be blocked and is let through without
 * a promise (the common case costs one `Map` size check).
 */
function localGate(options: FailedAuthOptions, clock: Clock): FailedAuthGate {
  const limiter = createFailedAuthLimiter({
    limit: options.limit,
    windowMs: options.windowMs,
    ipv6PrefixBits: options.ipv6PrefixBits,
    limiter: createMemoryLimiter({ clock }),
  } as FailedAuthLimiterOptions)
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS
  const ipv6Bits = options.ipv6PrefixBits ?? 64
  /** Network bucket -> epoch ms after which its failures can no longer block it. */
  const recent = new Map<string, number>()

  return {
    check(ip) {
      if (recent.size === 0) return undefined
      const bucket = bucketOf(ip, ipv6Bits)
      if (bucket === undefined) return undefined
      const until = recent.get(bucket)
      if (until === undefined) return undefined
      if (until <= clock.now()) {
        recent.delete(bucket)
        return undefined
      }
      return limiter.check(ip)
    },
    record(ip) {
      const bucket = bucketOf(ip, ipv6Bits)
      if (bucket === undefined) return
      const now = clock.now()
      if (recent.size >= SWEEP_AT && !recent.has(bucket)) {
        for (const [b, until] of recent) if (until <= now) recent.delete(b)
      }
      recent.set(bucket, now + windowMs)
      limiter.recordFailure(ip).catch(ignore)
    },
  }
}

const localGates = new WeakMap<FailedAuthOptions, FailedAuthGate>()

/**
 * The gate for a `failedAuth` option. The same `{ limit, windowMs }` object gives the same
 * gate, so every `requireApiKey` of an app built from one options object shares one count.
 *
 * @throws KeywardError `invalid_options` for a bad limit, window or prefix length
 */
export function failedAuthGate(
  option: FailedAuthOptions | FailedAuthLimiter,
  clock: Clock,
): FailedAuthGate {
  if (typeof (option as FailedAuthLimiter).check === 'function')
    return sharedGate(option as FailedAuthLimiter)
  const simple = option as FailedAuthOptions
  let gate = localGates.get(simple)
  if (gate === undefined) {
    gate = localGate(simple, clock)
    localGates.set(simple, gate)
  }
  return gate
}
