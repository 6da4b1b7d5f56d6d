// The revocation list of a token verifier: key ids whose live tokens must stop counting before
// they expire, fed by the change feed (a key revoked or disabled anywhere is published as a
// revocation through `Keyward.invalidate`).
import type { ChangeListener } from '../core/changes.js'
import { type Clock, systemClock } from '../core/clock.js'
import { KeywardError } from '../core/errors.js'
import { rejectUnknownOptions } from '../core/options.js'
import { MAX_CLOCK_TOLERANCE_SEC, MAX_TOKEN_LIFETIME_SEC } from './limits.js'

/** Options of `createRevocationList`. */
export interface RevocationListOptions {
  /**
   * Where revocations come from: a `Keyward` (it hears its own changes and those of other
   * processes on its change feed), or a `ChangeFeed` (e.g. `createRedisChangeFeed`) for a
   * service that verifies tokens only.
   */
  changes: { subscribe(listener: ChangeListener): () => void }
  /**
   * Tokens issued up to this long after this process heard of a revocation are refused too:
   * the issuer's clock may run ahead of this one. Default 5000 ms (the verifier's default
   * clock tolerance); at most 60 000.
   */
  clockSkewMs?: number
  clock?: Clock
}

/** Revoked key ids, as a token verifier asks about them. */
export interface RevocationList {
  /**
   * True when a token of this key issued at `issuedAtSec` (its `iat`) must be refused: the
   * key was revoked or disabled after the token was issued.
   */
  isRevoked(keyId: string, issuedAtSec: number): boolean
  /** Key ids held (each until every token issued before its revocation has expired). */
  readonly size: number
  /** Stops listening. */
  close(): void
}

const OPTION_NAMES = new Set(['changes', 'clockSkewMs', 'clock'])
/** An entry is kept until the longest-lived token issued before it has expired, with leeway. */
const KEEP_MS = (MAX_TOKEN_LIFETIME_SEC + MAX_CLOCK_TOLERANCE_SEC) * 1000

/**
 * Keeps the ids of keys revoked or disabled while this process listens, so that token
 * verification (`acceptTokens({ revocations })`) refuses their tokens issued before that with
 * `token_revoked`, instead of accepting them until they expire. Each id is kept for an hour
 * (the longest token lifetime) and then dropped, so the list holds at most an hour of
 * revocations. Checking a token costs one `Map` lookup while the list holds anything, and
 * nothing while it is empty.
 *
 * Bounds: a revocation is heard within about a second while the channel is up; revocations
 * made before this process subscribed, or while the channel was lost, are not known: tokens
 * of those keys count until they expire (5 minutes by default), as they would without a list.
 *
 * @example
 * const revocations = createRevocationList({ changes: keyward })
 * const verifier = acceptTokens({ keyward, jwksUrl, issuer, audience, revocations })
 * @throws KeywardError `invalid_options`
 */
export function createRevocationList(options: RevocationListOptions): RevocationList {
  if (options === null || typeof options !== 'object')
    throw new KeywardError('invalid_options', 'createRevocationList needs { changes }')
  rejectUnknownOptions(options, OPTION_NAMES, 'createRevocationList')
  if (typeof options.changes?.subscribe !== 'function')
    throw new KeywardError(
      'invalid_options',
      '"changes" must be a Keyward or a ChangeFeed (anything with subscribe(listener))',
    )
  const skewMs = options.clockSkewMs ?? 5000
  if (!Number.isSafeInteger(skewMs) || skewMs < 0 || skewMs > MAX_CLOCK_TOLERANCE_SEC * 1000)
    throw new KeywardError(
      'invalid_options',
      `"clockSkewMs" must be a whole number of ms from 0 to ${MAX_CLOCK_TOLERANCE_SEC * 1000}, got ${JSON.stringify(skewMs)}`,
    )
  const clock = options.clock ?? systemClock
  /** key id -> the last `iat` (seconds) refused; insertion order is revocation order. */
  const cutoffs = new Map<string, { cutoffSec: number; dropAt: number }>()

  function prune(now: number): void {
    for (const [keyId, entry] of cutoffs) {
      if (entry.dropAt > now) break
      cutoffs.delete(keyId)
    }
  }

  const stop = options.changes.subscribe({
    change(change) {
      if (change.kind !== 'key' || change.revoked !== true) return
      const now = clock.now()
      prune(now)
      // re-inserted at the end, so that the map stays in drop order
      cutoffs.delete(change.keyId)
      cutoffs.set(change.keyId, {
        cutoffSec: Math.floor((now + skewMs) / 1000),
        dropAt: now + skewMs + KEEP_MS,
      })
    },
    // changes may have been missed while the channel was down: nothing to drop, and the
    // tokens of keys revoked meanwhile count until they expire (see above)
    reset() {},
  })

  return {
    isRevoked(keyId, issuedAtSec) {
      if (cutoffs.size === 0) return false
      const entry = cutoffs.get(keyId)
      return entry !== undefined && issuedAtSec <= entry.cutoffSec
    },
    get size() {
      prune(clock.now())
      return cutoffs.size
    },
    close: stop,
  }
}
