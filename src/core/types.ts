// Records and the Store contract. They live in core because the verify pipeline is written
// against them; src/stores re-exports them and holds the implementations.

/** A named rate limit of a key: at most `limit` requests per `windowMs`. */
export interface RateLimitRule {
  name: string
  limit: number
  windowMs: number
}

/** A quota of credits refilled every `periodMs`. */
export interface QuotaRule {
  limit: number
  periodMs: number
}

// Rate limiting (verify step 6): the request and decision of a limiter backend (src/limits).

/**
 * One decision request: every rate limit of a partition and its quota, judged together.
 *
 * @example
 * const decision = await limiter.consume({
 *   partition: `key:${key.id}`,
 *   rules: [{ name: 'burst', limit: 20, windowMs: 1000 }, { name: 'hour', limit: 1000, windowMs: 3_600_000 }],
 *   quota: { limit: 10_000, periodMs: 30 * 86_400_000 },
 * })
 */
export interface LimitRequest {
  /**
   * Whose counters to use: `key:<key id>` or `owner:<owner id>` (to share one allowance across
   * all keys of an owner). Never the API key itself: it would end up in Redis and in dumps.
   * 1-256 characters, no control characters.
   */
  partition: string
  /** Rate limits, all checked before any of them (or the quota) is charged. */
  rules: readonly RateLimitRule[]
  /** Credits for the period; absent or null: no quota. */
  quota?: QuotaRule | null
  /**
   * Units this request uses, charged to every rule and to the quota. Default 1. `0` reads the
   * state without charging anything.
   */
  cost?: number
  /**
   * The time to decide at, epoch ms. For tests and replays only: the memory backend defaults to
   * its clock, the Redis backend to Redis' own `TIME` so that every server agrees.
   */
  nowMs?: number
  /**
   * The request's `Idempotency-Key`. The first admitted request with it is charged in full and
   * leaves a record (per partition, for `idempotencyTtlMs`) bound to `operation`. A repeat with
   * the same `operation` is a replay: charged to every rate limit (they protect capacity), not
   * to the quota, `replayed: true`. A repeat with another `operation` is refused with
   * `idempotency_key_reused` and charged nothing. Needs `operation`.
   */
  idempotencyKey?: string
  /**
   * What the request does, e.g. `POST /orders` and a hash of its body: required with
   * `idempotencyKey`, ignored without. Only a hash of it is stored (never paths or bodies).
   */
  operation?: string
}

/** The state of one rule or of the quota after a decision. */
export interface PolicyState {
  /** `rate` for a rate limit, `quota` for the credits. */
  kind: 'rate' | 'quota'
  /** The rule's name; `quota` for the quota. */
  name: string
  limit: number
  /** The rule's window, or the quota's period. */
  windowMs: number
  /** Units a request could still use right now (after this decision was charged). */
  remaining: number
  /** Ms until `remaining` is back to `limit` (rate), or until the period ends (quota). */
  resetMs: number
}

/**
 * Why a request was refused. `store_unavailable` only under the `fail-closed` policy;
 * `idempotency_key_reused` for an `idempotencyKey` already used for another `operation`.
 */
export type LimitDenyCode =
  | 'rate_limited'
  | 'quota_exhausted'
  | 'store_unavailable'
  | 'idempotency_key_reused'

/** The outcome of `consume`: a value, never an exception, for an over-limit request. */
export interface LimitDecision {
  allowed: boolean
  /**
   * Set when refused: `idempotency_key_reused` first, else `rate_limited` when a rate limit
   * refused, else `quota_exhausted`.
   */
  code?: LimitDenyCode
  /** Every rule in request order, then the quota. Empty for `store_unavailable`. */
  policies: PolicyState[]
  /**
   * When refused: ms until the same request can be admitted (every refusing policy allows it).
   * Absent for `idempotency_key_reused`: waiting does not help, a new idempotency key does.
   */
  retryAfterMs?: number
  /**
   * True when admitted as a replay: the idempotency key and operation of an earlier admitted
   * request, charged to the rate limits but not to the quota.
   */
  replayed?: true
  /** True when Redis could not be used and a local memory limiter decided instead. */
  degraded?: true
}

/** What the verify pipeline needs of a limiter: one atomic decision per request. */
export interface RateLimiter {
  consume(request: LimitRequest): Promise<LimitDecision>
  /**
   * The same decision without a promise, for backends that decide in process (memory): lets a
   * cached key with limits be verified synchronously.
   */
  consumeSync?(request: LimitRequest): LimitDecision
}

/** Stored lifecycle state; "expired" is derived from `expiresAt`, never stored. */
export type KeyState = 'active' | 'revoked' | 'disabled'

/** A key: identity, owner, permissions and limits. The secret is never part of it. */
export interface KeyRecord {
  /** Public id, `key_<16 base62>`. */
  id: string
  name: string
  ownerId: string | null
  prefix: string
  /** Display hint of the current secret (`kw_live_AbCd…wxyz`). */
  hint: string
  scopes: readonly string[]
  roles: readonly string[]
  rateLimits: readonly RateLimitRule[]
  quota: QuotaRule | null
  metadata: Readonly<Record<string, unknown>>
  /** IPs or CIDR ranges allowed to use the key; empty allows any. */
  ipAllowlist: readonly string[]
  state: KeyState
  /** Epoch ms. */
  createdAt: number
  updatedAt: number
  expiresAt: number | null
  revokedAt: number | null
  lastUsedAt: number | null
  usageCount: number
  /**
   * When the current secret was issued by a rotation, epoch ms; absent when the key was never
   * rotated (its secret dates from `createdAt`). The expiry policy measures age from here.
   */
  rotatedAt?: number
}

/** One secret of a key, stored only as its keyed hash. */
export interface SecretRecord {
  /** `HMAC-SHA256(pepper, secret)`, base64url; unique across the store. */
  hash: string
  keyId: string
  pepperVersion: number
  hint: string
  /** True when the secret was imported (not generated by keyward). */
  imported: boolean
  createdAt: number
  /** When this secret stops verifying (end of a rotation grace period), or null. */
  expiresAt: number | null
  /**
   * When a request last presented this secret to a known key, whatever the outcome (an old
   * secret still sent and refused is still in use); null: never. Written in batches with the
   * usage counters, so up to one flush interval late. Stores always return it; writers may omit it.
   */
  lastUsedAt?: number | null
}

/** Fields `updateKey` may change; absent fields stay as they are. */
export interface KeyPatch {
  name?: string
  ownerId?: string | null
  hint?: string
  scopes?: readonly string[]
  roles?: readonly string[]
  rateLimits?: readonly RateLimitRule[]
  quota?: QuotaRule | null
  metadata?: Readonly<Record<string, unknown>>
  ipAllowlist?: readonly string[]
  state?: KeyState
  expiresAt?: number | null
  revokedAt?: number | null
  updatedAt: number
}

/** Status filter of `listKeys`: "expired" and "active" are judged at `now`. */
export type KeyStatusFilter = 'active' | 'revoked' | 'expired' | 'disabled'

/**
 * Filters of `listKeys`; every filter given must match. Keys come newest first (`createdAt`,
 * then `id`, descending) whatever the filters.
 */
export interface ListKeysQuery {
  ownerId?: string
  status?: KeyStatusFilter
  /** Keys with this prefix exactly (`kw_live`, `kw_test`, `imported`, …). */
  prefix?: string
  /** Keys whose own scopes contain this string exactly (no wildcard matching, no roles). */
  scope?: string
  /**
   * Epoch ms: keys with an expiry before it (`expiresAt < expiringBefore`) that have not
   * expired yet at `now` (`expiresAt > now`), whatever their state.
   */
  expiringBefore?: number
  /** Epoch ms used to judge expiry for `status` and `expiringBefore`. */
  now: number
  /** Opaque cursor from a previous page. */
  cursor?: string
  limit: number
}

export interface KeyPage {
  items: KeyRecord[]
  nextCursor: string | null
}

/** Usage accumulated in memory and flushed in batches. */
export interface UsageEntry {
  keyId: string
  count: number
  lastUsedAt: number
}

/** The last time a secret was presented, named by its key and hint: never by its hash. */
export interface SecretUse {
  keyId: string
  hint: string
  lastUsedAt: number
}

/**
 * Verifications of one key in one minute with one outcome and tag: what usage analytics
 * record. Never a secret, a hash or a query string.
 */
export interface UsageCell {
  keyId: string
  /** Start of the minute, epoch ms. */
  at: number
  /** `valid`, or the denial code. */
  code: string
  /** The route pattern or tag the request was counted under; `''` for none. */
  tag: string
  count: number
  /** Client address of the first and last of these verifications (null when unknown). */
  firstIp: string | null
  lastIp: string | null
}

/** What a usage flush writes besides the per-key counters, in the same transaction. */
export interface UsageDetail {
  secrets: readonly SecretUse[]
  cells: readonly UsageCell[]
}

/** A summary of recorded usage: one key's (`keyId`) or every key's. */
export interface UsageSummaryQuery {
  keyId?: string
  /** Buckets starting at or after `since` and before `until`, epoch ms. */
  since: number
  until: number
  /** Width of the series' buckets, ms (a minute, an hour or a day); buckets align to it (UTC). */
  stepMs: number
  /** Most tags to return, busiest first. */
  tagLimit: number
}

export interface UsageSummary {
  /** Counts per bucket and code, oldest bucket first. */
  series: { at: number; code: string; count: number }[]
  /** Totals per key: every outcome, and the denials (codes other than `valid`). */
  keys: { keyId: string; total: number; denied: number }[]
  /** Busiest tags first. */
  tags: { tag: string; total: number }[]
  /** First IP of the earliest bucket and last IP of the latest (null when none recorded). */
  firstIp: string | null
  lastIp: string | null
}

/** Width of a usage row: minute rows as recorded, hour rows once rolled up. */
export const USAGE_MINUTE_MS = 60_000
export const USAGE_HOUR_MS = 3_600_000

/**
 * One audit record. Never carries a secret, its hash or a query string: only ids, hints and
 * what changed (non-secret fields as old -> new values).
 */
export interface AuditEvent {
  /** Unique id, `evt_<16 base62>`. */
  id: string
  at: number
  /** What happened: `key.created`, `key.rotated`, `key.denied`, `policy.changed`, … */
  action: string
  keyId: string | null
  /** Who did it: an admin key id, `cli:<os user>`, or null (the key itself, for denials). */
  actor: string | null
  /** The client address of the request, or null (the command line). Absent counts as null. */
  ip?: string | null
  details: Readonly<Record<string, unknown>>
  /** Identical denials merged into this one event (same key, code and minute). Absent: 1. */
  count?: number
}

/** An audit event as stored: with its place in the hash chain. */
export interface StoredAuditEvent extends AuditEvent {
  ip: string | null
  count: number
  /** Position in the chain, 1, 2, 3, … in append order. */
  seq: number
  /** `hash` of the event before it (`seq - 1`), or 64 zeros for the first one. */
  prevHash: string
  /** SHA-256 (hex) over `prevHash` and the event's canonical form (src/core/audit-chain.ts). */
  hash: string
}

/** A point of the chain: a seq and the hash of the event at it. */
export interface AuditChainPoint {
  seq: number
  hash: string
}

/**
 * Where the stored chain starts and ends. `anchor` is the last event no longer stored
 * (pruned, or written before the chain existed): the first stored event must follow it.
 * `head` is the last event appended (equal to `anchor` when none is stored).
 */
export interface AuditChainState {
  anchor: AuditChainPoint
  head: AuditChainPoint
}

/** Filters of `listAudit`; every filter given must match. Newest first (`at`, then `seq`). */
export interface AuditQuery {
  keyId?: string
  actor?: string
  action?: string
  /** Epoch ms, inclusive. */
  since?: number
  /** Epoch ms, exclusive. */
  until?: number
  /** Only events listed after this one (a page cursor): older `at`, or the same and lower `seq`. */
  before?: { at: number; seq: number }
  limit: number
}

/** Builds the audit events of a change from what it replaced, inside the change's transaction. */
export type AuditOf<T> = (before: T) => readonly AuditEvent[]

/** A rotation, applied by `Store.rotateSecret` in one transaction. */
export interface SecretRotation {
  /** The new secret (`expiresAt` null: it becomes the current one). */
  secret: SecretRecord
  /** The other unexpired secrets of the key stop at this time (end of the grace period). */
  previousExpireAt: number
  /**
   * The hint of the current secret the caller read: when the stored key's hint differs, another
   * rotation came first and this one is refused (`store_conflict`), changing nothing.
   */
  expectHint: string
  /** The time of the rotation: the key's `updatedAt` and `rotatedAt`. */
  now: number
  audit: AuditOf<KeyRecord>
}

/** Maximum key age: global, and per owner (an owner's own value replaces the global one). */
export interface ExpiryPolicy {
  /** Ms; null: no global maximum. */
  maxAgeMs: number | null
  /** Owner id -> ms. */
  owners: Readonly<Record<string, number>>
}

/** What `Store.expiryCounts` answers, for metrics. */
export interface ExpiryCounts {
  /** Active, unexpired keys whose current secret is older than their policy's maximum age. */
  pastPolicy: number
  /** Per asked window: active keys that expire after `now` and within the window. */
  expiring: number[]
}

/** The key fields verification reads: identity, permissions, limits and status. */
export type FoundKeyFields = Pick<
  KeyRecord,
  | 'id'
  | 'name'
  | 'ownerId'
  | 'prefix'
  | 'scopes'
  | 'roles'
  | 'rateLimits'
  | 'quota'
  | 'metadata'
  | 'ipAllowlist'
  | 'state'
  | 'expiresAt'
>

/** What `Store.findByHash` answers: the key, and the expiry of the secret that matched. */
export interface FoundKey {
  key: FoundKeyFields
  secret: Pick<SecretRecord, 'expiresAt'>
}

/**
 * A key pair that signs keyward's JWTs (src/tokens). The store keeps it opaque: the public key
 * as JWK text and the private key already encrypted by src/tokens.
 *
 * A key signs from `activatesAt` until `retiredAt` (null: until a newer key activates); its
 * public key is published from `createdAt` until every token it signed has expired.
 */
export interface SigningKeyRecord {
  /** The JWT `kid`, `sk_<16 base62>`. */
  kid: string
  /** The JWS algorithm, `EdDSA`. */
  alg: string
  /** The public key as JWK JSON text. */
  publicJwk: string
  /** The private key, encrypted (an envelope src/tokens writes and reads). */
  encryptedPrivateKey: string
  /** Epoch ms. */
  createdAt: number
  /** When it starts signing, epoch ms (after `createdAt` when its publication comes first). */
  activatesAt: number
  /** When it stops signing, epoch ms; null for the newest key. */
  retiredAt: number | null
}

/**
 * The storage contract. Every method is async and throws `KeywardError('store_unavailable')`
 * when the backend cannot be reached; "not found" is `null`/`false`, never an exception.
 * The plaintext secret never crosses this boundary.
 */
export interface Store {
  /** "memory" | "sqlite" | "postgres", for logs and health. */
  readonly kind: string
  /** Applies pending versioned migrations; idempotent; never implicit in a constructor. */
  migrate(): Promise<void>
  /**
   * Inserts a key and its first secret, and appends `audit` to the audit chain, in one
   * transaction; `store_conflict` on a duplicate id or hash.
   */
  insertKey(key: KeyRecord, secret: SecretRecord, audit?: readonly AuditEvent[]): Promise<void>
  /** Inserts many keys with their first secrets in one transaction (bulk imports, benchmarks). */
  insertKeys(rows: readonly { key: KeyRecord; secret: SecretRecord }[]): Promise<void>
  /**
   * The key of a keyed hash, with the fields verification reads (nothing more: this is the
   * cold path), or null. One indexed lookup.
   */
  findByHash(hash: string): Promise<FoundKey | null>
  getKey(id: string): Promise<KeyRecord | null>
  /** Keys newest first, in cursor pages. */
  listKeys(query: ListKeysQuery): Promise<KeyPage>
  /**
   * Applies a patch and appends the events `audit` builds from the key before and after it, in
   * one transaction (the key's row locked); returns the updated key, or null when it does not
   * exist (nothing is appended then).
   */
  updateKey(
    id: string,
    patch: KeyPatch,
    audit?: (before: KeyRecord, after: KeyRecord) => readonly AuditEvent[],
  ): Promise<KeyRecord | null>
  /** All secrets of a key, newest first. */
  listSecrets(keyId: string): Promise<SecretRecord[]>
  /**
   * A rotation in one transaction, all or nothing: checks that the key still has the hint the
   * caller read and is not revoked (else `store_conflict`, nothing changed), sets `expiresAt` of
   * its other unexpired secrets to `previousExpireAt`, adds the new secret, sets the key's
   * `hint`, `updatedAt` and `rotatedAt`, and appends the events `audit` builds. Two concurrent
   * rotations of one key: one wins, the other gets `store_conflict`. `store_conflict` on a
   * duplicate hash; null when the key does not exist.
   */
  rotateSecret(rotation: SecretRotation): Promise<KeyRecord | null>
  /**
   * Ends the grace period of a key's old secrets now: every secret with an expiry after `now`
   * gets `expiresAt = now` (the current one, without expiry, stays). Appends the events `audit`
   * builds from the number ended (when it is above 0), in the same transaction. Null when the
   * key does not exist.
   */
  endGracePeriods(keyId: string, now: number, audit: AuditOf<number>): Promise<number | null>
  /**
   * Adds counts and raises last-used times; with `detail`, also raises secrets' `lastUsedAt`
   * and adds usage cells to their minute rows (`count` added, `firstIp` kept when the row has
   * one, `lastIp` replaced). One batch, one transaction.
   */
  recordUsage(entries: readonly UsageEntry[], detail?: UsageDetail): Promise<void>
  /** Totals of recorded usage (minute and hour rows alike) for one key or all. Read-only. */
  summarizeUsage(query: UsageSummaryQuery): Promise<UsageSummary>
  /**
   * Folds up to `limit` minute rows that start before `before` into their hour rows (counts
   * added, first IP of the earliest, last IP of the latest) and deletes them, in one
   * transaction. Returns how many minute rows it folded: call again while it returns `limit`.
   */
  rollUpUsage(before: number, limit: number): Promise<number>
  /** Deletes up to `limit` usage rows that start before `before`; returns how many. */
  pruneUsage(before: number, limit: number): Promise<number>
  /**
   * Appends events to the hash chain in one transaction, serialised with every other append
   * (of any process): each gets the next `seq`, the previous hash and its own.
   * `store_conflict` on an event id already stored (nothing appended).
   */
  appendAudit(events: readonly AuditEvent[]): Promise<void>
  /** Audit events, newest first (`at`, then `seq`, descending). */
  listAudit(query: AuditQuery): Promise<StoredAuditEvent[]>
  /** Stored events with `seq > afterSeq`, in `seq` order, at most `limit`: for verification. */
  readAuditChain(afterSeq: number, limit: number): Promise<StoredAuditEvent[]>
  /** The chain's anchor and head. */
  auditChainState(): Promise<AuditChainState>
  /**
   * Deletes the oldest events (in `seq` order) while they are older than `before`, at most
   * `limit`, and moves the anchor to the last one deleted, in one transaction. Returns how many
   * were deleted.
   */
  pruneAudit(before: number, limit: number): Promise<number>
  /** Role name -> scopes. */
  listRoles(): Promise<Map<string, string[]>>
  /** Defines or replaces a role and appends what `audit` builds from its old scopes (null: new). */
  setRole(
    name: string,
    scopes: readonly string[],
    audit?: AuditOf<readonly string[] | null>,
  ): Promise<void>
  /** Deletes a role and appends what `audit` builds from its scopes; false when absent. */
  deleteRole(name: string, audit?: AuditOf<readonly string[]>): Promise<boolean>
  /** The expiry policy (none set: `{ maxAgeMs: null, owners: {} }`). */
  getExpiryPolicy(): Promise<ExpiryPolicy>
  /**
   * Sets (or with null, removes) the maximum key age, global (`ownerId` null) or of one owner,
   * and appends what `audit` builds from the value it replaced, in one transaction.
   */
  setExpiryPolicy(
    ownerId: string | null,
    maxAgeMs: number | null,
    audit: AuditOf<number | null>,
  ): Promise<void>
  /** Counts for metrics at `now`: keys past the policy, and expiring within each window. */
  expiryCounts(now: number, withinMs: readonly number[]): Promise<ExpiryCounts>
  getMeta(name: string): Promise<string | null>
  /** Stores `value` unless `name` is already set; returns what is stored afterwards. */
  setMetaIfAbsent(name: string, value: string): Promise<string>
  /** Distinct pepper versions that hashed the stored secrets. */
  pepperVersions(): Promise<number[]>
  /** Every token signing key, newest (`createdAt`, then `kid`) first. */
  listSigningKeys(): Promise<SigningKeyRecord[]>
  /**
   * Stores `key` (its `retiredAt` must be null) only when no key with a null `retiredAt` is
   * stored, atomically: when two nodes start together, one key wins. Returns the newest
   * unretired key afterwards, the one given or the one that was there.
   */
  insertFirstSigningKey(key: SigningKeyRecord): Promise<SigningKeyRecord>
  /**
   * Rotation, in one transaction: every other key that would sign past `key.activatesAt` gets
   * `retiredAt = key.activatesAt`, `key` (with a null `retiredAt`) is inserted, and keys retired
   * before `deleteRetiredBefore` are deleted. `store_conflict` on a duplicate `kid`.
   */
  rotateSigningKey(key: SigningKeyRecord, deleteRetiredBefore: number): Promise<void>
  close(): Promise<void>
}
