// keyward/tokens: signing keys, short-lived JWTs issued from API keys, the JWKS, and their
// verification (on jose).
export { type AcceptTokensOptions, acceptTokens, type CredentialVerifier } from './accept.js'
export { TokenError, type TokenErrorCode } from './errors.js'
export {
  createKeyEncryption,
  type KeyEncryption,
  type SigningSecrets,
} from './key-encryption.js'
export {
  ACCESS_TOKEN_TYPE,
  DEFAULT_ACCESS_TOKEN_LIFETIME_SEC,
  DEFAULT_ACTIVATION_DELAY_MS,
  DEFAULT_IDENTITY_TOKEN_LIFETIME_SEC,
  DEFAULT_MAX_TOKEN_BYTES,
  IDENTITY_TOKEN_TYPE,
  MAX_CLOCK_TOLERANCE_SEC,
  MAX_TOKEN_LIFETIME_SEC,
  PUBLICATION_AFTER_RETIREMENT_MS,
} from './limits.js'
export {
  type AccessTokenInput,
  createTokenSigner,
  type IdentityTokenInput,
  type IssuedAccessToken,
  type TokenSigner,
  type TokenSignerOptions,
} from './signer.js'
export {
  createRevocationList,
  type RevocationList,
  type RevocationListOptions,
} from './revocations.js'
export {
  type PublishedJwk,
  type PublishedJwks,
  type RotatedSigningKey,
  type RotateSigningKeyOptions,
  rotateSigningKey,
} from './signing-keys.js'
export {
  type KeywardIdentity,
  type KeywardTokenOptions,
  verifyKeywardToken,
} from './upstream.js'
export {
  createTokenVerifier,
  type TokenVerifier,
  type VerifiedToken,
  type VerifyTokenOptions,
  verifyAccessToken,
} from './verify.js'
