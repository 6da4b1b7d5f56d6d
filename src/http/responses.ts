import type { DenyCode } from '../core/errors.js'
import { STORE_RETRY_AFTER_SECONDS, toRetryAfterSeconds } from '../core/retry.js'
import type { VerifyDenial } from '../core/keyward.js'
import type { CredentialSource, ProblemDetails, ResolvedApiKeyOptions } from './options.js'

/** Prefix of the problem `type` URIs; the `code` member repeats the code. Stable identifiers, not links. */
export const PROBLEM_TYPE_PREFIX = 'urn:keyward:problem:'

/** A denial ready to send: adapters copy these onto their response object unchanged. */
export interface DeniedResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** Serialised JSON. */
  readonly body: string
}

type Challenge = 'none' | 'token' | 'insufficient_scope' | 'invalid_request'

interface DenialSpec {
  readonly status: number
  readonly title: string
  readonly challenge: Challenge
  /** Seconds for `Retry-After` when the denial gives none; 0 = no header. */
  readonly retryAfterSeconds: number
  /** `how` says where to send the key, built from the enabled sources. */
  readonly detail: (how: string) => string
}

/**
 * The one table mapping every verify outcome to HTTP. Adapters never choose a status, a
 * header or a message themselves. `rate_limited` and `quota_exhausted` take their
 * `Retry-After` from the denial; `RateLimit`/`RateLimit-Policy` come in as `extraHeaders`.
 * `idempotency_key_reused` is 422, as payment APIs answer it: retrying cannot help, so no
 * `Retry-After`. Refused bearer JWTs are 401 with `error="invalid_token"` (RFC 6750) like bad
 * keys, an oversized one is 413 (refused unparsed), and a JWKS that cannot be fetched is 503.
 */
export const DENIALS: Readonly<Record<DenyCode, DenialSpec>> = Object.freeze({
  key_missing: {
    status: 401,
    title: 'API key missing',
    challenge: 'token',
    retryAfterSeconds: 0,
    detail: (how) => `No API key was sent. Send your API key ${how}.`,
  },
  key_invalid: {
    status: 401,
    title: 'Invalid API key',
    challenge: 'token',
    retryAfterSeconds: 0,
    detail: () =>
      'The API key is not valid. Check that you sent the whole key exactly as issued, or ask for a new key.',
  },
  key_revoked: {
    status: 401,
    title: 'API key revoked',
    challenge: 'token',
    retryAfterSeconds: 0,
    detail: () => 'This API key has been revoked. Use another key, or ask for a new one.',
  },
  key_expired: {
    status: 401,
    title: 'API key expired',
    challenge: 'token',
    retryAfterSeconds: 0,
    detail: () => 'This API key has expired. Rotate it or ask for a new key.',
  },
  key_disabled: {
    status: 401,
    title: 'API key disabled',
    challenge: 'token',
    retryAfterSeconds: 0,
    detail: () =>
      "This API key is disabled. Ask the key's owner to enable it again, or use another key.",
  },
  key_ambiguous: {
    status: 400,
    title: 'More than one API key',
    challenge: 'invalid_request',
    retryAfterSeconds: 0,
    detail: (how) =>
      `The request carries more than one API key (a repeated header, or several ways at once). Send exactly one key, once, ${how}.`,
  },
  headers_truncated: {
    status: 431,
    title: 'Too many header lines',
    challenge: 'none',
    retryAfterSeconds: 0,
    detail: (how) =>
      `The request has more header lines than this server reads, so it cannot tell whether it carries a second API key; it was not authenticated. Send fewer headers, with your API key once ${how}.`,
  },
  ip_not_allowed: {
    status: 403,
    title: 'Address not allowed',
    challenge: 'none',
    retryAfterSeconds: 0,
    detail: () =>
      "This API key may not be used from your network address. Call from an allowed address, or ask the key's owner to update its IP allowlist.",
  },
  insufficient_scope: {
    status: 403,
    title: 'Insufficient scope',
    challenge: 'insufficient_scope',
    retryAfterSeconds: 0,
    // replaced per denial by scopeDetail(), which names the scopes
    detail: () => 'This API key lacks a scope this route needs. Use a key that has it.',
  },
  rate_limited: {
    status: 429,
    title: 'Rate limit exceeded',
    challenge: 'none',
    retryAfterSeconds: 1,
    detail: () =>
      'Too many requests. Wait the number of seconds in the Retry-After header, then retry.',
  },
  quota_exhausted: {
    status: 429,
    title: 'Quota exhausted',
    challenge: 'none',
    retryAfterSeconds: 60,
    detail: () =>
      'This API key has used up its quota for the current period. Retry after the number of seconds in the Retry-After header, or ask for a larger quota.',
  },
  idempotency_key_reused: {
    status: 422,
    title: 'Idempotency-Key reused',
    challenge: 'none',
    retryAfterSeconds: 0,
    detail: () =>
      'This Idempotency-Key was already used for a different request (another method, path, query or body). Send a new Idempotency-Key with each new request; reuse one only to retry the very same request.',
  },
  token_invalid: {
    status: 401,
    title: 'Invalid access token',
    challenge: 'token',
    retryAfterSeconds: 0,
    detail: () =>
      'The access token is not valid here: it is malformed, not signed by a key this service trusts, or issued for another issuer, audience or type. Get a new token from the token endpoint; if you sent an API key, this service wants a token it was traded for.',
  },
  token_expired: {
    status: 401,
    title: 'Access token expired',
    challenge: 'token',
    retryAfterSeconds: 0,
    detail: () =>
      'The access token has expired. Get a new one from the token endpoint (a client should replace its token shortly before it expires).',
  },
  token_revoked: {
    status: 401,
    title: 'Access token revoked',
    challenge: 'token',
    retryAfterSeconds: 0,
    detail: () =>
      'The API key this access token was issued for has been revoked or disabled, so the token no longer counts. Use another key.',
  },
  token_too_large: {
    status: 413,
    title: 'Access token too large',
    challenge: 'none',
    retryAfterSeconds: 0,
    detail: () =>
      "The bearer token is larger than this service accepts; keyward's tokens are far smaller. Send the token exactly as the token endpoint issued it.",
  },
  jwks_unavailable: {
    status: 503,
    title: 'Token keys unavailable',
    challenge: 'none',
    retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
    detail: () =>
      "Your access token could not be checked because the issuer's public keys (JWKS) could not be fetched; the token was not rejected. Retry after the number of seconds in the Retry-After header.",
  },
  store_unavailable: {
    status: 503,
    title: 'Key store unavailable',
    challenge: 'none',
    retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
    detail: () =>
      'Your API key could not be checked because the key store is unreachable; the key was not rejected. Retry after the number of seconds in the Retry-After header.',
  },
})

const WHERE: Record<CredentialSource, (queryParam: string) => string> = {
  'x-api-key': () => 'in the X-API-Key header',
  bearer: () => 'as "Authorization: Bearer <key>"',
  apikey: () => 'as "Authorization: ApiKey <key>"',
  query: (param) => `in the ${param} query parameter`,
}

/** "in the X-API-Key header or as "Authorization: Bearer <key>"", from the enabled sources. */
export function describeSources(sources: readonly CredentialSource[], queryParam: string): string {
  const parts = sources.map((s) => WHERE[s](queryParam))
  if (parts.length === 0) return 'the way this service documents'
  if (parts.length === 1) return parts[0]!
  return `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`
}

function scopeDetail(missing: readonly string[]): string {
  const list = missing.join(', ')
  return `This API key lacks the ${missing.length === 1 ? 'scope' : 'scopes'} ${list} needed here. Use a key that has ${missing.length === 1 ? 'it' : 'them'}, or ask the key's owner to add ${missing.length === 1 ? 'it' : 'them'}.`
}

/** Builds the responder of one resolved options set; static parts are computed once here. */
export function createResponder(
  options: Pick<ResolvedApiKeyOptions, 'realm' | 'sources' | 'queryParam' | 'errorBody'>,
): (
  denial: VerifyDenial,
  credentialPresented: boolean,
  extraHeaders?: Readonly<Record<string, string>>,
) => DeniedResponse {
  const how = describeSources(options.sources, options.queryParam)
  const realm = `Bearer realm="${options.realm}"`
  const errorBody = options.errorBody
  const problems = new Map<DenyCode, ProblemDetails>()
  const bodies = new Map<DenyCode, string>()
  for (const [code, spec] of Object.entries(DENIALS) as [DenyCode, DenialSpec][]) {
    const problem: ProblemDetails = {
      type: PROBLEM_TYPE_PREFIX + code,
      title: spec.title,
      status: spec.status,
      detail: spec.detail(how),
      code,
    }
    problems.set(code, Object.freeze(problem))
    bodies.set(code, JSON.stringify(problem))
  }

  return (denial, credentialPresented, extraHeaders) => {
    const code = denial.code
    const spec = DENIALS[code]
    let problem = problems.get(code)!
    let body = bodies.get(code)!
    const headers: Record<string, string> = {
      'content-type': 'application/problem+json',
      'cache-control': 'no-store',
    }
    if (spec.challenge === 'token') {
      headers['www-authenticate'] = credentialPresented ? `${realm}, error="invalid_token"` : realm
    } else if (spec.challenge === 'invalid_request') {
      headers['www-authenticate'] = `${realm}, error="invalid_request"`
    } else if (spec.challenge === 'insufficient_scope') {
      const missing = denial.missingScopes ?? []
      // scopes are validated (lowercase, digits, _ . - : *), so they are safe in a quoted-string
      headers['www-authenticate'] =
        missing.length > 0
          ? `${realm}, error="insufficient_scope", scope="${missing.join(' ')}"`
          : `${realm}, error="insufficient_scope"`
      if (missing.length > 0) {
        problem = { ...problem, detail: scopeDetail(missing), missingScopes: missing }
        body = JSON.stringify(problem)
      }
    }
    if (spec.retryAfterSeconds > 0) {
      const seconds = denial.retryAfterSeconds ?? spec.retryAfterSeconds
      headers['retry-after'] = String(toRetryAfterSeconds(seconds * 1000))
    }
    if (extraHeaders !== undefined) Object.assign(headers, extraHeaders)
    if (errorBody !== undefined) {
      const custom = errorBody({ ...problem }, denial)
      if (typeof custom?.type !== 'string') headers['content-type'] = 'application/json'
      body = JSON.stringify(custom)
    }
    return { status: spec.status, headers, body }
  }
}
