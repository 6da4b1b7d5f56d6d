import { KeywardError } from '../core/errors.js'
import { type Pepper, parsePeppers } from '../core/hash.js'
import type { SigningSecrets } from '../tokens/key-encryption.js'
import { readPepperFile } from './peppers.js'

/** Where the secret that encrypts token signing keys comes from. */
export type SigningSecretSource =
  | 'KEYWARD_SIGNING_SECRET'
  | 'KEYWARD_SIGNING_SECRET_FILE'
  | 'pepper'

/**
 * The signing secret from `KEYWARD_SIGNING_SECRET` or `KEYWARD_SIGNING_SECRET_FILE` (one of
 * them, never both; versioned like the pepper: `v2:new,v1:old`), or null when neither is set.
 * The file must be readable by its owner only.
 *
 * @throws KeywardError `invalid_options` naming the setting (never the secret)
 */
export function signingSecretFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): { secrets: Pepper[]; source: SigningSecretSource } | null {
  const inline = env.KEYWARD_SIGNING_SECRET
  const file = env.KEYWARD_SIGNING_SECRET_FILE
  if (inline !== undefined && file !== undefined)
    throw new KeywardError(
      'invalid_options',
      'both KEYWARD_SIGNING_SECRET and KEYWARD_SIGNING_SECRET_FILE are set: set only one of them',
    )
  if (inline !== undefined)
    return {
      secrets: parsePeppers(inline, 'KEYWARD_SIGNING_SECRET', 'signing secret'),
      source: 'KEYWARD_SIGNING_SECRET',
    }
  if (file !== undefined) {
    if (file.trim() === '')
      throw new KeywardError(
        'invalid_options',
        'KEYWARD_SIGNING_SECRET_FILE is set but empty: give a file path',
      )
    return {
      secrets: readPepperFile(file, 'KEYWARD_SIGNING_SECRET_FILE', 'signing secret'),
      source: 'KEYWARD_SIGNING_SECRET_FILE',
    }
  }
  return null
}

/**
 * What encrypts token signing keys: the signing secret when set, else a key derived from the
 * pepper; stored keys encrypted with the pepper stay readable after a signing secret is set.
 */
export function signingSecrets(
  fromEnv: { secrets: Pepper[] } | null,
  peppers: readonly Pepper[],
): SigningSecrets {
  return fromEnv === null ? { peppers } : { signingSecrets: fromEnv.secrets, peppers }
}
