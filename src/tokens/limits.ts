// The numbers every node and every verifier must agree on, in one place. They are constants,
// not options: a retired key's publication depends on them, and nodes sharing a database
// must publish the same keys.

/** The only signing algorithm: Ed25519 (RFC 8037). */
export const SIGNING_ALG = 'EdDSA'

/** `typ` of access tokens (RFC 9068). */
export const ACCESS_TOKEN_TYPE = 'at+jwt'

/**
 * `typ` of the proxy's `X-Keyward-Token`: not `at+jwt`, so that a verifier of either kind
 * refuses the other (RFC 8725 §3.11, explicit typing).
 */
export const IDENTITY_TOKEN_TYPE = 'keyward-identity+jwt'

/** Default lifetime of an access token (5 minutes). */
export const DEFAULT_ACCESS_TOKEN_LIFETIME_SEC = 300

/** Lifetime of an `X-Keyward-Token`: it covers one proxied request. */
export const DEFAULT_IDENTITY_TOKEN_LIFETIME_SEC = 60

/** No token lives longer than this; lifetimes above it are refused when configured. */
export const MAX_TOKEN_LIFETIME_SEC = 3600

/** The largest clock tolerance a verifier may allow. */
export const MAX_CLOCK_TOLERANCE_SEC = 60

/** The longest interval between two reloads of the signing keys by a node. */
export const MAX_RELOAD_INTERVAL_MS = 60_000

/**
 * How long a retired key stays in the JWKS: its last token may have been signed up to one
 * reload interval after the retirement (a node that had not reloaded yet), lives at most
 * `MAX_TOKEN_LIFETIME_SEC`, and is accepted up to `MAX_CLOCK_TOLERANCE_SEC` past its expiry.
 * 62 minutes.
 */
export const PUBLICATION_AFTER_RETIREMENT_MS =
  MAX_RELOAD_INTERVAL_MS + (MAX_TOKEN_LIFETIME_SEC + MAX_CLOCK_TOLERANCE_SEC) * 1000

/**
 * How long a new key is published before it signs (rotation default): longer than the
 * reload interval of the nodes (10 s by default) and than the JWKS refresh cooldown of
 * verifiers (30 s by default), so that no verifier meets a kid it cannot fetch yet.
 */
export const DEFAULT_ACTIVATION_DELAY_MS = 60_000

/** Default interval between reloads of the signing keys. */
export const DEFAULT_RELOAD_INTERVAL_MS = 10_000

/** Tokens longer than this are refused before parsing (`token_too_large`, HTTP 413). */
export const DEFAULT_MAX_TOKEN_BYTES = 8192
