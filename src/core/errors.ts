/** Codes for failures that are exceptions: caller bugs and broken backends. */
export type KeywardErrorCode =
  | 'invalid_options'
  | 'invalid_argument'
  | 'store_unavailable'
  | 'store_conflict'
  | 'store_corrupt'
  | 'pepper_mismatch'
  | 'signing_secret_mismatch'
  | 'not_found'
  // keyward/client: a call that got no response, or a token it could not get
  | 'timeout'
  | 'network'
  | 'token_request_failed'

/**
 * The one error class keyward throws. Denials (a bad key, a missing scope) are never
 * thrown: they are `VerifyResult` values.
 *
 * @example
 * try { await keyward.revokeKey('key_x') } catch (e) {
 *   if (e instanceof KeywardError && e.code === 'not_found') console.error(e.message)
 * }
 */
export class KeywardError extends Error {
  readonly code: KeywardErrorCode
  constructor(code: KeywardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'KeywardError'
    this.code = code
  }
}

/** Stable codes of the verify pipeline (DESIGN.md), spelled the same in TS, JSON and docs. */
export type DenyCode =
  | 'key_missing'
  | 'key_ambiguous'
  | 'headers_truncated'
  | 'key_invalid'
  | 'key_revoked'
  | 'key_expired'
  | 'key_disabled'
  | 'ip_not_allowed'
  | 'insufficient_scope'
  | 'rate_limited'
  | 'quota_exhausted'
  | 'store_unavailable'
  | 'idempotency_key_reused'
  // bearer JWTs (keyward/tokens `acceptTokens`): refused tokens, and a key set that could not
  // be fetched (the token was not checked)
  | 'token_invalid'
  | 'token_expired'
  | 'token_revoked'
  | 'token_too_large'
  | 'jwks_unavailable'
