// The verify pipeline (DESIGN.md steps 1-7) with its cache, its limits and usage counting.
import { hash, randomBytes } from 'node:crypto'
import { AuditBuffer, type AuditBufferOptions } from './audit-buffer.js'
import { VerifyCache } from './cache.js'
import type { CacheEntry } from './cache-entry.js'
import type { Clock } from './clock.js'
import { EntryLoader } from './entry-loader.js'
import { KeywardError } from './errors.js'
import type { Hasher } from './hash.js'
import {
  type CredentialShape,
  classifyShape,
  hasValidChecksum,
  keyHint,
  prefixOf,
} from './key-format.js'
import { type LimitPolicy, requestWith } from './limit-policy.js'
import { STORE_RETRY_AFTER_SECONDS, toRetryAfterSeconds } from './retry.js'
import type { FoundKey, LimitDecision, LimitRequest, Store } from './types.js'
import { type ResolvedUsageOptions, UsageBuffer } from './usage.js'
import { type VerifierStats, VerifyCounters } from './verify-stats.js'
import type { VerifyDenial, VerifyOptions, VerifyResult } from './verify-types.js'

/** Settings of the in-process cache; `false` turns it off. */
export type CacheOptions = false | { maxEntries?: number; ttlMs?: number; negativeTtlMs?: number }

export interface VerifierOptions {
  store: Store
  hasher: Hasher
  clock: Clock
  cache: CacheOptions
  allowImported: boolean
  /** Only keys with these prefixes verify; null: any well-formed prefix. */
  acceptPrefixes: ReadonlySet<string> | null
  limits: LimitPolicy | null
  /** Scopes that grant others (`compileImpliedScopes`); null: none. */
  impliedScopes: ReadonlyMap<string, readonly string[]> | null
  usageFlushIntervalMs: number
  /** Denials of known keys as audit events (audit-buffer.ts). */
  audit: Required<AuditBufferOptions>
  usage?: ResolvedUsageOptions
  onError: (error: unknown) => void
}

const INVALID: VerifyDenial = Object.freeze({ ok: false, code: 'key_invalid' })
const MISSING: VerifyDenial = Object.freeze({ ok: false, code: 'key_missing' })

/**
 * The rest of step 2, asked on a cache miss only: a keyward-shaped credential with a wrong
 * checksum is refused before the store (a cached credential was checked on its way in).
 */
function checksumRefused(shape: CredentialShape, credential: string): boolean {
  return shape === 'keyward' && !hasValidChecksum(credential)
}

function checkCacheSetting(value: number, what: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new KeywardError(
      'invalid_options',
      `"cache.${what}" must be a whole number >= ${min}, got ${JSON.stringify(value)}`,
    )
  }
  return value
}

/** Verifies credentials. `Keyward` owns one; see its `verify` for the public description. */
export class Verifier {
  private readonly clock: Clock
  private readonly cache: VerifyCache<CacheEntry> | null
  private readonly allowImported: boolean
  private readonly acceptPrefixes: ReadonlySet<string> | null
  private readonly limits: LimitPolicy | null
  private readonly usage: UsageBuffer
  private readonly denials: AuditBuffer
  private readonly cacheSalt = randomBytes(16).toString('base64')
  private readonly loader: EntryLoader
  /** Bumped where each outcome is decided; read by `stats()`. */
  private readonly counts = new VerifyCounters()

  constructor(options: VerifierOptions) {
    this.clock = options.clock
    this.allowImported = options.allowImported
    this.acceptPrefixes = options.acceptPrefixes
    this.limits = options.limits
    let rolesTtlMs = 0
    if (options.cache === false) {
      this.cache = null
    } else {
      const { maxEntries = 100_000, ttlMs = 30_000, negativeTtlMs = 5_000 } = options.cache
      this.cache = new VerifyCache(
        checkCacheSetting(maxEntries, 'maxEntries', 1),
        checkCacheSetting(ttlMs, 'ttlMs', 1),
        checkCacheSetting(negativeTtlMs, 'negativeTtlMs', 0),
      )
      rolesTtlMs = ttlMs
    }
    this.loader = new EntryLoader(
      options.store,
      options.hasher,
      options.limits,
      options.impliedScopes,
      rolesTtlMs,
    )
    this.denials = new AuditBuffer(options.store, options.audit, options.onError)
    this.usage = new UsageBuffer(
      options.store,
      options.usageFlushIntervalMs,
      options.onError,
      options.usage,
    )
  }

  async verify(
    credential: string | null | undefined,
    options?: VerifyOptions,
  ): Promise<VerifyResult> {
    const shape = this.precheck(credential)
    if (typeof shape === 'object') return shape
    const now = this.clock.now()
    const counts = this.counts
    const cacheKey = this.cache === null ? '' : this.cacheKey(credential as string)
    let entry = this.cache?.get(cacheKey, now)
    if (entry === undefined) {
      if (this.cache !== null) counts.cacheMisses++
      if (checksumRefused(shape, credential as string)) {
        counts.keyInvalid++
        return INVALID
      }
      try {
        entry = await this.load(credential as string, cacheKey, now)
      } catch (error) {
        counts.storeLookupErrors++
        counts.storeUnavailable++
        return {
          ok: false,
          code: 'store_unavailable',
          retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
          cause: error,
        }
      }
    } else if (entry === null) counts.cacheNegativeHits++
    else counts.cacheHits++
    if (entry === null) {
      counts.keyInvalid++
      return INVALID
    }
    // decide() leaves only limited keys undecided, and only with an out-of-process limiter
    return this.decide(entry, options, now) ?? this.limit(entry, entry.limitRequest!, options)
  }

  verifyCached(
    credential: string | null | undefined,
    options?: VerifyOptions,
  ): VerifyResult | undefined {
    const shape = this.precheck(credential)
    if (typeof shape === 'object') return shape
    if (this.cache === null) return undefined
    const now = this.clock.now()
    const entry = this.cache.get(this.cacheKey(credential as string), now)
    // counted only when answered here: `undefined` sends the caller to verify(), which counts
    if (entry === undefined) {
      if (!checksumRefused(shape, credential as string)) return undefined
      this.counts.cacheMisses++
      this.counts.keyInvalid++
      return INVALID
    }
    if (entry === null) {
      this.counts.cacheNegativeHits++
      this.counts.keyInvalid++
      return INVALID
    }
    const result = this.decide(entry, options, now)
    if (result !== undefined) this.counts.cacheHits++
    return result
  }

  /**
   * Steps 4-7 for a key whose secret was verified earlier (a dashboard session signed in with
   * it): the key and that secret (found by `hint` among the key's secrets) are read from the
   * store now, without the cache, so that a revocation, a finished grace period or a removed
   * scope applies to the very next call, on every node. A key or secret that is gone answers
   * `key_invalid`. Never pass an id taken from a request: the caller must hold the proof that
   * the secret was verified.
   */
  async verifyEstablished(
    established: { keyId: string; hint: string },
    options?: VerifyOptions,
  ): Promise<VerifyResult> {
    const now = this.clock.now()
    let entry: CacheEntry | null
    try {
      entry = await this.loader.established(established.keyId, established.hint, now)
    } catch (error) {
      this.counts.storeLookupErrors++
      this.counts.storeUnavailable++
      return {
        ok: false,
        code: 'store_unavailable',
        retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
        cause: error,
      }
    }
    if (entry === null) {
      this.counts.keyInvalid++
      return INVALID
    }
    return this.decide(entry, options, now) ?? this.limit(entry, entry.limitRequest!, options)
  }

  /** The stored key a secret belongs to, under every configured pepper, or null. No cache. */
  findSecret(secret: string): Promise<FoundKey | null> {
    return this.loader.findSecret(secret)
  }

  /** Drops a key's cached state (it was revoked, rotated or changed). */
  evict(keyId: string): void {
    this.cache?.evictKey(keyId)
  }

  /** A key with this secret now exists: forget that it was unknown. */
  secretAdded(secret: string): void {
    this.cache?.forgetNotFound(this.cacheKey(secret))
  }

  /**
   * Drops everything cached: roles changed (any key's effective scopes may have), or changes
   * made elsewhere may have been missed (a change feed reconnected).
   */
  dropAll(): void {
    this.loader.dropRoles()
    this.cache?.clear()
  }

  cacheSize(): { found: number; notFound: number } {
    return this.cache?.size ?? { found: 0, notFound: 0 }
  }

  /**
   * Counts since this verifier was created: outcomes, cache, limiter decisions and store
   * errors. Counting is a field increment per verification; this call builds the snapshot.
   *
   * @example
   * const { outcomes } = keyward.verifier.stats()
   * console.log(outcomes.ok, outcomes.key_invalid)
   */
  stats(): VerifierStats {
    const counts = this.counts.snapshot(this.cacheSize(), this.usage.failedFlushes, {
      dropped: this.usage.bound.dropped,
      tagsMerged: this.usage.bound.tagsMerged,
      pendingCells: this.usage.pendingCells,
    })
    return { ...counts, audit: this.denials.stats() }
  }

  async flush(): Promise<void> {
    await Promise.all([this.usage.flush(), this.denials.flush()])
  }

  async close(): Promise<void> {
    await Promise.all([this.usage.close(), this.denials.close()])
  }

  /**
   * Steps 1-2: missing, then length, alphabet and shape, without store or hashing; the
   * credential's shape when it passes. The checksum is `checksumRefused`, on a cache miss.
   */
  private precheck(
    credential: string | null | undefined,
  ): VerifyDenial | Exclude<CredentialShape, 'invalid'> {
    if (credential === undefined || credential === null) {
      this.counts.keyMissing++
      return MISSING
    }
    const shape = typeof credential === 'string' ? classifyShape(credential) : 'invalid'
    if (
      shape === 'invalid' ||
      (shape === 'opaque' && !this.allowImported) ||
      (shape === 'keyward' &&
        this.acceptPrefixes !== null &&
        !this.acceptPrefixes.has(prefixOf(credential)!))
    ) {
      this.counts.keyInvalid++
      return INVALID
    }
    return shape
  }

  /**
   * The in-process cache is keyed by a salted SHA-256 of the credential (one fast hash, the
   * salt random per process), never by the credential itself; the store is searched by the
   * peppered HMAC only on a miss.
   */
  private cacheKey(credential: string): string {
    return hash('sha256', this.cacheSalt + credential, 'base64url')
  }

  /** `decideSteps`, and a refusal of the known key noted for the audit trail (no I/O). */
  private decide(
    entry: CacheEntry,
    options: VerifyOptions | undefined,
    now: number,
  ): VerifyResult | undefined {
    const result = this.decideSteps(entry, options, now)
    if (result !== undefined && !result.ok)
      this.denials.record(entry.key.id, result.code, options?.ip, now)
    return result
  }

  /** Steps 4-5 on a found key; `undefined` when step 6 (the limiter) must decide. */
  private decideSteps(
    entry: CacheEntry,
    options: VerifyOptions | undefined,
    now: number,
  ): VerifyResult | undefined {
    const { key, secret } = entry
    const counts = this.counts
    if (secret.expiresAt !== null && secret.expiresAt <= now) {
      counts.keyExpired++
      this.recordUsage(entry, 'key_expired', options, now)
      return { ok: false, code: 'key_expired', keyId: key.id }
    }
    if (key.state === 'revoked') {
      counts.keyRevoked++
      this.recordUsage(entry, 'key_revoked', options, now)
      return { ok: false, code: 'key_revoked', keyId: key.id }
    }
    if (key.state === 'disabled') {
      counts.keyDisabled++
      this.recordUsage(entry, 'key_disabled', options, now)
      return { ok: false, code: 'key_disabled', keyId: key.id }
    }
    if (key.expiresAt !== null && key.expiresAt <= now) {
      counts.keyExpired++
      this.recordUsage(entry, 'key_expired', options, now)
      return { ok: false, code: 'key_expired', keyId: key.id }
    }
    if (entry.ips !== null && !entry.ips.allows(options?.ip)) {
      counts.ipNotAllowed++
      this.recordUsage(entry, 'ip_not_allowed', options, now)
      return { ok: false, code: 'ip_not_allowed', keyId: key.id }
    }
    const required = options?.scopes
    if (required !== undefined && required.length > 0) {
      const missingScopes = entry.scopes.missing(required)
      if (missingScopes.length > 0) {
        counts.insufficientScope++
        this.recordUsage(entry, 'insufficient_scope', options, now)
        return { ok: false, code: 'insufficient_scope', keyId: key.id, missingScopes }
      }
    }
    if (entry.limitRequest !== null) {
      const consumeSync = this.limits!.consumeSync
      return consumeSync === null
        ? undefined
        : this.limitSync(entry, entry.limitRequest, options, consumeSync)
    }
    this.recordUsage(entry, 'valid', options, now)
    counts.ok++
    return entry.success
  }

  /** The one place the verify path hands an outcome of a known key to usage counting. */
  private recordUsage(
    entry: CacheEntry,
    code: string,
    options: VerifyOptions | undefined,
    now: number,
  ): void {
    this.usage.record(entry.slot, code, options?.ip, options?.usageTag, now)
  }

  /** Step 6: every limit and the quota in one atomic decision; refused requests charge nothing. */
  private async limit(
    entry: CacheEntry,
    base: Readonly<LimitRequest>,
    options: VerifyOptions | undefined,
  ): Promise<VerifyResult> {
    let decision: LimitDecision
    try {
      decision = await this.limits!.limiter.consume(requestWith(base, options))
    } catch (error) {
      return this.limiterFailed(entry, error, options)
    }
    const result = this.admit(entry, decision, options)
    // the in-process limiter's refusals are noted by `decide`; these are the remote limiter's
    if (!result.ok) this.denials.record(entry.key.id, result.code, options?.ip, this.clock.now())
    return result
  }

  /** Step 6 with an in-process limiter: no promise at all. */
  private limitSync(
    entry: CacheEntry,
    base: Readonly<LimitRequest>,
    options: VerifyOptions | undefined,
    consumeSync: (request: LimitRequest) => LimitDecision,
  ): VerifyResult {
    let decision: LimitDecision
    try {
      decision = consumeSync(requestWith(base, options))
    } catch (error) {
      return this.limiterFailed(entry, error, options)
    }
    return this.admit(entry, decision, options)
  }

  private limiterFailed(
    entry: CacheEntry,
    error: unknown,
    options: VerifyOptions | undefined,
  ): VerifyDenial {
    // a malformed request (e.g. a bad cost) is the caller's bug, not an outage
    if (error instanceof KeywardError && error.code === 'invalid_argument') throw error
    this.counts.limiterRefused('store_unavailable')
    this.recordUsage(entry, 'store_unavailable', options, this.clock.now())
    return {
      ok: false,
      code: 'store_unavailable',
      keyId: entry.key.id,
      retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
      cause: error,
    }
  }

  private admit(
    entry: CacheEntry,
    decision: LimitDecision,
    options: VerifyOptions | undefined,
  ): VerifyResult {
    const counts = this.counts
    if (decision.degraded === true) counts.limiterDegraded++
    if (!decision.allowed) {
      const code = decision.code ?? 'rate_limited'
      this.recordUsage(entry, code, options, this.clock.now())
      counts.limiterRefused(code)
      // a reused Idempotency-Key is refused for good: waiting would not help
      if (code === 'idempotency_key_reused')
        return { ok: false, code, keyId: entry.key.id, rateLimit: decision }
      return {
        ok: false,
        code,
        keyId: entry.key.id,
        retryAfterSeconds: toRetryAfterSeconds(decision.retryAfterMs ?? 1000),
        rateLimit: decision,
      }
    }
    this.recordUsage(entry, 'valid', options, this.clock.now())
    counts.limiterAllowed++
    counts.ok++
    const deprecation = entry.deprecation
    return deprecation === null
      ? { ok: true, key: entry.success.key, rateLimit: decision }
      : { ok: true, key: entry.success.key, rateLimit: decision, deprecation }
  }

  /** Step 3 on a cache miss: the store, by keyed hash; the entry is cached unless stale. */
  private async load(
    credential: string,
    cacheKey: string,
    now: number,
  ): Promise<CacheEntry | null> {
    // read before the lookup: an eviction while it runs makes its answer too old to cache
    const epoch = this.cache?.epoch ?? 0
    const row = await this.loader.findSecret(credential)
    if (row === null) {
      this.cache?.setNotFound(cacheKey, now, epoch)
      return null
    }
    const entry = await this.loader.entryFor(row, keyHint(credential), now)
    this.cache?.set(cacheKey, row.key.id, entry, now, epoch)
    return entry
  }
}
