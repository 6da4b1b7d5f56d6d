// What verification answers, and what a caller may ask of it. Shared by the verifier, the
// facade and the HTTP layer.
import type { DenyCode } from './errors.js'
import type { LimitDecision, QuotaRule, RateLimitRule } from './types.js'

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
  /**
   * Set when the request carried an access token (keyward/tokens `acceptTokens`) instead of
   * the key. Then `id`, `ownerId` and `scopes` come from the token's claims, `expiresAt` is the
   * token's expiry, and what a token does not carry is empty: `name`, `prefix` and `hint` are
   * `''`, no roles, metadata or limits.
   */
  readonly token?: VerifiedTokenClaims
}

/** What a verified access token says besides the key's id, owner and scopes. */
export interface VerifiedTokenClaims {
  /** `jti`. */
  readonly id: string
  /** `client_id`, or null. */
  readonly clientId: string | null
  /** `aud`. */
  readonly audience: readonly string[]
  /** `iat`, epoch ms. */
  readonly issuedAt: number
  /** `exp`, epoch ms. */
  readonly expiresAt: number
}

/**
 * The secret that verified was replaced by a rotation and is in its grace period: the caller
 * should switch to the new one before `sunsetAt`.
 */
export interface SecretDeprecation {
  /** When the secret was superseded (its successor was created), epoch ms. */
  readonly deprecatedAt: number
  /** When it stops verifying (the end of the grace period), epoch ms. */
  readonly sunsetAt: number
}

export interface VerifySuccess {
  readonly ok: true
  readonly key: VerifiedKey
  /** The limiter's decision when the key has limits (for the `RateLimit` header fields). */
  readonly rateLimit?: LimitDecision
  /**
   * Set only when the secret used is an old one inside a rotation grace period (the HTTP layer
   * answers with `Deprecation` and `Sunset`); absent for the current secret.
   */
  readonly deprecation?: SecretDeprecation
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
  /**
   * For `store_unavailable`: the backend error; for token denials: the `TokenError` saying
   * what was wrong with the token. For logs (`onDenied`), never shown to callers.
   */
  readonly cause?: unknown
  /** For `rate_limited` / `quota_exhausted`: the limiter's decision. */
  readonly rateLimit?: LimitDecision
}

/** Outcome of `verify()`: denials are values, not exceptions. */
export type VerifyResult = VerifySuccess | VerifyDenial

export interface VerifyOptions {
  /** Scopes the request needs; all must be granted. */
  scopes?: readonly string[]
  /** Client address, checked against the key's IP allowlist and recorded in usage analytics. */
  ip?: string
  /**
   * What usage analytics count this verification under: a route pattern (`/orders/:id`) or a
   * name, never a raw URL (its query may hold a key, and its ids would make every request a
   * row of its own). Absent: untagged.
   */
  usageTag?: string
  /** Units this request uses from the key's limits and quota. Default 1. */
  cost?: number
  /**
   * The request's `Idempotency-Key`. A retry of the same `operation` is charged to the rate
   * limits but not to the quota; the same key on another operation is refused with
   * `idempotency_key_reused` (docs/limits.md). Needs `operation`: without it, verifying a key
   * with limits throws `invalid_argument`.
   */
  idempotencyKey?: string
  /**
   * What the request does, for `idempotencyKey`: e.g. `POST /orders?draft=1` and a hash of its
   * body. Only a hash of it is kept.
   */
  operation?: string
}
