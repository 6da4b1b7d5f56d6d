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
