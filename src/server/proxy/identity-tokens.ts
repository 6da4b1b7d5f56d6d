// X-Keyward-Tokens for proxied requests, reused per key and upstream. Signing one costs about
// 90 µs (Ed25519 through jose; bench/proxy), more than forwarding the request itself, so a
// token is signed once and sent again for REUSE_MS: it then still has at least half of its
// 60 s lifetime left when it reaches the upstream. Its `jti` names the token, not the request.
// A key that changes (scopes, owner) gets a new token at once, and so does every key when the
// signing keys change (a rotation); a revoked key never reaches here, since authentication
// refuses it first.
import type { Clock } from '../../core/clock.js'
import type { VerifiedKey } from '../../core/verify-types.js'
import type { TokenSigner } from '../../tokens/signer.js'

/** How long a token is reused: half of the identity token's 60 s lifetime. */
export const REUSE_MS = 30_000
/** Entries kept at most; past it the map starts over (an attacker cannot grow it: keys are valid). */
const MAX_ENTRIES = 10_000

interface Entry {
  readonly token: Promise<string>
  /** The token once signed: a reused token is handed out without a promise. */
  value: string | null
  readonly until: number
  readonly scopes: readonly string[]
  readonly ownerId: string | null
}

export interface IdentityTokens {
  /**
   * A token for `key` and the upstream `audience`: a recent one (as a string, once signed), or
   * a new one (a promise).
   */
  tokenFor(key: VerifiedKey, audience: string): string | Promise<string>
}

export function identityTokens(signer: TokenSigner, clock: Clock): IdentityTokens {
  const entries = new Map<string, Entry>()
  // the same object until the signing keys change
  let keySet = signer.jwks()
  return {
    tokenFor(key, audience) {
      const current = signer.jwks()
      if (current !== keySet) {
        keySet = current
        entries.clear()
      }
      const id = `${key.id} ${audience}`
      const now = clock.now()
      const found = entries.get(id)
      // the verified key's scopes array is the same object while the cached key is unchanged
      if (
        found !== undefined &&
        found.until > now &&
        found.ownerId === key.ownerId &&
        (found.scopes === key.scopes || found.scopes.join(' ') === key.scopes.join(' '))
      )
        return found.value ?? found.token
      if (entries.size >= MAX_ENTRIES) entries.clear()
      const token = signer.issueIdentityToken({
        keyId: key.id,
        scopes: key.scopes,
        audience,
        ownerId: key.ownerId,
      })
      const entry: Entry = {
        token,
        value: null,
        until: now + REUSE_MS,
        scopes: key.scopes,
        ownerId: key.ownerId,
      }
      entries.set(id, entry)
      token.then(
        (value) => {
          entry.value = value
        },
        // a failed signature is not kept
        () => {
          if (entries.get(id) === entry) entries.delete(id)
        },
      )
      return token
    },
  }
}
