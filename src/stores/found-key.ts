import type { FoundKey, KeyRecord, SecretRecord } from '../core/types.js'

/** Picks a `FoundKey` out of full records (stores that hold whole records, and tests). */
export function foundKey(key: KeyRecord, secret: SecretRecord): FoundKey {
  return {
    key: {
      id: key.id,
      name: key.name,
      ownerId: key.ownerId,
      prefix: key.prefix,
      scopes: key.scopes,
      roles: key.roles,
      rateLimits: key.rateLimits,
      quota: key.quota,
      metadata: key.metadata,
      ipAllowlist: key.ipAllowlist,
      state: key.state,
      expiresAt: key.expiresAt,
    },
    secret: { expiresAt: secret.expiresAt },
  }
}
