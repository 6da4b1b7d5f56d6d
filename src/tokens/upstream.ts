// keyward/upstream: for a Node service behind `keyward serve --upstream`, one function that
// checks the X-Keyward-Token the proxy adds to every request.
import type { JSONWebKeySet } from 'jose'
import { KeywardError } from '../core/errors.js'
import { rejectUnknownOptions } from '../core/options.js'
import { TokenError } from './errors.js'
import { IDENTITY_TOKEN_TYPE } from './limits.js'
import { type VerifyTokenOptions, verifierFor } from './verify.js'

export { TokenError, type TokenErrorCode } from './errors.js'

/** Options of `verifyKeywardToken`. Give `jwksUrl` or `keys`. */
export interface KeywardTokenOptions {
  /** The proxy's `/.well-known/jwks.json`, e.g. `https://keys.internal/.well-known/jwks.json`. */
  jwksUrl?: string | URL
  /** A key set held locally instead (e.g. read once from that URL at deploy time). */
  keys?: JSONWebKeySet
  /** The keyward server's URL, as it signs (`iss`). */
  issuer: string
  /** This service's URL, as the proxy forwards to it (`--upstream`, the token's `aud`). */
  audience: string
  /** Leeway for `exp` and `iat`, 0-60 s. Default 5. */
  clockToleranceSec?: number
}

/** Who called, as keyward authenticated them. */
export interface KeywardIdentity {
  /** The API key's id (`key_…`). */
  keyId: string
  scopes: string[]
  ownerId: string | null
  /**
   * The token's `jti`: it names the token, not the request (the proxy sends one token again
   * for the same key and upstream for up to 30 s), for logs.
   */
  tokenId: string
  /** Epoch ms. */
  expiresAt: number
}

// the options object a caller passes each time -> the verifier options built from it, once
const resolved = new WeakMap<KeywardTokenOptions, VerifyTokenOptions>()

const OPTION_NAMES = new Set(['jwksUrl', 'keys', 'issuer', 'audience', 'clockToleranceSec'])

function toVerifyOptions(options: KeywardTokenOptions): VerifyTokenOptions {
  let v = resolved.get(options)
  if (v === undefined) {
    rejectUnknownOptions(options, OPTION_NAMES, 'verifyKeywardToken')
    const { jwksUrl, keys, ...rest } = options
    v = {
      ...rest,
      typ: IDENTITY_TOKEN_TYPE,
      ...(jwksUrl === undefined ? {} : { jwksUrl }),
      ...(keys === undefined ? {} : { jwks: keys }),
    }
    resolved.set(options, v)
  }
  return v
}

/**
 * Verifies the `X-Keyward-Token` header of a request forwarded by `keyward serve --upstream`:
 * EdDSA only, signed by a key of the JWKS, `typ: keyward-identity+jwt`, the issuer and this
 * service as audience, not expired (tokens live 60 s). With it the service need not trust
 * the network between the proxy and itself.
 *
 * @example
 * import { verifyKeywardToken } from 'keyward/upstream'
 * const options = { jwksUrl: 'http://127.0.0.1:8080/.well-known/jwks.json', issuer: 'http://127.0.0.1:8080', audience: 'http://127.0.0.1:3000' }
 * const caller = await verifyKeywardToken(req.headers['x-keyward-token'], options)
 * console.log(caller.keyId, caller.scopes)
 * @throws TokenError `token_invalid` (missing, forged, wrong issuer/audience/type),
 * `token_expired`, `token_too_large`, `jwks_unavailable` (answer 503: the token was not checked);
 * KeywardError `invalid_options` for bad options
 */
export async function verifyKeywardToken(
  token: string | readonly string[] | undefined,
  options: KeywardTokenOptions,
): Promise<KeywardIdentity> {
  if (token === undefined || token === '')
    throw new TokenError(
      'token_invalid',
      'no X-Keyward-Token: the request did not come through keyward serve --upstream',
    )
  if (typeof token !== 'string')
    throw new TokenError('token_invalid', 'X-Keyward-Token was sent more than once')
  if (options === null || typeof options !== 'object')
    throw new KeywardError(
      'invalid_options',
      'verifyKeywardToken needs { jwksUrl or keys, issuer, audience }',
    )
  const t = await verifierFor(toVerifyOptions(options)).verify(token)
  return {
    keyId: t.keyId,
    scopes: t.scopes,
    ownerId: t.ownerId,
    tokenId: t.tokenId,
    expiresAt: t.expiresAt,
  }
}
