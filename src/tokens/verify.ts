import {
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose'
import { type Clock, systemClock } from '../core/clock.js'
import { KeywardError } from '../core/errors.js'
import { classifyShape } from '../core/key-format.js'
import { rejectUnknownOptions } from '../core/options.js'
import { TokenError, toTokenError } from './errors.js'
import { hasDuplicateMembers } from './json-members.js'
import {
  ACCESS_TOKEN_TYPE,
  DEFAULT_MAX_TOKEN_BYTES,
  MAX_CLOCK_TOLERANCE_SEC,
  MAX_TOKEN_LIFETIME_SEC,
  SIGNING_ALG,
} from './limits.js'
import { sharedRemoteKeySet } from './remote-jwks.js'

/** Options of `createTokenVerifier` and `verifyAccessToken`. Give `jwks` or `jwksUrl`. */
export interface VerifyTokenOptions {
  /**
   * A local key set: a JWKS object, or a function returning the current one (e.g.
   * `() => signer.jwks()`), read on every verification and cached while it returns the same object.
   */
  jwks?: JSONWebKeySet | (() => JSONWebKeySet)
  /** keyward's `/.well-known/jwks.json`: fetched, cached, refreshed on an unknown kid at most once per cooldown. */
  jwksUrl?: string | URL
  /** The expected `iss` (the keyward server's URL). */
  issuer: string
  /** This service: the token's `aud` must name it (or one of these). */
  audience: string | readonly string[]
  /** The expected `typ`. Default `at+jwt`. */
  typ?: string
  /** Accepted signature algorithms, asymmetric only. Default `['EdDSA']`. */
  algorithms?: readonly string[]
  /** Leeway for `exp`, `nbf` and `iat`, 0-60 s. Default 5. */
  clockToleranceSec?: number
  /** Longer tokens are refused unparsed with `token_too_large`. Default 8192. */
  maxTokenBytes?: number
  /** Remote JWKS: least time between two fetches for unknown kids or after a failure. Default 30 s. */
  jwksCooldownMs?: number
  /** Remote JWKS: fetched again when older than this. Default 10 min. */
  jwksCacheMaxAgeMs?: number
  /** Remote JWKS: a fetch slower than this fails. Default 5 s. */
  jwksTimeoutMs?: number
  clock?: Clock
}

/** What a verified token says. */
export interface VerifiedToken {
  /** `sub`: the API key's id. */
  keyId: string
  /** `scope`, split. */
  scopes: string[]
  /** The `owner` claim, or null. */
  ownerId: string | null
  /** `client_id` (access tokens), or null. */
  clientId: string | null
  issuer: string
  audience: string[]
  /** `jti`. */
  tokenId: string
  /** Epoch ms. */
  issuedAt: number
  /** Epoch ms. */
  expiresAt: number
  /** Every claim, as signed. */
  claims: JWTPayload
}

/** A verifier with its options resolved once. */
export interface TokenVerifier {
  /** @throws TokenError `token_invalid`, `token_expired`, `token_too_large`, `jwks_unavailable` */
  verify(token: string): Promise<VerifiedToken>
}

const OPTION_NAMES = new Set([
  'jwks',
  'jwksUrl',
  'issuer',
  'audience',
  'typ',
  'algorithms',
  'clockToleranceSec',
  'maxTokenBytes',
  'jwksCooldownMs',
  'jwksCacheMaxAgeMs',
  'jwksTimeoutMs',
  'clock',
])
const ASYMMETRIC = /^(EdDSA|Ed25519|ES(256|384|512)|RS(256|384|512)|PS(256|384|512))$/
const DEFAULT_CLOCK_TOLERANCE_SEC = 5
// three non-empty base64url parts: no padding, no other characters, no fourth part
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
// bounds what reaches a key lookup: our kids are sk_ and 16 base62 characters
const KID = /^[A-Za-z0-9_-]{1,64}$/

const bad = (message: string) => new KeywardError('invalid_options', message)

function checkMs(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback
  if (!Number.isSafeInteger(v) || v < 0)
    throw bad(`"${what}" must be a whole number of ms >= 0, got ${v}`)
  return v
}

function nonEmptyStrings(value: unknown, what: string): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((v) => typeof v === 'string' && v !== '')
  )
    throw bad(`"${what}" must be a non-empty string or list of them, got ${JSON.stringify(value)}`)
  return [...list]
}

/** A local key set, or a function of one rebuilt only when it returns another object. */
function localKeySet(jwks: JSONWebKeySet | (() => JSONWebKeySet)): JWTVerifyGetKey {
  if (typeof jwks !== 'function') return createLocalJWKSet(jwks)
  let source: JSONWebKeySet | null = null
  let set: JWTVerifyGetKey | null = null
  return (header, token) => {
    const current = jwks()
    if (current !== source || set === null) {
      set = createLocalJWKSet(current)
      source = current
    }
    return set(header, token)
  }
}

function resolve(options: VerifyTokenOptions) {
  if (options === null || typeof options !== 'object')
    throw bad('token verification needs { jwks or jwksUrl, issuer, audience }')
  rejectUnknownOptions(options, OPTION_NAMES, 'token verification')
  const { jwks, jwksUrl } = options
  if ((jwks === undefined) === (jwksUrl === undefined))
    throw bad(
      'give exactly one of "jwks" (a key set) and "jwksUrl" (keyward\'s /.well-known/jwks.json)',
    )
  const issuer = nonEmptyStrings(options.issuer, 'issuer')
  if (issuer.length !== 1) throw bad('"issuer" must be one string')
  const audience = nonEmptyStrings(options.audience, 'audience')
  const typ = options.typ ?? ACCESS_TOKEN_TYPE
  if (typeof typ !== 'string' || typ === '')
    throw bad(`"typ" must be a non-empty string, got ${JSON.stringify(typ)}`)
  const algorithms = nonEmptyStrings(options.algorithms ?? [SIGNING_ALG], 'algorithms')
  for (const alg of algorithms)
    if (!ASYMMETRIC.test(alg))
      throw bad(
        `"algorithms" may only name asymmetric signature algorithms (EdDSA, ES256, RS256, …), got ${JSON.stringify(alg)}`,
      )
  const tolerance = options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC
  if (
    typeof tolerance !== 'number' ||
    !Number.isFinite(tolerance) ||
    tolerance < 0 ||
    tolerance > MAX_CLOCK_TOLERANCE_SEC
  )
    throw bad(`"clockToleranceSec" must be from 0 to ${MAX_CLOCK_TOLERANCE_SEC}, got ${tolerance}`)
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES
  if (!Number.isSafeInteger(maxTokenBytes) || maxTokenBytes < 64)
    throw bad(`"maxTokenBytes" must be a whole number >= 64, got ${maxTokenBytes}`)
  let keySet: JWTVerifyGetKey
  if (jwksUrl !== undefined) {
    let url: URL
    try {
      url = new URL(jwksUrl)
    } catch {
      throw bad(`"jwksUrl" must be an absolute http(s) URL, got ${JSON.stringify(String(jwksUrl))}`)
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw bad(`"jwksUrl" must be an http(s) URL, got ${JSON.stringify(url.href)}`)
    keySet = sharedRemoteKeySet(url, {
      cooldownMs: checkMs(options.jwksCooldownMs, 30_000, 'jwksCooldownMs'),
      cacheMaxAgeMs: checkMs(options.jwksCacheMaxAgeMs, 600_000, 'jwksCacheMaxAgeMs'),
      timeoutMs: checkMs(options.jwksTimeoutMs, 5000, 'jwksTimeoutMs'),
    })
  } else {
    if (jwks === null || (typeof jwks !== 'object' && typeof jwks !== 'function'))
      throw bad('"jwks" must be a JWKS object ({ keys: [...] }) or a function returning one')
    try {
      keySet = localKeySet(jwks)
    } catch (cause) {
      throw new KeywardError('invalid_options', '"jwks" is not a valid JWKS ({ keys: [...] })', {
        cause,
      })
    }
  }
  const clock = options.clock ?? systemClock
  return { keySet, issuer: issuer[0]!, audience, typ, algorithms, tolerance, maxTokenBytes, clock }
}

/** What every keyward JWT has; `client_id` is added for access tokens. */
const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti']

function refuse(message: string): TokenError {
  return new TokenError('token_invalid', message)
}

function decodeSegment(segment: string): string {
  return Buffer.from(segment, 'base64url').toString('utf8')
}

/**
 * Builds a verifier of keyward JWTs. Before any parsing a token is refused when longer than
 * `maxTokenBytes` (`token_too_large`) or not three base64url parts. Then jose's `jwtVerify`
 * checks it with the algorithms allowed (EdDSA only by default), the key of its `kid` from the
 * key set and nothing else (`jwk`, `jku`, `x5u` and `x5c` headers are ignored: nothing is
 * fetched because a token says so), `typ`, `iss`, `aud`, `exp`, `nbf` and `iat` within the
 * clock tolerance; then the claims keyward always sets, and duplicate JSON member names.
 *
 * @example
 * const verifier = createTokenVerifier({ jwksUrl: 'https://keys.example.com/.well-known/jwks.json', issuer: 'https://keys.example.com', audience: 'https://api.example.com' })
 * const { keyId, scopes } = await verifier.verify(jwt)
 * @throws KeywardError `invalid_options` for bad options (at once, not per token)
 */
export function createTokenVerifier(options: VerifyTokenOptions): TokenVerifier {
  const r = resolve(options)
  const required = r.typ === ACCESS_TOKEN_TYPE ? [...REQUIRED_CLAIMS, 'client_id'] : REQUIRED_CLAIMS
  const getKey: JWTVerifyGetKey = (header, token) => {
    if (typeof header.kid !== 'string' || !KID.test(header.kid))
      throw refuse('the token names no usable signing key ("kid"): it was not issued by keyward')
    return r.keySet(header, token)
  }
  const jwtOptions = {
    algorithms: r.algorithms,
    issuer: r.issuer,
    audience: r.audience,
    typ: r.typ,
    clockTolerance: r.tolerance,
    // also refuses an "iat" in the future beyond the tolerance
    maxTokenAge: MAX_TOKEN_LIFETIME_SEC,
    requiredClaims: required,
  }

  return {
    async verify(token) {
      if (typeof token !== 'string') throw refuse('the token must be a string')
      if (token.length > r.maxTokenBytes)
        throw new TokenError(
          'token_too_large',
          `the token is longer than ${r.maxTokenBytes} bytes: keyward's tokens are far shorter`,
        )
      if (!COMPACT_JWS.test(token)) {
        throw refuse(
          classifyShape(token) === 'keyward'
            ? 'this is an API key, not a JWT: send it in X-API-Key, or trade it for a token at /oauth/token'
            : 'the token is not a JWT: expected three base64url parts separated by dots',
        )
      }
      let result: Awaited<ReturnType<typeof jwtVerify>>
      try {
        result = await jwtVerify(
          token,
          getKey,
          r.clock === systemClock
            ? jwtOptions
            : { ...jwtOptions, currentDate: new Date(r.clock.now()) },
        )
      } catch (e) {
        throw toTokenError(e)
      }
      const { payload } = result
      const dot = token.indexOf('.')
      if (
        hasDuplicateMembers(decodeSegment(token.slice(0, dot))) ||
        hasDuplicateMembers(decodeSegment(token.slice(dot + 1, token.lastIndexOf('.'))))
      )
        throw refuse(
          'the token names a JSON member twice: refused, since JSON parsers disagree on which one counts',
        )
      return claimsOf(payload)
    },
  }
}

function claimsOf(payload: JWTPayload): VerifiedToken {
  const { sub, jti, scope, owner, client_id: clientId } = payload as Record<string, unknown>
  if (typeof sub !== 'string' || sub === '')
    throw refuse('the token\'s "sub" must be a non-empty string')
  if (typeof jti !== 'string' || jti === '')
    throw refuse('the token\'s "jti" must be a non-empty string')
  if (scope !== undefined && typeof scope !== 'string')
    throw refuse('the token\'s "scope" must be a string')
  if (owner !== undefined && typeof owner !== 'string')
    throw refuse('the token\'s "owner" must be a string')
  if (clientId !== undefined && typeof clientId !== 'string')
    throw refuse('the token\'s "client_id" must be a string')
  const aud = payload.aud!
  return {
    keyId: sub,
    scopes: scope === undefined || scope === '' ? [] : scope.split(' ').filter((s) => s !== ''),
    ownerId: owner ?? null,
    clientId: clientId ?? null,
    issuer: payload.iss!,
    audience: typeof aud === 'string' ? [aud] : [...aud],
    tokenId: jti,
    issuedAt: payload.iat! * 1000,
    expiresAt: payload.exp! * 1000,
    claims: payload,
  }
}

// The function form builds its verifier once per options object, so that a caller passing
// the same options on every request pays nothing more than the factory's users.
const verifiers = new WeakMap<object, TokenVerifier>()

/** The verifier of an options object, built once. */
export function verifierFor(options: VerifyTokenOptions): TokenVerifier {
  if (options === null || typeof options !== 'object') return createTokenVerifier(options)
  let v = verifiers.get(options)
  if (v === undefined) {
    v = createTokenVerifier(options)
    verifiers.set(options, v)
  }
  return v
}

/**
 * Verifies an access token (RFC 9068, `typ: at+jwt`) issued by keyward; see
 * `createTokenVerifier` for every check. Pass the same options object each time (or use
 * `createTokenVerifier`): remote key sets are shared by URL in any case.
 *
 * @example
 * const token = await verifyAccessToken(jwt, { jwksUrl, issuer: 'https://keys.example.com', audience: 'https://api.example.com' })
 * if (!token.scopes.includes('orders:read')) return forbid()
 * @throws TokenError `token_invalid`, `token_expired`, `token_too_large`, `jwks_unavailable`;
 * KeywardError `invalid_options`
 */
export async function verifyAccessToken(
  token: string,
  options: VerifyTokenOptions,
): Promise<VerifiedToken> {
  return verifierFor(options).verify(token)
}
