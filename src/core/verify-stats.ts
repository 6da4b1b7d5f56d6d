// What the verify pipeline counts, for metrics. The verifier bumps plain number fields at the
// line where each outcome is decided: no map, no string key, no allocation per verification.
// A metrics exporter (src/server/metrics) copies them at scrape time with `snapshot()`.

/** Verifications by outcome code: `ok`, or the denial's code. */
export interface VerifyOutcomeCounts {
  ok: number
  key_missing: number
  key_invalid: number
  key_revoked: number
  key_expired: number
  key_disabled: number
  ip_not_allowed: number
  insufficient_scope: number
  rate_limited: number
  quota_exhausted: number
  idempotency_key_reused: number
  store_unavailable: number
}

/** Counts since the verifier was created (monotonic), plus the cache's current size. */
export interface VerifierStats {
  /**
   * One count per verification that reached a decision, by outcome. `key_ambiguous` and
   * `headers_truncated` are refused by the HTTP layer before verification and are not here.
   */
  outcomes: VerifyOutcomeCounts
  cache: {
    /** Found in the cache (a key). */
    hits: number
    /** Found in the cache as "not found" (an unknown key asked again). */
    negativeHits: number
    /** Not cached: the store was asked (or the checksum refused it first). */
    misses: number
    /** Entries now: keys, and credentials remembered as unknown. */
    entries: { found: number; notFound: number }
  }
  /** Decisions of the rate limiter (verify step 6), for keys with limits. */
  limiter: {
    allowed: number
    rate_limited: number
    quota_exhausted: number
    idempotency_key_reused: number
    /** The limiter's backend failed (a thrown error, or a fail-closed decision). */
    store_unavailable: number
    /** Decided by the local fallback because Redis was unreachable (allowed or not). */
    degraded: number
  }
  /**
   * Denials of known keys kept for the audit trail (core/audit-buffer.ts): `dropped` denials
   * that found the buffer full, `failedFlushes` writes refused (retried), `pending` events now.
   * Absent from a bare `VerifyCounters.snapshot()`; the verifier always sets it.
   */
  audit?: { dropped: number; failedFlushes: number; pending: number }
  /** Failures of the key store seen by verification. */
  storeErrors: {
    /** A lookup failed: the verification answered `store_unavailable`. */
    lookup: number
    /** A batched usage write failed (its counts are kept and retried). */
    usageFlush: number
  }
  /** Usage analytics' memory bound (src/core/usage.ts). */
  usage: {
    /** Verifications not recorded in analytics because the cell cap was reached. */
    dropped: number
    /** Verifications recorded under the tag `other`: their key had too many tags that minute. */
    tagsMerged: number
    /** Cells waiting for the next write now. */
    pendingCells: number
  }
}

/** The verifier's counters. Fields are bumped in place; read them through `snapshot`. */
export class VerifyCounters {
  ok = 0
  keyMissing = 0
  keyInvalid = 0
  keyRevoked = 0
  keyExpired = 0
  keyDisabled = 0
  ipNotAllowed = 0
  insufficientScope = 0
  rateLimited = 0
  quotaExhausted = 0
  idempotencyKeyReused = 0
  storeUnavailable = 0
  cacheHits = 0
  cacheNegativeHits = 0
  cacheMisses = 0
  limiterAllowed = 0
  limiterRateLimited = 0
  limiterQuotaExhausted = 0
  limiterIdempotencyKeyReused = 0
  limiterStoreUnavailable = 0
  limiterDegraded = 0
  storeLookupErrors = 0

  /** A refusal by the limiter (step 6), counted as the limiter's and as the outcome's. */
  limiterRefused(code: string): void {
    // a switch on the few refusal codes, on refusals only: no lookup on the admitted path
    switch (code) {
      case 'rate_limited':
        this.limiterRateLimited++
        this.rateLimited++
        break
      case 'quota_exhausted':
        this.limiterQuotaExhausted++
        this.quotaExhausted++
        break
      case 'idempotency_key_reused':
        this.limiterIdempotencyKeyReused++
        this.idempotencyKeyReused++
        break
      case 'store_unavailable':
        this.limiterStoreUnavailable++
        this.storeUnavailable++
        break
    }
  }

  snapshot(
    entries: { found: number; notFound: number },
    usageFlushErrors: number,
    usage: VerifierStats['usage'] = { dropped: 0, tagsMerged: 0, pendingCells: 0 },
  ): VerifierStats {
    return {
      outcomes: {
        ok: this.ok,
        key_missing: this.keyMissing,
        key_invalid: this.keyInvalid,
        key_revoked: this.keyRevoked,
        key_expired: this.keyExpired,
        key_disabled: this.keyDisabled,
        ip_not_allowed: this.ipNotAllowed,
        insufficient_scope: this.insufficientScope,
        rate_limited: this.rateLimited,
        quota_exhausted: this.quotaExhausted,
        idempotency_key_reused: this.idempotencyKeyReused,
        store_unavailable: this.storeUnavailable,
      },
      cache: {
        hits: this.cacheHits,
        negativeHits: this.cacheNegativeHits,
        misses: this.cacheMisses,
        entries: { found: entries.found, notFound: entries.notFound },
      },
      limiter: {
        allowed: this.limiterAllowed,
        rate_limited: this.limiterRateLimited,
        quota_exhausted: this.limiterQuotaExhausted,
        idempotency_key_reused: this.limiterIdempotencyKeyReused,
        store_unavailable: this.limiterStoreUnavailable,
        degraded: this.limiterDegraded,
      },
      storeErrors: { lookup: this.storeLookupErrors, usageFlush: usageFlushErrors },
      usage,
    }
  }
}
