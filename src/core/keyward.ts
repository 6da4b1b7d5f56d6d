import { hash, randomBytes, timingSafeEqual } from 'node:crypto'
import { randomBase62 } from './base62.js'
import { VerifyCache } from './cache.js'
import { type Clock, systemClock } from './clock.js'
import { type DenyCode, KeywardError } from './errors.js'
import { createHasher, type Hasher, type Pepper } from './hash.js'
import { assertValidIpEntry, compileIpAllowlist, type IpAllowlist } from './ip.js'
import {
  assertValidPrefix,
  type CredentialShape,
  classifyCredential,
  classifyShape,
  DEFAULT_PREFIX,
  generateKey,
  generateKeyId,
  hasValidChecksum,
  isKeyId,
  keyHint,
  MAX_CREDENTIAL_LENGTH,
  MIN_IMPORTED_LENGTH,
  prefixOf,
} from './key-format.js'
import { rejectUnknownOptions } from './options.js'
import {
  assertValidRole,
  assertValidScope,
  compileScopes,
  expandRoles,
  type ScopeSet,
} from './scopes.js'
import type {
  AuditEvent,
  AuditQuery,
  FoundKey,
  KeyPage,
  KeyPatch,
  KeyRecord,
  KeyStatusFilter,
  LimitDecision,
  LimitRequest,
  QuotaRule,
  RateLimiter,
  RateLimitRule,
  SecretRecord,
  Store,
} from './types.js'
import { UsageBuffer } from './usage.js'

/** What a successful verification tells the caller about the key. Never the secret. */
export interface VerifiedKey {
  readonly id: string
  readonly name: string
  readonly ownerId: string | null
  readonly prefix: string
  readonly hint: string
  /** Effective scopes: the key's own plus those of its roles. */
  readonly scopes: readonly string[]
  readonly roles: readonly string[]
  readonly metadata: Readonly<Record<string, unknown>>
  readonly expiresAt: number | null
  readonly rateLimits: readonly RateLimitRule[]
  readonly quota: QuotaRule | null
}

export interface VerifySuccess {
  readonly ok: true
  readonly key: VerifiedKey
  /** The limiter's decision when the key has limits (for the `RateLimit` header fields). */
  readonly rateLimit?: LimitDecision
}

export interface VerifyDenial {
  readonly ok: false
  readonly code: DenyCode
  /** Set once the key is known (revoked, expired, missing scope…); never for unknown keys. */
  readonly keyId?: string
  /** For `insufficient_scope`: the required scopes the key lacks. */
  readonly missingScopes?: readonly string[]
  /** For `store_unavailable` and limits: when to try again. */
  readonly retryAfterSeconds?: number
  /** For `store_unavailable`: the backend error, for logs (never shown to callers). */
  readonly cause?: unknown
  /** For `rate_limited` / `quota_exhausted`: the limiter's decision. */
  readonly rateLimit?: LimitDecision
}

/** Outcome of `verify()`: denials are values, not exceptions. */
export type VerifyResult = VerifySuccess | VerifyDenial

export interface VerifyOptions {
  /** Scopes the request needs; all must be granted. */
  scopes?: readonly string[]
  /** Client address, checked against the key's IP allowlist. */
  ip?: string
  /** Units this request uses from the key's limits and quota. Default 1. */
  cost?: number
  /** The request's `Idempotency-Key`: a retried request is charged once. */
  idempotencyKey?: string
}

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

export interface KeywardOptions {
  store: Store
  /** Peppers (the newest signs new secrets) or a ready hasher. */
  peppers: readonly Pepper[] | Hasher
  clock?: Clock
  /** In-process verification cache; `false` turns it off. */
  cache?: false | { maxEntries?: number; ttlMs?: number; negativeTtlMs?: number }
  /** Accept imported (non-keyward) secrets such as UUIDs. Default true. */
  allowImported?: boolean
  /** Only keys with these prefixes verify; default: any well-formed prefix. */
  acceptPrefixes?: readonly string[]
  /** How often usage counters are written to the store. Default 10 s. */
  usageFlushIntervalMs?: number
  /** Called with errors of background work (usage flush); default: ignored. */
  onError?: (error: unknown) => void
  /** Called after a key's cached state was evicted, so other nodes can be told. */
  onInvalidate?: (keyId: string) => void | Promise<void>
  /** Rate limits and quotas, checked after scopes; off when absent. */
  limits?: KeywardLimitsOptions
}

/** Input of `createKey` and `importKey`. */
export interface CreateKeyInput {
  name: string
  ownerId?: string | null
  scopes?: readonly string[]
  roles?: readonly string[]
  /** Absolute expiry, epoch ms; or `expiresInMs` from now. */
  expiresAt?: number | null
  expiresInMs?: number
  rateLimits?: readonly RateLimitRule[]
  quota?: QuotaRule | null
  metadata?: Record<string, unknown>
  ipAllowlist?: readonly string[]
  prefix?: string
  /** Who did it, for the audit trail (a key id, "cli", …). */
  actor?: string
}

export type UpdateKeyInput = Partial<
  Pick<
    CreateKeyInput,
    | 'name'
    | 'ownerId'
    | 'scopes'
    | 'roles'
    | 'expiresAt'
    | 'rateLimits'
    | 'quota'
    | 'metadata'
    | 'ipAllowlist'
  >
> & { enabled?: boolean; actor?: string }

export interface CreatedKey {
  /** The secret: shown once, never stored. */
  key: string
  record: KeyRecord
}

interface CacheEntry {
  key: FoundKey['key']
  secret: FoundKey['secret']
  scopes: ScopeSet
  ips: IpAllowlist | null
  success: VerifySuccess
  /**
   * Step 6 for a plain request (cost 1, no idempotency key), built once: the partition
   * (`key:<id>` or `owner:<owner>`, never the secret), rules and quota. Null when the key has
   * no limits or no limiter is configured.
   */
  limitRequest: Readonly<LimitRequest> | null
}

const INVALID: VerifyDenial = Object.freeze({ ok: false, code: 'key_invalid' })
const MISSING: VerifyDenial = Object.freeze({ ok: false, code: 'key_missing' })
const MAX_NAME = 200
const MAX_METADATA_BYTES = 4096
const RULE_NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/
const MAX_PAGE = 1000

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.getPrototypeOf(v) === Object.prototype
  )
}

function bad(message: string): KeywardError {
  return new KeywardError('invalid_argument', message)
}

function checkText(value: unknown, what: string): string {
  if (
    typeof value !== 'string' ||
    value.trim() === '' ||
    value.length > MAX_NAME ||
    /[\u0000-\u001f\u007f]/.test(value)
  ) {
    throw bad(`${what} must be 1-${MAX_NAME} printable characters, got ${JSON.stringify(value)}`)
  }
  return value.trim()
}

function checkPositiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw bad(`${what} must be a positive whole number, got ${JSON.stringify(value)}`)
  }
  return value
}

function checkRateLimits(rules: readonly RateLimitRule[]): RateLimitRule[] {
  const seen = new Set<string>()
  return rules.map((r) => {
    if (typeof r.name !== 'string' || !RULE_NAME_RE.test(r.name)) {
      throw bad(
        `rate limit name ${JSON.stringify(r.name)} is not valid: use lowercase letters, digits, "_" or "-", starting with a letter`,
      )
    }
    if (seen.has(r.name))
      throw bad(
        `rate limit "${r.name}" is given twice: give each limit its own name (e.g. burst=20/1s, hour=1000/1h)`,
      )
    seen.add(r.name)
    return {
      name: r.name,
      limit: checkPositiveInt(r.limit, `rate limit "${r.name}" limit`),
      windowMs: checkPositiveInt(r.windowMs, `rate limit "${r.name}" window`),
    }
  })
}

function checkMetadata(metadata: unknown): Record<string, unknown> {
  if (!isPlainObject(metadata)) throw bad('metadata must be a JSON object')
  const text = JSON.stringify(metadata)
  if (Buffer.byteLength(text) > MAX_METADATA_BYTES) {
    throw bad(
      `metadata is ${Buffer.byteLength(text)} bytes as JSON: keep it under ${MAX_METADATA_BYTES} bytes`,
    )
  }
  // PostgreSQL's jsonb cannot hold NUL, so no store may: refuse it here for every backend alike
  if (text.includes('\\u0000')) throw bad('metadata must not contain the NUL character (\\u0000)')
  return JSON.parse(text) as Record<string, unknown>
}

// Verified keys are shared by every request that hits the same cache entry: freeze what a
// handler could reach, so one request cannot change what the next one sees.
/**
 * The rest of step 2, asked on a cache miss only: a keyward-shaped credential with a wrong
 * checksum is refused before the store (a cached credential was checked on its way in).
 */
function checksumRefused(shape: CredentialShape, credential: string): boolean {
  return shape === 'keyward' && !hasValidChecksum(credential)
}

function freezeVerified(key: VerifiedKey): VerifiedKey {
  Object.freeze(key.scopes)
  Object.freeze(key.roles)
  for (const rule of key.rateLimits) Object.freeze(rule)
  Object.freeze(key.rateLimits)
  if (key.quota !== null) Object.freeze(key.quota)
  Object.freeze(key.metadata)
  return Object.freeze(key)
}

const KEYWARD_OPTIONS: ReadonlySet<string> = new Set([
  'store',
  'peppers',
  'clock',
  'cache',
  'allowImported',
  'acceptPrefixes',
  'usageFlushIntervalMs',
  'onError',
  'onInvalidate',
  'limits',
])
const LIMITS_OPTIONS: ReadonlySet<string> = new Set([
  'limiter',
  'shareBy',
  'defaultRateLimits',
  'defaultQuota',
])

interface ResolvedLimits {
  limiter: RateLimiter
  consumeSync: ((request: LimitRequest) => LimitDecision) | null
  shareBy: 'key' | 'owner'
  defaultRateLimits: readonly RateLimitRule[]
  defaultQuota: QuotaRule | null
}

function resolveLimits(options: KeywardLimitsOptions | undefined): ResolvedLimits | null {
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
    return { limiter, consumeSync, shareBy, defaultRateLimits, defaultQuota }
  } catch (error) {
    throw new KeywardError('invalid_options', `"limits": ${(error as Error).message}`)
  }
}

/** The key's prebuilt request, or a copy with this request's cost and idempotency key. */
function limitRequest(
  base: Readonly<LimitRequest>,
  options: VerifyOptions | undefined,
): LimitRequest {
  if (options?.cost === undefined && options?.idempotencyKey === undefined) return base
  const request: LimitRequest = { ...base }
  if (options?.cost !== undefined) request.cost = options.cost
  if (options?.idempotencyKey !== undefined) request.idempotencyKey = options.idempotencyKey
  return request
}

/** Constant-time string equality for stored check values. */
function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * The keyward library: create, verify, rotate and revoke keys on any `Store`.
 * Verifies that the configured peppers match the ones the store's secrets were hashed with.
 *
 * @example
 * const store = createSqliteStore({ db: new Database('keyward.db') })
 * await store.migrate()
 * const keyward = await createKeyward({ store, peppers: [{ version: 1, secret: process.env.KEYWARD_PEPPER! }] })
 * const { key } = await keyward.createKey({ name: 'billing', scopes: ['orders:read'] })
 * const result = await keyward.verify(key, { scopes: ['orders:read'] })
 * if (result.ok) console.log(result.key.id)
 * @throws KeywardError `invalid_options`, `pepper_mismatch`, `store_unavailable`
 */
export async function createKeyward(options: KeywardOptions): Promise<Keyward> {
  const keyward = new Keyward(options)
  await keyward.checkPeppers()
  return keyward
}

/** See `createKeyward`. */
export class Keyward {
  readonly store: Store
  readonly hasher: Hasher
  private readonly clock: Clock
  private readonly cache: VerifyCache<CacheEntry> | null
  private readonly allowImported: boolean
  private readonly acceptPrefixes: ReadonlySet<string> | null
  private readonly usage: UsageBuffer
  private readonly onInvalidate: ((keyId: string) => void | Promise<void>) | undefined
  private readonly limits: ResolvedLimits | null
  private readonly cacheSalt = randomBytes(16).toString('base64')
  private roles: Map<string, string[]> | null = null
  private rolesLoadedAt = 0
  private readonly rolesTtlMs: number

  /** Prefer `createKeyward`, which also checks the peppers against the store. */
  constructor(options: KeywardOptions) {
    rejectUnknownOptions(options, KEYWARD_OPTIONS, 'createKeyward')
    if (!options.store || typeof options.store.findByHash !== 'function') {
      throw new KeywardError(
        'invalid_options',
        '"store" must be a keyward Store (e.g. createSqliteStore({ db }))',
      )
    }
    this.store = options.store
    this.hasher =
      'hash' in options.peppers
        ? options.peppers
        : createHasher(options.peppers as readonly Pepper[])
    this.clock = options.clock ?? systemClock
    this.allowImported = options.allowImported ?? true
    if (options.acceptPrefixes) for (const p of options.acceptPrefixes) assertValidPrefix(p)
    this.acceptPrefixes = options.acceptPrefixes ? new Set(options.acceptPrefixes) : null
    const cache = options.cache ?? {}
    if (cache === false) {
      this.cache = null
      this.rolesTtlMs = 0
    } else {
      const maxEntries = cache.maxEntries ?? 100_000
      const ttlMs = cache.ttlMs ?? 30_000
      const negativeTtlMs = cache.negativeTtlMs ?? 5_000
      checkPositiveInt(maxEntries, '"cache.maxEntries"')
      checkPositiveInt(ttlMs, '"cache.ttlMs"')
      if (!Number.isSafeInteger(negativeTtlMs) || negativeTtlMs < 0) {
        throw new KeywardError(
          'invalid_options',
          `"cache.negativeTtlMs" must be a whole number >= 0, got ${negativeTtlMs}`,
        )
      }
      this.cache = new VerifyCache(maxEntries, ttlMs, negativeTtlMs)
      this.rolesTtlMs = ttlMs
    }
    this.onInvalidate = options.onInvalidate
    this.limits = resolveLimits(options.limits)
    this.usage = new UsageBuffer(
      this.store,
      options.usageFlushIntervalMs ?? 10_000,
      options.onError ?? (() => {}),
    )
  }

  /**
   * Refuses to run with a pepper other than the one the store's secrets were hashed with:
   * a wrong pepper would silently verify nothing.
   *
   * @throws KeywardError `pepper_mismatch`, `store_unavailable`
   */
  async checkPeppers(): Promise<void> {
    for (const version of this.hasher.versions) {
      const expected = this.hasher.checkValue(version)
      const stored = await this.store.setMetaIfAbsent(`pepper_check_v${version}`, expected)
      if (!sameText(stored, expected)) {
        throw new KeywardError(
          'pepper_mismatch',
          `the pepper v${version} configured here is not the one this ${this.store.kind} store was created with, so no stored key could verify: set KEYWARD_PEPPER or KEYWARD_PEPPER_FILE to the original pepper`,
        )
      }
    }
    const used = await this.store.pepperVersions()
    const missing = used.filter((v) => !this.hasher.versions.includes(v))
    if (missing.length > 0) {
      throw new KeywardError(
        'pepper_mismatch',
        `this store holds secrets hashed with pepper ${missing.map((v) => `v${v}`).join(', ')}, which is not configured: add it to KEYWARD_PEPPER as "v${missing[0]}:<secret>" next to the newer one`,
      )
    }
  }

  /**
   * Verifies a credential: shape and checksum (no store access), cache, store lookup by keyed
   * hash, status, IP allowlist, scopes, then rate limits and quota. Never throws for a bad key.
   *
   * @example
   * const r = await keyward.verify(req.headers['x-api-key'], { scopes: ['orders:read'] })
   * if (!r.ok) return deny(r.code)
   */
  async verify(
    credential: string | null | undefined,
    options?: VerifyOptions,
  ): Promise<VerifyResult> {
    const shape = this.precheck(credential)
    if (typeof shape === 'object') return shape
    const now = this.clock.now()
    const cacheKey = this.cache === null ? '' : this.cacheKey(credential as string)
    let entry = this.cache?.get(cacheKey, now)
    if (entry === undefined) {
      if (checksumRefused(shape, credential as string)) return INVALID
      try {
        entry = await this.load(credential as string, cacheKey, now)
      } catch (error) {
        return { ok: false, code: 'store_unavailable', retryAfterSeconds: 5, cause: error }
      }
    }
    if (entry === null) return INVALID
    // decide() leaves only limited keys undecided, and only with an out-of-process limiter
    return this.decide(entry, options, now) ?? this.limit(entry, entry.limitRequest!, options)
  }

  /**
   * The synchronous part of `verify`: answers from the cache (and an in-process limiter such as
   * the memory one) alone, or returns `undefined` when the store or an out-of-process limiter
   * must be asked (then call `verify`, which charges nothing twice: `undefined` charged nothing). Lets adapters skip promises on
   * the hot path; the result is the one `verify` would give.
   *
   * @example
   * const r = keyward.verifyCached(credential, { scopes }) ?? (await keyward.verify(credential, { scopes }))
   */
  verifyCached(
    credential: string | null | undefined,
    options?: VerifyOptions,
  ): VerifyResult | undefined {
    const shape = this.precheck(credential)
    if (typeof shape === 'object') return shape
    if (this.cache === null) return undefined
    const now = this.clock.now()
    const entry = this.cache.get(this.cacheKey(credential as string), now)
    if (entry === undefined)
      return checksumRefused(shape, credential as string) ? INVALID : undefined
    if (entry === null) return INVALID
    return this.decide(entry, options, now)
  }

  /**
   * Steps 1-2: missing, then length, alphabet and shape, without store or hashing; the
   * credential's shape when it passes. The checksum is `checksumRefused`, on a cache miss.
   */
  private precheck(
    credential: string | null | undefined,
  ): VerifyDenial | Exclude<CredentialShape, 'invalid'> {
    if (credential === undefined || credential === null) return MISSING
    if (typeof credential !== 'string') return INVALID
    const shape = classifyShape(credential)
    if (shape === 'invalid' || (shape === 'opaque' && !this.allowImported)) return INVALID
    if (
      shape === 'keyward' &&
      this.acceptPrefixes !== null &&
      !this.acceptPrefixes.has(prefixOf(credential)!)
    ) {
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

  /** Steps 4-5 on a found key; `undefined` when step 6 (the limiter) must decide. */
  private decide(
    entry: CacheEntry,
    options: VerifyOptions | undefined,
    now: number,
  ): VerifyResult | undefined {
    const { key, secret } = entry
    if (secret.expiresAt !== null && secret.expiresAt <= now)
      return { ok: false, code: 'key_expired', keyId: key.id }
    if (key.state === 'revoked') return { ok: false, code: 'key_revoked', keyId: key.id }
    if (key.state === 'disabled') return { ok: false, code: 'key_disabled', keyId: key.id }
    if (key.expiresAt !== null && key.expiresAt <= now)
      return { ok: false, code: 'key_expired', keyId: key.id }
    if (entry.ips !== null && !entry.ips.allows(options?.ip))
      return { ok: false, code: 'ip_not_allowed', keyId: key.id }
    const required = options?.scopes
    if (required !== undefined && required.length > 0) {
      const missingScopes = entry.scopes.missing(required)
      if (missingScopes.length > 0)
        return { ok: false, code: 'insufficient_scope', keyId: key.id, missingScopes }
    }
    if (entry.limitRequest !== null) {
      const consumeSync = this.limits!.consumeSync
      return consumeSync === null
        ? undefined
        : this.limitSync(entry, entry.limitRequest, options, consumeSync)
    }
    this.usage.record(key.id, now)
    return entry.success
  }

  /** Step 6: every limit and the quota in one atomic decision; refused requests charge nothing. */
  private async limit(
    entry: CacheEntry,
    base: Readonly<LimitRequest>,
    options: VerifyOptions | undefined,
  ): Promise<VerifyResult> {
    let decision: LimitDecision
    try {
      decision = await this.limits!.limiter.consume(limitRequest(base, options))
    } catch (error) {
      return this.limiterFailed(entry, error)
    }
    return this.admit(entry, decision)
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
      decision = consumeSync(limitRequest(base, options))
    } catch (error) {
      return this.limiterFailed(entry, error)
    }
    return this.admit(entry, decision)
  }

  private limiterFailed(entry: CacheEntry, error: unknown): VerifyDenial {
    // a malformed request (e.g. a bad cost) is the caller's bug, not an outage
    if (error instanceof KeywardError && error.code === 'invalid_argument') throw error
    return {
      ok: false,
      code: 'store_unavailable',
      keyId: entry.key.id,
      retryAfterSeconds: 5,
      cause: error,
    }
  }

  private admit(entry: CacheEntry, decision: LimitDecision): VerifyResult {
    if (!decision.allowed) {
      const retryAfterSeconds = Math.max(1, Math.ceil((decision.retryAfterMs ?? 1000) / 1000))
      return {
        ok: false,
        code: decision.code ?? 'rate_limited',
        keyId: entry.key.id,
        retryAfterSeconds,
        rateLimit: decision,
      }
    }
    this.usage.record(entry.key.id, this.clock.now())
    return { ok: true, key: entry.success.key, rateLimit: decision }
  }

  private async load(
    credential: string,
    cacheKey: string,
    now: number,
  ): Promise<CacheEntry | null> {
    const row = await this.findSecret(credential)
    if (row === null) {
      this.cache?.setNotFound(cacheKey, now)
      return null
    }
    const roles = row.key.roles.length > 0 ? await this.roleDefinitions(now) : null
    const scopes =
      roles === null ? row.key.scopes : expandRoles(row.key.scopes, row.key.roles, roles)
    const verified: VerifiedKey = freezeVerified({
      id: row.key.id,
      name: row.key.name,
      ownerId: row.key.ownerId,
      prefix: row.key.prefix,
      hint: keyHint(credential),
      scopes,
      roles: row.key.roles,
      metadata: row.key.metadata,
      expiresAt: row.key.expiresAt,
      rateLimits: row.key.rateLimits,
      quota: row.key.quota,
    })
    let limitRequest: Readonly<LimitRequest> | null = null
    const limits = this.limits
    if (limits !== null) {
      const rules = verified.rateLimits.length > 0 ? verified.rateLimits : limits.defaultRateLimits
      const quota = verified.quota ?? limits.defaultQuota
      if (rules.length > 0 || quota !== null) {
        const partition =
          limits.shareBy === 'owner' && row.key.ownerId !== null
            ? `owner:${row.key.ownerId}`
            : `key:${row.key.id}`
        limitRequest = Object.freeze({ partition, rules, quota })
      }
    }
    const entry: CacheEntry = {
      key: row.key,
      secret: row.secret,
      scopes: compileScopes(scopes),
      ips: row.key.ipAllowlist.length > 0 ? compileIpAllowlist(row.key.ipAllowlist) : null,
      success: Object.freeze({ ok: true, key: verified }),
      limitRequest,
    }
    this.cache?.set(cacheKey, row.key.id, entry, now)
    return entry
  }

  /**
   * The stored key a secret belongs to, looked up under every configured pepper, or null. No
   * cache, no status check: for tools such as `keyward scan`; use `verify` to authenticate.
   *
   * @example
   * const found = await keyward.findSecret(leakedKey)
   * if (found) console.log(found.key.id, keyward.statusOf(found.key))
   */
  async findSecret(secret: string): Promise<FoundKey | null> {
    for (const version of this.hasher.versions) {
      const row = await this.store.findByHash(this.hasher.hash(secret, version))
      if (row !== null) return row
    }
    return null
  }

  private async roleDefinitions(now: number): Promise<Map<string, string[]>> {
    if (this.roles === null || now - this.rolesLoadedAt >= this.rolesTtlMs) {
      this.roles = await this.store.listRoles()
      this.rolesLoadedAt = now
    }
    return this.roles
  }

  /**
   * Creates a key and returns its secret, which is shown once and never stored.
   *
   * @example
   * const { key, record } = await keyward.createKey({ name: 'billing', ownerId: 'svc:billing', scopes: ['orders:read'], expiresInMs: 90 * 86_400_000 })
   * @throws KeywardError `invalid_argument` naming the bad field, `store_conflict`, `store_unavailable`
   */
  async createKey(input: CreateKeyInput): Promise<CreatedKey> {
    const prefix = input.prefix ?? DEFAULT_PREFIX
    assertValidPrefix(prefix)
    const record = await this.buildRecord(input, prefix)
    const key = generateKey({ prefix })
    const secret = this.secretRecord(key, record.id, false, record.createdAt)
    record.hint = secret.hint
    await this.store.insertKey(record, secret)
    this.cache?.forgetNotFound(this.cacheKey(key))
    await this.audit('key.created', record.id, input.actor, {
      name: record.name,
      ownerId: record.ownerId,
      scopes: record.scopes,
      roles: record.roles,
      hint: record.hint,
    })
    return { key, record }
  }

  /**
   * Imports an existing secret (e.g. a UUID a service already uses); it is hashed and treated
   * like any other key, without a checksum check.
   *
   * @throws KeywardError `invalid_argument` for a secret that is too short, too long or not visible ASCII
   */
  async importKey(secret: string, input: CreateKeyInput): Promise<KeyRecord> {
    const shape = classifyCredential(secret)
    if (shape === 'invalid') {
      throw bad(
        `the secret to import must be ${MIN_IMPORTED_LENGTH}-${MAX_CREDENTIAL_LENGTH} visible ASCII characters without spaces (a keyward-shaped secret must also have a correct checksum)`,
      )
    }
    const prefix = shape === 'keyward' ? prefixOf(secret)! : 'imported'
    const record = await this.buildRecord(input, prefix)
    const row = this.secretRecord(secret, record.id, shape !== 'keyward', record.createdAt)
    record.hint = row.hint
    if ((await this.store.findByHash(row.hash)) !== null) {
      throw new KeywardError(
        'store_conflict',
        'this secret is already stored for another key: import each secret once',
      )
    }
    await this.store.insertKey(record, row)
    this.cache?.forgetNotFound(this.cacheKey(secret))
    await this.audit('key.imported', record.id, input.actor, {
      name: record.name,
      ownerId: record.ownerId,
      hint: record.hint,
    })
    return record
  }

  /**
   * Issues a new secret for a key; the old ones keep verifying for `graceMs`, then stop.
   *
   * @throws KeywardError `not_found`, `invalid_argument`, `store_unavailable`
   */
  async rotateKey(
    id: string,
    options: { graceMs?: number; actor?: string } = {},
  ): Promise<CreatedKey> {
    const graceMs = options.graceMs ?? 86_400_000
    if (!Number.isSafeInteger(graceMs) || graceMs < 0)
      throw bad(`grace period must be a whole number of ms >= 0, got ${graceMs}`)
    const current = await this.requireKey(id)
    if (current.state === 'revoked')
      throw bad(`key ${id} is revoked: a revoked key cannot be rotated; create a new key`)
    const now = this.clock.now()
    const key = generateKey({
      prefix: current.prefix === 'imported' ? DEFAULT_PREFIX : current.prefix,
    })
    const secret = this.secretRecord(key, id, false, now)
    await this.store.addSecret(secret, now + graceMs)
    const record = (await this.store.updateKey(id, { hint: secret.hint, updatedAt: now }))!
    await this.invalidate(id)
    await this.audit('key.rotated', id, options.actor, { hint: secret.hint, graceMs })
    return { key, record }
  }

  /**
   * Revokes a key: it stops verifying here at once; other processes stop within the cache TTL.
   * The record stays for the audit trail. Revoking twice is not an error.
   *
   * @throws KeywardError `not_found`, `store_unavailable`
   */
  async revokeKey(id: string, options: { actor?: string } = {}): Promise<KeyRecord> {
    const current = await this.requireKey(id)
    if (current.state === 'revoked') return current
    const now = this.clock.now()
    const record = (await this.store.updateKey(id, {
      state: 'revoked',
      revokedAt: now,
      updatedAt: now,
    }))!
    await this.invalidate(id)
    await this.audit('key.revoked', id, options.actor, {})
    return record
  }

  /**
   * Changes a key's name, owner, scopes, roles, limits, metadata, IP allowlist, expiry, or
   * disables/enables it.
   *
   * @throws KeywardError `not_found`, `invalid_argument`, `store_unavailable`
   */
  async updateKey(id: string, input: UpdateKeyInput): Promise<KeyRecord> {
    const current = await this.requireKey(id)
    const now = this.clock.now()
    const patch: KeyPatch = { updatedAt: now }
    if (input.name !== undefined) patch.name = checkText(input.name, 'name')
    if (input.ownerId !== undefined)
      patch.ownerId = input.ownerId === null ? null : checkText(input.ownerId, 'owner')
    if (input.scopes !== undefined) patch.scopes = this.checkScopes(input.scopes)
    if (input.roles !== undefined) patch.roles = await this.checkRoles(input.roles)
    if (input.expiresAt !== undefined)
      patch.expiresAt = input.expiresAt === null ? null : this.checkExpiry(input.expiresAt, now)
    if (input.rateLimits !== undefined) patch.rateLimits = checkRateLimits(input.rateLimits)
    if (input.quota !== undefined)
      patch.quota = input.quota === null ? null : this.checkQuota(input.quota)
    if (input.metadata !== undefined) patch.metadata = checkMetadata(input.metadata)
    if (input.ipAllowlist !== undefined) patch.ipAllowlist = this.checkIps(input.ipAllowlist)
    if (input.enabled !== undefined) {
      if (current.state === 'revoked')
        throw bad(`key ${id} is revoked: a revoked key cannot be enabled or disabled`)
      patch.state = input.enabled ? 'active' : 'disabled'
    }
    const record = await this.store.updateKey(id, patch)
    if (record === null) throw new KeywardError('not_found', `no key with id ${id}`)
    await this.invalidate(id)
    const changed = Object.keys(patch).filter((k) => k !== 'updatedAt')
    await this.audit('key.updated', id, input.actor, { changed })
    return record
  }

  /** One key by id, or null. */
  async getKey(id: string): Promise<KeyRecord | null> {
    return isKeyId(id) ? this.store.getKey(id) : null
  }

  /** Keys newest first, filtered by owner and status, in cursor pages. */
  async listKeys(
    query: { ownerId?: string; status?: KeyStatusFilter; cursor?: string; limit?: number } = {},
  ): Promise<KeyPage> {
    const limit = query.limit ?? 100
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE)
      throw bad(`limit must be 1-${MAX_PAGE}, got ${limit}`)
    return this.store.listKeys({ ...query, limit, now: this.clock.now() })
  }

  /** The state a user sees: revoked, disabled, expired or active. */
  statusOf(
    record: Pick<KeyRecord, 'state' | 'expiresAt'>,
  ): 'active' | 'revoked' | 'disabled' | 'expired' {
    if (record.state !== 'active') return record.state
    return record.expiresAt !== null && record.expiresAt <= this.clock.now() ? 'expired' : 'active'
  }

  /** Defines or replaces a role (a named set of scopes). */
  async setRole(
    name: string,
    scopes: readonly string[],
    options: { actor?: string } = {},
  ): Promise<void> {
    assertValidRole(name)
    const checked = this.checkScopes(scopes)
    await this.store.setRole(name, checked)
    this.roles = null
    this.cache?.clear()
    await this.audit('role.set', null, options.actor, { role: name, scopes: checked })
  }

  async deleteRole(name: string, options: { actor?: string } = {}): Promise<boolean> {
    const deleted = await this.store.deleteRole(name)
    this.roles = null
    this.cache?.clear()
    if (deleted) await this.audit('role.deleted', null, options.actor, { role: name })
    return deleted
  }

  async listRoles(): Promise<Map<string, string[]>> {
    return this.store.listRoles()
  }

  async listAudit(query: Partial<AuditQuery> = {}): Promise<AuditEvent[]> {
    return this.store.listAudit({ ...query, limit: query.limit ?? 100 })
  }

  /**
   * The one invalidation path: evicts the key from this process's cache, then tells other
   * nodes (through `onInvalidate`) before returning.
   */
  async invalidate(keyId: string): Promise<void> {
    this.cache?.evictKey(keyId)
    await this.onInvalidate?.(keyId)
  }

  /** Writes buffered usage counters now. */
  async flush(): Promise<void> {
    await this.usage.flush()
  }

  /** Flushes usage and stops timers. Does not close the store, which the caller owns. */
  async close(): Promise<void> {
    await this.usage.close()
  }

  /** Cache occupancy, for metrics. */
  cacheSize(): { found: number; notFound: number } {
    return this.cache?.size ?? { found: 0, notFound: 0 }
  }

  private async requireKey(id: string): Promise<KeyRecord> {
    const record = await this.getKey(id)
    if (record === null)
      throw new KeywardError(
        'not_found',
        `no key with id ${JSON.stringify(id)}: list keys to find its id (ids look like key_…)`,
      )
    return record
  }

  private secretRecord(
    secret: string,
    keyId: string,
    imported: boolean,
    now: number,
  ): SecretRecord {
    return {
      hash: this.hasher.hash(secret),
      keyId,
      pepperVersion: this.hasher.currentVersion,
      hint: keyHint(secret),
      imported,
      createdAt: now,
      expiresAt: null,
    }
  }

  private async buildRecord(input: CreateKeyInput, prefix: string): Promise<KeyRecord> {
    if (!isPlainObject(input)) throw bad('key input must be an object')
    const now = this.clock.now()
    if (input.expiresAt != null && input.expiresInMs !== undefined)
      throw bad('give either expiresAt or expiresInMs, not both')
    const expiresAt =
      input.expiresInMs !== undefined
        ? now + checkPositiveInt(input.expiresInMs, 'expiresInMs')
        : input.expiresAt == null
          ? null
          : this.checkExpiry(input.expiresAt, now)
    return {
      id: generateKeyId(),
      name: checkText(input.name, 'name'),
      ownerId: input.ownerId == null ? null : checkText(input.ownerId, 'owner'),
      prefix,
      hint: '',
      scopes: this.checkScopes(input.scopes ?? []),
      roles: await this.checkRoles(input.roles ?? []),
      rateLimits: checkRateLimits(input.rateLimits ?? []),
      quota: input.quota == null ? null : this.checkQuota(input.quota),
      metadata: checkMetadata(input.metadata ?? {}),
      ipAllowlist: this.checkIps(input.ipAllowlist ?? []),
      state: 'active',
      createdAt: now,
      updatedAt: now,
      expiresAt,
      revokedAt: null,
      lastUsedAt: null,
      usageCount: 0,
    }
  }

  private checkScopes(scopes: readonly string[]): string[] {
    if (!Array.isArray(scopes)) throw bad('scopes must be a list of strings')
    for (const s of scopes) assertValidScope(s)
    return [...new Set(scopes)]
  }

  private async checkRoles(roles: readonly string[]): Promise<string[]> {
    if (!Array.isArray(roles)) throw bad('roles must be a list of role names')
    if (roles.length === 0) return []
    for (const r of roles) assertValidRole(r)
    const defined = await this.store.listRoles()
    const unknown = roles.filter((r) => !defined.has(r))
    if (unknown.length > 0) {
      throw bad(
        `role ${JSON.stringify(unknown[0])} is not defined: define it first (keyward roles set ${unknown[0]} --scope …)`,
      )
    }
    return [...new Set(roles)]
  }

  private checkExpiry(expiresAt: number, now: number): number {
    if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt))
      throw bad(`expiresAt must be epoch milliseconds, got ${JSON.stringify(expiresAt)}`)
    if (expiresAt <= now)
      throw bad(`expiresAt ${new Date(expiresAt).toISOString()} is in the past: give a future time`)
    return expiresAt
  }

  private checkQuota(quota: QuotaRule): QuotaRule {
    if (!isPlainObject(quota)) throw bad('quota must be { limit, periodMs }')
    return {
      limit: checkPositiveInt(quota.limit, 'quota limit'),
      periodMs: checkPositiveInt(quota.periodMs, 'quota period'),
    }
  }

  private checkIps(entries: readonly string[]): string[] {
    if (!Array.isArray(entries)) throw bad('ipAllowlist must be a list of addresses or CIDR ranges')
    for (const e of entries) assertValidIpEntry(e)
    return [...entries]
  }

  private async audit(
    action: string,
    keyId: string | null,
    actor: string | undefined,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.store.appendAudit([
      {
        id: `evt_${randomBase62(16)}`,
        at: this.clock.now(),
        action,
        keyId,
        actor: actor ?? null,
        details,
      },
    ])
  }
}
