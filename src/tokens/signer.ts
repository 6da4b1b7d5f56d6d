import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { type Clock, systemClock } from '../core/clock.js'
import { KeywardError } from '../core/errors.js'
import { isKeyId } from '../core/key-format.js'
import { rejectUnknownOptions } from '../core/options.js'
import { isValidScope } from '../core/scopes.js'
import type { Store } from '../core/types.js'
import { createKeyEncryption, type SigningSecrets } from './key-encryption.js'
import {
  ACCESS_TOKEN_TYPE,
  DEFAULT_ACCESS_TOKEN_LIFETIME_SEC,
  DEFAULT_IDENTITY_TOKEN_LIFETIME_SEC,
  DEFAULT_RELOAD_INTERVAL_MS,
  IDENTITY_TOKEN_TYPE,
  MAX_RELOAD_INTERVAL_MS,
  MAX_TOKEN_LIFETIME_SEC,
  SIGNING_ALG,
} from './limits.js'
import { createSigningKeyRing, type PublishedJwks } from './signing-keys.js'

/** Options of `createTokenSigner`. */
export interface TokenSignerOptions {
  /** Where the signing keys live (shared by every node). */
  store: Store
  /** What encrypts the private keys at rest (see `SigningSecrets`). */
  secrets: SigningSecrets
  /**
   * The server's URL: `iss` of every token, e.g. `https://keys.example.com`; or a function
   * returning it, asked at the first signature (a server listening on a port it learns late).
   */
  issuer: string | (() => string)
  /** Default lifetime of access tokens, 1-3600 s. Default 300. */
  accessTokenLifetimeSec?: number
  /** Lifetime of `X-Keyward-Token`s, 1-3600 s. Default 60. */
  identityTokenLifetimeSec?: number
  /** How often the keys are read again (rotations made elsewhere), 100 ms-60 s. Default 10 s. */
  reloadIntervalMs?: number
  clock?: Clock
  /** A background reload failed (the previous keys stay in use). Default: a line on stderr. */
  onReloadError?: (error: unknown) => void
}

/** What `issueAccessToken` signs. */
export interface AccessTokenInput {
  /** The API key's id: `sub`, and `client_id` unless `clientId` is given. */
  keyId: string
  /** Granted scopes, `scope` (space-separated); already narrowed to what the key has. */
  scopes: readonly string[]
  /** `aud`: the API(s) the token is for (URIs or names without spaces). */
  audience: string | readonly string[]
  clientId?: string
  /** The key's owner, as the `owner` claim; omitted when null or absent. */
  ownerId?: string | null
  /** 1-3600 s; default the signer's `accessTokenLifetimeSec`. */
  lifetimeSec?: number
}

/** An issued access token and what an OAuth token response needs of it. */
export interface IssuedAccessToken {
  token: string
  /** Seconds until it expires (`expires_in`). */
  expiresIn: number
  /** Epoch ms. */
  expiresAt: number
  /** The `scope` claim. */
  scope: string
  /** The `jti` claim. */
  tokenId: string
}

/** What `issueIdentityToken` signs for one proxied request. */
export interface IdentityTokenInput {
  keyId: string
  scopes: readonly string[]
  /** The upstream the request goes to (`aud`), e.g. `http://127.0.0.1:3000`. */
  audience: string
  ownerId?: string | null
}

/** Issues keyward's JWTs with the store's current signing key, and publishes the JWKS. */
export interface TokenSigner {
  /** An RFC 9068 access token (`typ: at+jwt`). @throws KeywardError `invalid_argument` */
  issueAccessToken(input: AccessTokenInput): Promise<IssuedAccessToken>
  /** An `X-Keyward-Token` (`typ: keyward-identity+jwt`). @throws KeywardError `invalid_argument` */
  issueIdentityToken(input: IdentityTokenInput): Promise<string>
  /** The public keys for `GET /.well-known/jwks.json`; the same object until the set changes. */
  jwks(): PublishedJwks
  /** `iss` of the tokens it signs (a function `issuer` option is asked on the first call). */
  issuer(): string
  /**
   * Reads the signing keys again now: the hook for a change feed after a rotation elsewhere.
   * Without it, rotations are picked up within `reloadIntervalMs`.
   */
  reload(): Promise<void>
  /** Stops the reload timer. */
  close(): void
}

const OPTION_NAMES = new Set([
  'store',
  'secrets',
  'issuer',
  'accessTokenLifetimeSec',
  'identityTokenLifetimeSec',
  'reloadIntervalMs',
  'clock',
  'onReloadError',
])

function checkLifetime(
  value: unknown,
  what: string,
  code: 'invalid_options' | 'invalid_argument' = 'invalid_options',
): number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 1 ||
    value > MAX_TOKEN_LIFETIME_SEC
  )
    throw new KeywardError(
      code,
      `"${what}" must be a whole number of seconds from 1 to ${MAX_TOKEN_LIFETIME_SEC}, got ${JSON.stringify(value)}`,
    )
  return value
}

function checkUri(value: unknown, what: string, code: 'invalid_options' | 'invalid_argument') {
  if (typeof value !== 'string' || value.length > 2048 || !URL.canParse(value))
    throw new KeywardError(
      code,
      `"${what}" must be an absolute URL (e.g. "https://api.example.com"), got ${JSON.stringify(value)?.slice(0, 100)}`,
    )
  return value
}

/** An `aud` value: a URI or name, printable, without spaces (RFC 7519 StringOrURI). */
function checkAudience(value: unknown): string {
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,2048}$/.test(value))
    throw bad(
      `"audience" must be a URI or name without spaces (e.g. "https://api.example.com"), got ${JSON.stringify(value)?.slice(0, 100)}`,
    )
  return value
}

function bad(message: string): KeywardError {
  return new KeywardError('invalid_argument', message)
}

function checkSubject(keyId: unknown, scopes: unknown, ownerId: unknown): string {
  if (typeof keyId !== 'string' || !isKeyId(keyId))
    throw bad(
      `"keyId" must be a key id (key_ and 16 base62 characters), got ${JSON.stringify(keyId)}`,
    )
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && isValidScope(s)))
    throw bad(
      `"scopes" must be a list of valid scopes (e.g. ["orders:read"]), got ${JSON.stringify(scopes)}`,
    )
  if (ownerId !== undefined && ownerId !== null && (typeof ownerId !== 'string' || ownerId === ''))
    throw bad(`"ownerId" must be a non-empty string or null, got ${JSON.stringify(ownerId)}`)
  return keyId
}

/**
 * Creates the token signer of a server: loads the signing keys from the store (creating the
 * first one on an empty store, once across nodes), signs with the current one, reloads them
 * every `reloadIntervalMs`, and publishes the JWKS.
 *
 * @example
 * const signer = await createTokenSigner({ store, issuer: 'https://keys.example.com', secrets: { peppers } })
 * const { token, expiresIn } = await signer.issueAccessToken({ keyId, scopes: ['orders:read'], audience: 'https://api.example.com' })
 * @throws KeywardError `invalid_options`, `signing_secret_mismatch`, `store_corrupt`, `store_unavailable`
 */
export async function createTokenSigner(options: TokenSignerOptions): Promise<TokenSigner> {
  if (options === null || typeof options !== 'object')
    throw new KeywardError('invalid_options', 'createTokenSigner needs { store, secrets, issuer }')
  rejectUnknownOptions(options, OPTION_NAMES, 'createTokenSigner')
  const { store } = options
  if (store === null || typeof store !== 'object' || typeof store.listSigningKeys !== 'function')
    throw new KeywardError('invalid_options', '"store" must be a keyward Store')
  const issuerOption = options.issuer
  let issuer: string | null =
    typeof issuerOption === 'function' ? null : checkUri(issuerOption, 'issuer', 'invalid_options')
  const accessLifetime = checkLifetime(
    options.accessTokenLifetimeSec ?? DEFAULT_ACCESS_TOKEN_LIFETIME_SEC,
    'accessTokenLifetimeSec',
  )
  const identityLifetime = checkLifetime(
    options.identityTokenLifetimeSec ?? DEFAULT_IDENTITY_TOKEN_LIFETIME_SEC,
    'identityTokenLifetimeSec',
  )
  const reloadIntervalMs = options.reloadIntervalMs ?? DEFAULT_RELOAD_INTERVAL_MS
  if (
    !Number.isSafeInteger(reloadIntervalMs) ||
    reloadIntervalMs < 100 ||
    reloadIntervalMs > MAX_RELOAD_INTERVAL_MS
  )
    throw new KeywardError(
      'invalid_options',
      `"reloadIntervalMs" must be a whole number of ms from 100 to ${MAX_RELOAD_INTERVAL_MS}, got ${reloadIntervalMs}`,
    )
  const clock = options.clock ?? systemClock
  const encryption = createKeyEncryption(options.secrets)
  const ring = await createSigningKeyRing({
    store,
    encryption,
    clock,
    reloadIntervalMs,
    onReloadError:
      options.onReloadError ??
      ((e) =>
        process.stderr.write(
          `keyward: reloading the token signing keys failed, signing with the keys loaded before: ${e instanceof Error ? e.message : String(e)}\n`,
        )),
  })

  function issuerNow(): string {
    issuer ??= checkUri((issuerOption as () => string)(), 'issuer', 'invalid_options')
    return issuer
  }

  async function sign(
    typ: string,
    claims: Record<string, unknown>,
    lifetimeSec: number,
  ): Promise<{ token: string; iat: number; exp: number; jti: string }> {
    const key = ring.current()
    const iat = Math.floor(clock.now() / 1000)
    const exp = iat + lifetimeSec
    const jti = randomUUID()
    const token = await new SignJWT({ ...claims, iss: issuerNow(), iat, exp, jti })
      .setProtectedHeader({ alg: SIGNING_ALG, typ, kid: key.kid })
      .sign(key.privateKey)
    return { token, iat, exp, jti }
  }

  return {
    async issueAccessToken(input) {
      const keyId = checkSubject(input.keyId, input.scopes, input.ownerId)
      const audience = input.audience
      const audiences = typeof audience === 'string' ? [audience] : audience
      if (!Array.isArray(audiences) || audiences.length === 0)
        throw bad('"audience" must be a URI or a non-empty list of them')
      for (const a of audiences) checkAudience(a)
      const clientId = input.clientId ?? keyId
      if (typeof clientId !== 'string' || clientId === '')
        throw bad(`"clientId" must be a non-empty string, got ${JSON.stringify(clientId)}`)
      const lifetime =
        input.lifetimeSec === undefined
          ? accessLifetime
          : checkLifetime(input.lifetimeSec, 'lifetimeSec', 'invalid_argument')
      const scope = input.scopes.join(' ')
      const claims: Record<string, unknown> = {
        sub: keyId,
        aud: audiences.length === 1 ? audiences[0] : [...audiences],
        client_id: clientId,
        scope,
      }
      if (typeof input.ownerId === 'string') claims.owner = input.ownerId
      const { token, exp, jti } = await sign(ACCESS_TOKEN_TYPE, claims, lifetime)
      return { token, expiresIn: lifetime, expiresAt: exp * 1000, scope, tokenId: jti }
    },
    async issueIdentityToken(input) {
      const keyId = checkSubject(input.keyId, input.scopes, input.ownerId)
      const audience = checkUri(input.audience, 'audience', 'invalid_argument')
      const claims: Record<string, unknown> = {
        sub: keyId,
        aud: audience,
        scope: input.scopes.join(' '),
      }
      if (typeof input.ownerId === 'string') claims.owner = input.ownerId
      return (await sign(IDENTITY_TOKEN_TYPE, claims, identityLifetime)).token
    },
    jwks: () => ring.jwks(),
    issuer: issuerNow,
    reload: () => ring.reload(),
    close: () => ring.close(),
  }
}
