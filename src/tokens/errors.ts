import { errors as jose } from 'jose'

/**
 * Why a token was refused. HTTP answers (docs/tokens.md): `token_invalid` and `token_expired`
 * are 401, `token_too_large` is 413, `jwks_unavailable` is 503 (the token may be good: the
 * keys to check it could not be fetched, so callers must not throw it away).
 */
export type TokenErrorCode =
  | 'token_invalid'
  | 'token_expired'
  | 'token_too_large'
  | 'jwks_unavailable'

/**
 * A refused token, or key set that could not be fetched. `message` says what was wrong and
 * what to do; it never contains the token.
 *
 * @example
 * try { await verifyAccessToken(jwt, options) } catch (e) {
 *   if (e instanceof TokenError && e.code === 'token_expired') return refresh()
 * }
 */
export class TokenError extends Error {
  readonly code: TokenErrorCode
  constructor(code: TokenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TokenError'
    this.code = code
  }
}

const invalid = (message: string, cause?: unknown): TokenError =>
  new TokenError('token_invalid', message, cause === undefined ? undefined : { cause })

/** What a failed claim check means for the caller, by claim name. */
const CLAIM_MESSAGES: Record<string, string> = {
  iss: 'the token was issued by another issuer ("iss"): get a token from the issuer this service trusts',
  aud: 'the token is not meant for this service ("aud"): ask for a token with this audience',
  typ: 'the token has the wrong type ("typ"): an access token and an X-Keyward-Token are not interchangeable',
  nbf: 'the token is not valid yet ("nbf" is in the future beyond the clock tolerance): check the clocks of issuer and verifier',
  iat: 'the token was issued in the future ("iat" beyond the clock tolerance): check the clocks of issuer and verifier',
}

/**
 * Maps anything `jwtVerify` throws to a `TokenError`, once for every verifier: claim checks by
 * claim, signature and format failures to `token_invalid`, a key set that could not be fetched
 * to `jwks_unavailable`. Errors that are not jose's (a bug) are returned as they are.
 */
export function toTokenError(error: unknown): unknown {
  if (error instanceof TokenError) return error
  if (error instanceof jose.JWTExpired) {
    return new TokenError(
      'token_expired',
      'the token has expired: get a new one (tokens live minutes; a client refreshes them before they expire)',
      { cause: error },
    )
  }
  if (error instanceof jose.JWTClaimValidationFailed) {
    const known = CLAIM_MESSAGES[error.claim]
    if (known !== undefined) return invalid(known, error)
    return invalid(
      error.reason === 'missing'
        ? `the token lacks the "${error.claim}" claim: it was not issued by keyward`
        : `the token's "${error.claim}" claim is not valid`,
      error,
    )
  }
  if (error instanceof jose.JWKSTimeout) {
    return new TokenError(
      'jwks_unavailable',
      'the key set (JWKS) could not be fetched in time: the token was not checked; try again',
      { cause: error },
    )
  }
  if (error instanceof jose.JWSSignatureVerificationFailed)
    return invalid(
      'the token signature does not verify: it was altered or signed by another key',
      error,
    )
  if (error instanceof jose.JOSEAlgNotAllowed)
    return invalid(
      'the token is signed with an algorithm that is not allowed (only EdDSA is)',
      error,
    )
  if (error instanceof jose.JWKSNoMatchingKey)
    return invalid(
      'no published key matches the token ("kid"): it was signed by an unknown key or one retired long ago',
      error,
    )
  if (error instanceof jose.JWKSMultipleMatchingKeys)
    return invalid(
      'several published keys match the token ("kid"): the key set is ambiguous',
      error,
    )
  if (error instanceof jose.JOSEError)
    return invalid('the token is not a well-formed signed JWT', error)
  return error
}
