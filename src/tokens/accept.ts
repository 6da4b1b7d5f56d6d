// Bearer access tokens in the middleware: a verifier with the shape the adapters' `keyward`
// option takes, which checks JWTs itself (and hands API keys to a Keyward), so that every
// adapter accepts tokens without a line of its own and answers them from the one denial table.
import { hash, randomBytes } from 'node:crypto'
import type { JSONWebKeySet } from 'jose'
import { type Clock, systemClock } from '../core/clock.js'
import { type DenyCode, KeywardError } from '../core/errors.js'
import { rejectUnknownOptions } from '../core/options.js'
import {
  compileImpliedScopes,
  compileScopes,
  expandImplied,
  type ScopeSet,
} from '../core/scopes.js'
import type {
  VerifiedKey,
  VerifyDenial,
  VerifyOptions,
  VerifyResult,
  VerifySuccess,
} from '../core/verify-types.js'
import { TokenError } from './errors.js'
import { DEFAULT_MAX_TOKEN_BYTES } from './limits.js'
import type { RevocationList } from './revocations.js'
import { createTokenVerifier, type TokenVerifier, type VerifiedToken } from './verify.js'

/** What the adapters need of a verifier (the `KeyVerifier` of keyward/node and the others). */
export interface CredentialVerifier {
  verify(credential: string | null | undefined, options?: VerifyOptions): Promise<VerifyResult>
  verifyCached?(
    credential: string | null | undefined,
    options?: VerifyOptions,
  ): VerifyResult | undefined
}

/** Options of `acceptTokens`. Give `jwks` or `jwksUrl`. */
export interface AcceptTokensOptions {
  /**
   * Also accept API keys, verified by this `Keyward` (anything with its `verify`). Without it
   * only tokens are accepted. With it, a credential starting with `eyJ` (a JSON object in
   * base64url, as every JWT does) is checked as a token and anything else as a key.
   */
  keyward?: CredentialVerifier
  /** A local key set (e.g. `() => signer.jwks()`), or a function returning the current one. */
  jwks?: JSONWebKeySet | (() => JSONWebKeySet)
  /** keyward's `/.well-known/jwks.json`: cached, refreshed on an unknown kid at most once per cooldown. */
  jwksUrl?: string | URL
  /**
   * The expected `iss`: the keyward server's URL (its `--public-url`). A function is asked
   * once, at the first token (a server that learns its own URL when it listens).
   */
  issuer: string | (() => string)
  /** This service: the token's `aud` must name it (or one of these). A function: as `issuer`. */
  audience: string | readonly string[] | (() => string | readonly string[])
  /** Refuses tokens of keys revoked or disabled after they were issued (`createRevocationList`). */
  revocations?: RevocationList
  /**
   * Scopes that grant others, as `createKeyward`'s option: a token holding `admin` passes
   * checks for what it implies.
   */
  impliedScopes?: Readonly<Record<string, readonly string[]>>
  /** Leeway for `exp`, `nbf` and `iat`, 0-60 s. Default 5. */
  clockToleranceSec?: number
  /** Longer bearer tokens are refused unparsed (413 `token_too_large`). Default 8192. */
  maxTokenBytes?: number
  /**
   * Verified tokens remembered until they expire (by a salted hash, never the token), so that
   * a token's signature is checked once rather than on every request. Default 10 000; 0 turns
   * it off. The oldest is dropped when it is full.
   */
  cacheMaxEntries?: number
  /** Remote JWKS: least time between two fetches for unknown kids or after a failure. Default 30 s. */
  jwksCooldownMs?: number
  /** Remote JWKS: fetched again when older than this. Default 10 min. */
  jwksCacheMaxAgeMs?: number
  /** Remote JWKS: a fetch slower than this fails. Default 5 s. */
  jwksTimeoutMs?: number
  clock?: Clock
}

const OPTION_NAMES = new Set([
  'keyward',
  'jwks',
  'jwksUrl',
  'issuer',
  'audience',
  'revocations',
  'impliedScopes',
  'clockToleranceSec',
  'maxTokenBytes',
  'cacheMaxEntries',
  'jwksCooldownMs',
  'jwksCacheMaxAgeMs',
  'jwksTimeoutMs',
  'clock',
])
/** A verified token, kept for its later requests. */
interface Entry {
  readonly keyId: string
  readonly issuedAtSec: number
  /** Epoch ms after which the token is refused as expired (its `exp` plus the tolerance). */
  readonly refuseFrom: number
  readonly scopes: ScopeSet
  readonly success: VerifySuccess
}

const MISSING: VerifyDenial = Object.freeze({ ok: false, code: 'key_missing' })
const NO_SCOPES: readonly string[] = Object.freeze([])
const NO_METADATA = Object.freeze({})

const bad = (message: string) => new KeywardError('invalid_options', message)

/** A denial for a refused token, with the `TokenError` as its cause (for `onDenied` logs). */
function refusal(error: TokenError, keyId?: string): VerifyDenial {
  const denial: { -readonly [K in keyof VerifyDenial]: VerifyDenial[K] } = {
    ok: false,
    code: error.code as DenyCode,
    cause: error,
  }
  if (keyId !== undefined) denial.keyId = keyId
  return denial
}

function checkCacheSize(value: unknown): number {
  const n = value ?? 10_000
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw bad(`"cacheMaxEntries" must be a whole number >= 0, got ${JSON.stringify(value)}`)
  return n
}

/**
 * A verifier for the middleware (`requireApiKey({ keyward: acceptTokens(…) })`, any adapter)
 * that accepts `Authorization: Bearer <access token>` from keyward's token endpoint, checked
 * with no call to keyward: EdDSA only, a key of the JWKS, `typ: at+jwt`, the issuer and this
 * service as audience, not expired (see `createTokenVerifier`). `req.apiKey` is filled from
 * the token (`id` = `sub`, `ownerId`, `scopes`, and `token` with its claims); required scopes
 * and their 403 work as for keys. Refused tokens are 401 `token_invalid` / `token_expired` /
 * `token_revoked`, 413 `token_too_large`, or 503 `jwks_unavailable` when the key set cannot
 * be fetched. With `keyward`, API keys keep working beside tokens.
 *
 * What a token cannot carry is not checked when it is used: the key's IP allowlist, rate
 * limits and quota apply when the token is issued. Revoking a key ends its tokens only with a
 * `revocations` list; otherwise they count until they expire.
 *
 * @example
 * const verifier = acceptTokens({
 *   keyward, // optional: API keys too
 *   jwksUrl: 'https://keys.internal/.well-known/jwks.json',
 *   issuer: 'https://keys.internal',
 *   audience: 'https://orders.internal',
 * })
 * app.use(requireApiKey({ keyward: verifier, scopes: ['orders:read'] }))
 * @throws KeywardError `invalid_options` naming the option
 */
export function acceptTokens(options: AcceptTokensOptions): CredentialVerifier {
  if (options === null || typeof options !== 'object')
    throw bad('acceptTokens needs { jwks or jwksUrl, issuer, audience }')
  rejectUnknownOptions(options, OPTION_NAMES, 'acceptTokens')
  const keys = options.keyward
  if (keys !== undefined && typeof keys?.verify !== 'function')
    throw bad('"keyward" must be a Keyward (from createKeyward) or have a verify() method')
  const keysCached = keys?.verifyCached?.bind(keys)
  const revocations = options.revocations
  if (revocations !== undefined && typeof revocations?.isRevoked !== 'function')
    throw bad('"revocations" must come from createRevocationList()')
  let implied: ReadonlyMap<string, readonly string[]> | null = null
  if (options.impliedScopes !== undefined) {
    try {
      implied = compileImpliedScopes(options.impliedScopes)
    } catch (error) {
      throw bad(`"impliedScopes": ${(error as Error).message}`)
    }
  }
  const cacheMax = checkCacheSize(options.cacheMaxEntries)
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES
  const clock = options.clock ?? systemClock
  const toleranceMs = (options.clockToleranceSec ?? 5) * 1000
  // the rest are createTokenVerifier's own options, passed on as they are
  const {
    keyward: _keys,
    revocations: _revocations,
    impliedScopes: _implied,
    cacheMaxEntries: _cacheMax,
    issuer,
    audience,
    ...passed
  } = options
  const build = (): TokenVerifier =>
    createTokenVerifier({
      ...passed,
      issuer: typeof issuer === 'function' ? issuer() : issuer,
      audience: typeof audience === 'function' ? audience() : audience,
    })
  // built now, so that bad options fail here, unless the issuer or audience is known later
  let tokens: TokenVerifier | null =
    typeof issuer === 'function' || typeof audience === 'function' ? null : build()

  const cache = new Map<string, Entry>()
  const salt = randomBytes(16).toString('base64')
  // one fast hash of the token with a per-process salt: the cache never holds a token
  const cacheKey = (token: string) => hash('sha256', salt + token, 'base64url')
  const tooLarge = Object.freeze(
    refusal(
      new TokenError(
        'token_too_large',
        `the token is longer than ${maxTokenBytes} bytes: keyward's tokens are far shorter`,
      ),
    ),
  )

  /** Expiry, revocation and scopes: what may change between two requests with one token. */
  function decide(
    entry: Entry,
    verifyOptions: VerifyOptions | undefined,
    now: number,
  ): VerifyResult {
    if (now >= entry.refuseFrom) return { ok: false, code: 'token_expired', keyId: entry.keyId }
    if (revocations?.isRevoked(entry.keyId, entry.issuedAtSec) === true)
      return { ok: false, code: 'token_revoked', keyId: entry.keyId }
    const required = verifyOptions?.scopes
    if (required !== undefined && required.length > 0) {
      const missingScopes = entry.scopes.missing(required)
      if (missingScopes.length > 0)
        return { ok: false, code: 'insufficient_scope', keyId: entry.keyId, missingScopes }
    }
    return entry.success
  }

  function remember(token: string, t: VerifiedToken): Entry {
    const own = t.scopes.length === 0 ? NO_SCOPES : Object.freeze(t.scopes)
    const scopes = implied === null ? own : Object.freeze(expandImplied(own, implied))
    const key: VerifiedKey = Object.freeze({
      id: t.keyId,
      name: '',
      ownerId: t.ownerId,
      prefix: '',
      hint: '',
      scopes,
      roles: NO_SCOPES,
      metadata: NO_METADATA,
      expiresAt: t.expiresAt,
      rateLimits: [],
      quota: null,
      token: Object.freeze({
        id: t.tokenId,
        clientId: t.clientId,
        audience: Object.freeze(t.audience),
        issuedAt: t.issuedAt,
        expiresAt: t.expiresAt,
      }),
    })
    const entry: Entry = {
      keyId: t.keyId,
      issuedAtSec: t.issuedAt / 1000,
      refuseFrom: t.expiresAt + toleranceMs,
      scopes: compileScopes(scopes),
      success: Object.freeze({ ok: true, key }),
    }
    if (cacheMax > 0) {
      if (cache.size >= cacheMax) cache.delete(cache.keys().next().value!)
      cache.set(cacheKey(token), entry)
    }
    return entry
  }

  /** A token from the cache, or `undefined` when its signature must be checked. */
  function fromCache(token: string, verifyOptions: VerifyOptions | undefined) {
    if (token.length > maxTokenBytes) return tooLarge
    if (cacheMax === 0) return undefined
    const id = cacheKey(token)
    const entry = cache.get(id)
    if (entry === undefined) return undefined
    const result = decide(entry, verifyOptions, clock.now())
    if (!result.ok && result.code === 'token_expired') cache.delete(id)
    return result
  }

  const isToken = (credential: string) => keys === undefined || credential.startsWith('eyJ')

  return {
    verifyCached(credential, verifyOptions) {
      if (typeof credential !== 'string' || !isToken(credential)) {
        if (keys === undefined) return credential == null ? MISSING : undefined
        return keysCached?.(credential, verifyOptions)
      }
      return fromCache(credential, verifyOptions)
    },
    async verify(credential, verifyOptions) {
      if (typeof credential !== 'string' || !isToken(credential)) {
        if (keys !== undefined) return keys.verify(credential, verifyOptions)
        if (credential == null) return MISSING
      }
      const token = credential as string
      const cached = typeof token === 'string' ? fromCache(token, verifyOptions) : undefined
      if (cached !== undefined) return cached
      let verified: VerifiedToken
      try {
        tokens ??= build()
        verified = await tokens.verify(token)
      } catch (error) {
        if (error instanceof TokenError) return refusal(error)
        throw error
      }
      return decide(remember(token, verified), verifyOptions, clock.now())
    },
  }
}
