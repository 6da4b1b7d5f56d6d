import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { KeywardError } from '../core/errors.js'
import { checkPepperSecret, type Pepper } from '../core/hash.js'

/**
 * The secrets that encrypt signing keys at rest, versioned like peppers. New keys are
 * encrypted with the newest signing secret (`KEYWARD_SIGNING_SECRET` / `_FILE`) when one is
 * given, else with a key derived from the newest pepper; a stored key decrypts with whichever
 * of them its envelope names, so a deployment can move from the pepper to a signing secret
 * by setting it and rotating the signing key.
 */
export interface SigningSecrets {
  signingSecrets?: readonly Pepper[]
  peppers?: readonly Pepper[]
}

/** Encrypts and decrypts private signing keys (AES-256-GCM, the kid as associated data). */
export interface KeyEncryption {
  /** What encrypts, for messages: `KEYWARD_SIGNING_SECRET v2` or `the pepper (v1)`. */
  readonly describe: string
  encrypt(kid: string, plaintext: Uint8Array): string
  /** @throws KeywardError `signing_secret_mismatch`, `store_corrupt` */
  decrypt(kid: string, envelope: string): Uint8Array
}

// Distinct HKDF labels: a key derived from the pepper for this job is unrelated to the
// pepper's use as the HMAC key of secrets, and to any other use of the same secret.
const SOURCES = {
  s: {
    name: 'KEYWARD_SIGNING_SECRET',
    noun: 'signing secret',
    label: 'keyward signing-key encryption v1 (signing secret)',
  },
  p: {
    name: 'pepper',
    noun: 'pepper',
    label: 'keyward signing-key encryption v1 (from the pepper)',
  },
} as const
type Letter = keyof typeof SOURCES
const VERSION = 'kw1'
const IV_BYTES = 12
const TAG_BYTES = 16
const ENVELOPE = /^kw1\.([sp])(\d{1,6})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]+)$/

function describeRef(letter: Letter, version: number): string {
  return letter === 's' ? `KEYWARD_SIGNING_SECRET v${version}` : `the pepper v${version}`
}

function deriveKeys(letter: Letter, secrets: readonly Pepper[]): Map<number, Buffer> {
  const { name, noun, label } = SOURCES[letter]
  const keys = new Map<number, Buffer>()
  for (const { version, secret } of secrets) {
    if (!Number.isInteger(version) || version < 1)
      throw new KeywardError(
        'invalid_options',
        `${name} version must be a positive integer, got ${version}`,
      )
    if (keys.has(version))
      throw new KeywardError(
        'invalid_options',
        `${name} v${version} is given twice: each version must appear once`,
      )
    checkPepperSecret(secret, `${name} v${version}`, noun)
    keys.set(version, Buffer.from(hkdfSync('sha256', secret, '', label, 32)))
  }
  return keys
}

/**
 * Builds the encryption of signing keys from the configured secrets.
 *
 * Envelope: `kw1.<s|p><version>.<iv>.<ciphertext+tag>` (base64url parts); the kid is
 * authenticated with it, so an envelope moved to another row does not decrypt.
 *
 * @example
 * const encryption = createKeyEncryption({ peppers: [{ version: 1, secret: process.env.KEYWARD_PEPPER! }] })
 * @throws KeywardError `invalid_options` for no secret at all, a weak one or a version given twice
 */
export function createKeyEncryption(input: SigningSecrets): KeyEncryption {
  const keys: Record<Letter, Map<number, Buffer>> = {
    s: deriveKeys('s', input.signingSecrets ?? []),
    p: deriveKeys('p', input.peppers ?? []),
  }
  const letter: Letter = keys.s.size > 0 ? 's' : 'p'
  if (keys[letter].size === 0)
    throw new KeywardError(
      'invalid_options',
      'nothing to encrypt signing keys with: set KEYWARD_SIGNING_SECRET (or KEYWARD_SIGNING_SECRET_FILE), or give the pepper',
    )
  const current = Math.max(...keys[letter].keys())
  const currentKey = keys[letter].get(current)!
  const configured = (['s', 'p'] as const)
    .flatMap((l) => [...keys[l].keys()].sort((a, b) => b - a).map((v) => describeRef(l, v)))
    .join(', ')

  const aad = (ref: string, kid: string) => Buffer.from(`${VERSION}.${ref}.${kid}`, 'utf8')

  return {
    describe: describeRef(letter, current),
    encrypt(kid, plaintext) {
      const ref = `${letter}${current}`
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv)
      cipher.setAAD(aad(ref, kid))
      const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
      return `${VERSION}.${ref}.${iv.toString('base64url')}.${body.toString('base64url')}`
    },
    decrypt(kid, envelope) {
      const m = ENVELOPE.exec(envelope)
      if (m === null)
        throw new KeywardError(
          'store_corrupt',
          `the stored private key of signing key ${kid} is not a keyward envelope: restore the signing keys from a backup, or rotate the key`,
        )
      const refLetter = m[1] as Letter
      const version = Number(m[2])
      const what = describeRef(refLetter, version)
      const key = keys[refLetter].get(version)
      if (key === undefined)
        throw new KeywardError(
          'signing_secret_mismatch',
          `signing key ${kid} is encrypted with ${what}, which is not configured here (configured: ${configured}): give every node the secret the key was encrypted with (docs/tokens.md, "Changing the secret")`,
        )
      const body = Buffer.from(m[4]!, 'base64url')
      try {
        if (body.length <= TAG_BYTES) throw new Error('too short')
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(m[3]!, 'base64url'))
        decipher.setAAD(aad(`${refLetter}${version}`, kid))
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
        return Buffer.concat([
          decipher.update(body.subarray(0, body.length - TAG_BYTES)),
          decipher.final(),
        ])
      } catch (cause) {
        throw new KeywardError(
          'signing_secret_mismatch',
          `signing key ${kid} does not decrypt with ${what}: this is not the secret it was encrypted with. Give every node the same ${SOURCES[refLetter].name} (docs/tokens.md, "Changing the secret")`,
          { cause },
        )
      }
    },
  }
}
