// What the token endpoint answers when it refuses: RFC 6749 §5.2 JSON `{ error,
// error_description }`, not problem+json, since OAuth clients read that. Every refusal is
// decided here: the endpoint's own (bad grant, scope, audience) and each verify denial of the
// client's key.
import type { FastifyReply } from 'fastify'
import type { DenyCode } from '../core/errors.js'
import { hideKeys } from '../core/key-format.js'

/** `error` values: RFC 6749 §5.2, plus what HTTP itself says (429, 503, 431). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'rate_limited'
  | 'quota_exhausted'
  | 'temporarily_unavailable'

/** An OAuth error ready to send. */
export interface OAuthError {
  readonly status: number
  readonly error: OAuthErrorCode
  readonly description: string
}

/** 401 needs a challenge for the scheme of client authentication (RFC 6749 §5.2). */
const CLIENT_CHALLENGE = 'Basic realm="keyward", charset="UTF-8"'

export function oauthError(
  error: OAuthErrorCode,
  description: string,
  status = error === 'invalid_client' ? 401 : 400,
): OAuthError {
  return { status, error, description }
}

const BAD_CLIENT =
  'the client credential is not valid: send the API key in X-API-Key, or its id as client_id and the key as client_secret'

/**
 * The answer for each verify denial of the client's key. Denials the endpoint cannot meet
 * (scopes, tokens: it verifies keys only, with no required scope) are still mapped, so that
 * the table is total.
 */
const DENIALS: Readonly<Record<DenyCode, OAuthError>> = {
  key_missing: oauthError(
    'invalid_client',
    'no client credential: send the API key in X-API-Key, or client_id and client_secret (Basic auth or the form body)',
  ),
  key_invalid: oauthError('invalid_client', BAD_CLIENT),
  key_revoked: oauthError('invalid_client', 'the API key has been revoked: use another key'),
  key_expired: oauthError('invalid_client', 'the API key has expired: rotate it or get a new key'),
  key_disabled: oauthError('invalid_client', 'the API key is disabled: ask its owner to enable it'),
  key_ambiguous: oauthError(
    'invalid_request',
    'the request carries more than one client credential: use exactly one way (X-API-Key, Basic auth, or the form body), once',
  ),
  headers_truncated: oauthError(
    'invalid_request',
    'the request has more header lines than this server reads: send fewer headers',
    431,
  ),
  ip_not_allowed: oauthError(
    'unauthorized_client',
    'this API key may not be used from your network address: call from an allowed address',
  ),
  insufficient_scope: oauthError('invalid_scope', 'the API key lacks a scope this needs'),
  rate_limited: oauthError(
    'rate_limited',
    'too many token requests for this key: wait the seconds in Retry-After (a client keeps its token until shortly before it expires)',
    429,
  ),
  quota_exhausted: oauthError(
    'quota_exhausted',
    "the API key's quota for this period is used up: retry after the seconds in Retry-After",
    429,
  ),
  idempotency_key_reused: oauthError('invalid_request', 'the Idempotency-Key was already used'),
  store_unavailable: oauthError(
    'temporarily_unavailable',
    'the key store is unreachable, so the key could not be checked (it was not rejected): retry after the seconds in Retry-After',
    503,
  ),
  token_invalid: oauthError('invalid_client', BAD_CLIENT),
  token_expired: oauthError('invalid_client', BAD_CLIENT),
  token_revoked: oauthError('invalid_client', BAD_CLIENT),
  token_too_large: oauthError('invalid_client', BAD_CLIENT),
  jwks_unavailable: oauthError('temporarily_unavailable', 'try again later', 503),
}

/** The OAuth error for a denial of the client's key. */
export function oauthDenial(code: DenyCode): OAuthError {
  return DENIALS[code]
}

/**
 * Sends an OAuth error: JSON, never cached (RFC 6749 §5.1), a `Basic` challenge on 401.
 * `headers` carries what the denial's response set (`Retry-After`, `RateLimit`).
 */
export function sendOAuthError(
  reply: FastifyReply,
  e: OAuthError,
  headers: Readonly<Record<string, string>> = {},
): FastifyReply {
  reply.code(e.status).headers(headers)
  reply.header('content-type', 'application/json').header('cache-control', 'no-store')
  reply.header('pragma', 'no-cache')
  if (e.status === 401) reply.header('www-authenticate', CLIENT_CHALLENGE)
  else reply.removeHeader('www-authenticate')
  // descriptions quote what was asked (a scope, an audience): a key sent there must not come back
  const body = { error: e.error, error_description: hideKeys(e.description) }
  return reply.send(Buffer.from(JSON.stringify(body)))
}
