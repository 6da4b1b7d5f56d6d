import type { SigningKeyRecord } from '../core/types.js'

/** The columns of `signing_keys`, in the order of `signingKeyParams`; both SQL stores use them. */
export const SIGNING_KEY_COLUMNS =
  'kid, alg, public_jwk, encrypted_private_key, created_at, activates_at, retired_at'

/** Insert parameters of a signing key, in `SIGNING_KEY_COLUMNS` order. */
export const signingKeyParams = (k: SigningKeyRecord): unknown[] => [
  k.kid,
  k.alg,
  k.publicJwk,
  k.encryptedPrivateKey,
  k.createdAt,
  k.activatesAt,
  k.retiredAt,
]
